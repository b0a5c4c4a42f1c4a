"""Template helpers shared by the routes: rendering, escaped snippets with highlights, plain formatting."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from ..store import CaseStore

_MARK = re.compile("\x02(.*?)\x03", re.S)


def store_of(request: Request) -> CaseStore:
    return request.app.state.stores.get()


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


def highlight(snippet: str | None) -> Markup:
    """Escape the store's snippet first, then turn its match markers into <mark>; stray markers are dropped."""
    text = str(escape(snippet or ""))
    text = _MARK.sub(lambda m: f"<mark>{m.group(1)}</mark>", text)
    return Markup(text.replace("\x02", "").replace("\x03", ""))


def size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def person(display: str | None, addr: str | None = None) -> str:
    """The name part of a From header ("Name <addr>" to "Name"), else the address."""
    name = (display or "").split("<", 1)[0].strip().strip('"').strip()
    return name or addr or display or ""


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from the current filters with some changed; empty values left out."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def register_filters(env: Environment) -> None:
    env.filters.update(highlight=highlight, size=size, pretty=pretty, person=person)
    env.globals.update(query=query)
