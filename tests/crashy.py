"""A registry with a reader that kills its own process, to test that a native crash costs one source."""

from __future__ import annotations

import os
import signal
from typing import Iterator

from leaksift.ingest.base import Blob, Child, Context
from leaksift.ingest.registry import Registry, default_registry


class CrashingReader:
    name = "crash"
    mimes = frozenset({"text/plain"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        if blob.head(5) == b"CRASH":
            os.kill(os.getpid(), signal.SIGSEGV)
        if blob.head(5) == b"RAISE":
            raise SystemExit(3)  # not an Exception: escapes the engine's net, as a bug would
        ctx.out.add_text(blob.read_all(1 << 20).decode("utf-8", "replace"), 10_000)
        return iter(())


def crashy_registry() -> Registry:
    reg = default_registry()
    reg.by_mime["text/plain"] = CrashingReader()
    return reg
