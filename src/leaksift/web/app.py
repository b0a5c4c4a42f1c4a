"""The FastAPI app: `create_app(store_url, token=None)`. Routes live in small modules; SQL lives in the store."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response

from . import routes_item, routes_overview, routes_search
from .security import Guard
from .stores import StorePool
from .view import register_filters

_CSS = files(__package__).joinpath("static", "style.css")
# Threads running the (sync) routes at once, per process. SQLite works outside the GIL, so two a core keep the
# cores busy; anyio's default of 40 only makes them fight over the GIL, and the unlucky requests starve (50
# concurrent searches: p95 twice the p50 with 40 threads, a fifth over it with 4, and more searches a second).
ROUTE_THREADS = 2 * (os.cpu_count() or 2)


def create_app(store_url: str, token: str | None = None) -> FastAPI:
    """A web app over one case. With a token, every request must carry it (header, cookie, or a ?token= link)."""
    pool = StorePool(str(store_url))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = ROUTE_THREADS
        yield
        pool.close()

    app = FastAPI(title="leaksift", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    # Templates ship with the package: no stat() of the file on every page to see whether it changed.
    env = Environment(loader=FileSystemLoader(str(files(__package__).joinpath("templates"))), autoescape=True,
                      auto_reload=False)
    templates = Jinja2Templates(env=env)
    register_filters(templates.env)
    app.state.stores = pool
    app.state.templates = templates
    app.add_middleware(Guard, token=token)
    css = _CSS.read_bytes()

    @app.get("/static/style.css", include_in_schema=False)
    def style() -> Response:
        # One fixed file shipped with the package: no request path ever reaches the file system.
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    for module in (routes_overview, routes_search, routes_item):
        app.include_router(module.router)
    return app


# `leaksift serve --workers N` (N > 1) hands uvicorn an import string: each worker process builds its own app from
# these, so the case and the token reach every worker the same way.
ENV_DB = "LEAKSIFT_SERVE_DB"
ENV_TOKEN = "LEAKSIFT_SERVE_TOKEN"


def app_from_env() -> FastAPI:
    """The uvicorn factory for several worker processes."""
    return create_app(os.environ[ENV_DB], token=os.environ.get(ENV_TOKEN) or None)
