"""Response headers that keep hostile content from calling home, and the access token for non-loopback binds."""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every page: nothing from outside the app, no scripts at all, frames only from the app, framed only by the app.
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; font-src 'self'; frame-src 'self'; "
       "child-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
# A sanitised message body: its own opaque origin (no scripts, no forms, no same-origin), inline images only.
BODY_CSP = ("sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
TOKEN_COOKIE = "leaksift_token"
TOKEN_HEADER = "x-leaksift-token"


def _secure(headers: MutableHeaders) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "SAMEORIGIN"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")


def secure_headers(response: Response) -> Response:
    _secure(response.headers)
    return response


def _given_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """Middleware: the security headers on everything; with a token, refuse whoever does not present it. Plain ASGI
    (headers added to the response's start message): Starlette's BaseHTTPMiddleware would stream every response
    through a task group and a memory channel, a measurable share of a search's CPU under load."""

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None:
            request = Request(scope)
            if not _same(_given_token(request), self.token):
                await self._refusal(request, self.token)(scope, receive, send)
                return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # optional in ASGI
                _secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_secure)

    @staticmethod
    def _refusal(request: Request, token: str) -> Response:
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
