"""The FastAPI app: `create_app(store_url, token=None)`. Routes live in small modules; SQL lives in the store."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response

from . import routes_item, routes_overview, routes_search
from .security import guard
from .stores import StorePool
from .view import register_filters

_CSS = files(__package__).joinpath("static", "style.css")


def create_app(store_url: str, token: str | None = None) -> FastAPI:
    """A web app over one case. With a token, every request must carry it (header, cookie, or a ?token= link)."""
    pool = StorePool(str(store_url))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(title="leaksift", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    env = Environment(loader=FileSystemLoader(str(files(__package__).joinpath("templates"))), autoescape=True)
    templates = Jinja2Templates(env=env)
    register_filters(templates.env)
    app.state.stores = pool
    app.state.templates = templates
    app.middleware("http")(guard(token))
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
