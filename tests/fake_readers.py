"""Readers that misbehave on purpose: one kills its process, one announces more children than it holds."""

from __future__ import annotations

import ctypes
import gc
import multiprocessing.connection
import multiprocessing.synchronize
import os
import time
from typing import Iterator

from leaksift.ingest.base import Blob, BytesBlob, Child, Context, IngestError
from leaksift.ingest.registry import Registry, default_registry


class CrashingReader:
    name = "crash"
    mimes = frozenset({"text/plain"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        if blob.head(5) == b"CRASH":
            # A real null read, as a native bug does: a sent SIGSEGV can be handled in a worker a Dask nanny restarted.
            ctypes.string_at(0)
        if blob.head(5) == b"HOLD!":
            _die_holding_all()
        if blob.head(5) == b"HANG!":
            time.sleep(600)  # a hung native parser, as far as the scan can tell
        if blob.head(5) == b"STALL":
            _stall_sends(3.0)
        if blob.head(5) == b"SLEEP":
            time.sleep(2.5)
        if blob.head(5) == b"RAISE":
            raise SystemExit(3)  # not an Exception: escapes the engine's net, as a bug would
        ctx.out.add_text(blob.read_all(1 << 20).decode("utf-8", "replace"), 10_000)
        return iter(())


def _die_holding_all() -> None:
    """Die as badly as a process can for the others: every lock it can reach taken, every pipe it can write to
    left with half a message, then a native crash."""
    for obj in gc.get_objects():
        if isinstance(obj, multiprocessing.synchronize.SemLock):
            obj.acquire(False)
        elif isinstance(obj, multiprocessing.connection.Connection) and not obj.closed and obj.writable:
            os.write(obj.fileno(), (1 << 16).to_bytes(4, "big") + b"half a message")
    ctypes.string_at(0)


class _SlowPipe:
    """A pipe whose sends wait until a given time, as a writer busy committing leaves them waiting."""

    def __init__(self, conn: multiprocessing.connection.Connection, until: float) -> None:
        self.conn, self.until = conn, until

    def send_bytes(self, data: bytes) -> None:
        time.sleep(max(0.0, self.until - time.monotonic()))
        self.conn.send_bytes(data)


def _stall_sends(seconds: float) -> None:
    """Hold back what this worker sends for a while: the messages of the sources it reads meanwhile wait in its
    sender, and die with it if it crashes."""
    from leaksift.scan import _Sender

    for obj in gc.get_objects():
        if isinstance(obj, _Sender):
            obj.conn = _SlowPipe(obj.conn, time.monotonic() + seconds)


def crashy_registry() -> Registry:
    reg = default_registry()
    reg.by_mime["text/plain"] = CrashingReader()
    return reg


class LyingContainer:
    """Announces five children, yields two good and one failed, then stops: two are unaccounted for."""

    name = "lying"
    mimes = frozenset({"text/csv"})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        ctx.out.children_expected = 5
        yield Child("one.txt", BytesBlob(b"first child"))
        yield Child("two.txt", BytesBlob(b"second child"))
        yield Child("three.bin", None, error=IngestError("corrupt", "bad bytes"), size=10)


def lying_registry() -> Registry:
    reg = default_registry()
    reg.by_mime["text/csv"] = LyingContainer()
    return reg
