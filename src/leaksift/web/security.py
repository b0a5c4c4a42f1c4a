"""Response headers that keep hostile content from calling home, and the access token for non-loopback binds."""

from __future__ import annotations

import hmac
from typing import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

# Every page: nothing from outside the app, no scripts at all, frames only from the app, framed only by the app.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; font-src 'self'; frame-src 'self'; "
       "child-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
# A sanitised message body: its own opaque origin (no scripts, no forms, no same-origin), inline images only.
BODY_CSP = ("sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
TOKEN_COOKIE = "leaksift_token"
TOKEN_HEADER = "x-leaksift-token"

Next = Callable[[Request], Awaitable[Response]]


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _given_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def guard(token: str | None) -> Callable[[Request, Next], Awaitable[Response]]:
    """Middleware: the security headers on everything; with a token, refuse whoever does not present it."""

    async def middleware(request: Request, call_next: Next) -> Response:
        if token is not None and not _same(_given_token(request), token):
            link = request.query_params.get("token")
            if _same(link, token):
                # A ?token= link: set the cookie and drop the token from the address bar and history.
                rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                target = request.url.path + (f"?{rest}" if rest else "")
                resp: Response = RedirectResponse(target, status_code=303)
                resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return secure_headers(resp)
            return secure_headers(PlainTextResponse("a token is needed: open the link `leaksift serve` printed",
                                                    status_code=401))
        return secure_headers(await call_next(request))

    return middleware
