"""The local web app: browse, search and read a case (`leaksift serve`). Everything shown comes from the dump and
is hostile: pages are escaped templates, HTML bodies are sanitised and sandboxed, nothing loads from outside."""

from .app import create_app

__all__ = ["create_app"]
