"""The contract between the ingest engine and the readers of each format.

A reader gets a Blob (the bytes of one item) and a Context. It fills `ctx.out`
(text, metadata, email fields) and yields a Child for every item it holds.
It raises IngestError when the item itself cannot be read; whatever it yielded
before stays. Readers never write files and never touch the network.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Iterator, Protocol

from ..model import EmailFields

MiB = 1024 * 1024
GiB = 1024 * MiB


class IngestError(Exception):
    """An item that could not be read; `reason` is a short code counted in summaries."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# Reasons used across readers, so summaries group them.
ENCRYPTED = "encrypted"
CORRUPT = "corrupt"
TRUNCATED = "truncated"
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
BOMB = "bomb"
XML_ENTITIES = "xml_entities"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Limits:
    """Caps that turn hostile input into a recorded error instead of a crash."""

    max_depth: int = 12  # nesting of containers (archive in mailbox in archive ...)
    max_mime_depth: int = 50  # multipart nesting inside one message
    max_mime_parts: int = 10_000
    max_children: int = 2_000_000  # per container
    memory_member_bytes: int = 64 * MiB  # larger extracted members spill to the case tmp dir
    max_member_bytes: int = 8 * GiB  # one extracted member
    max_ratio: int = 200  # compression ratio above which a member is a bomb ...
    ratio_min_bytes: int = 4 * MiB  # ... once it has expanded past this size
    expansion_floor: int = 4 * GiB  # a source may expand to max(floor, max_ratio * its size)
    max_text_chars: int = 2_000_000
    max_xml_bytes: int = 64 * MiB  # one XML part of an office file
    max_pdf_text_pages: int = 2_000
    max_raw_email_bytes: int = 64 * MiB  # larger messages keep no raw copy in the store
    source_seconds: float = 900.0  # one top-level file, plus a second a MiB: a hung native parser is killed


@dataclass
class Parsed:
    """What a reader learnt about the item itself."""

    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    email: EmailFields | None = None
    transforms: list[str] = field(default_factory=list)
    children_expected: int | None = None  # what the container announces (entries, messages)
    kind: str | None = None  # a reader may say "email" or "archive" where the MIME type does not

    def add_text(self, text: str, limit: int) -> None:
        cur = self.text or ""
        if len(cur) >= limit:
            return
        self.text = (cur + ("\n" if cur else "") + text)[:limit]


class Blob:
    """The bytes of one item: on disk, in memory, or spilled to the case tmp dir."""

    size: int
    path: Path | None = None  # set for files of the dump itself

    def open(self) -> BinaryIO:
        raise NotImplementedError

    def head(self, n: int = 8192) -> bytes:
        with self.open() as f:
            return f.read(n)

    def read_all(self, limit: int) -> bytes:
        if self.size > limit:
            raise IngestError(TOO_LARGE, f"{self.size} bytes, limit {limit}")
        with self.open() as f:
            return f.read()

    def close(self) -> None:
        pass


class FileBlob(Blob):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size

    def open(self) -> BinaryIO:
        return open(self.path, "rb")


class BytesBlob(Blob):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def head(self, n: int = 8192) -> bytes:
        return self.data[:n]

    def read_all(self, limit: int) -> bytes:
        if self.size > limit:
            raise IngestError(TOO_LARGE, f"{self.size} bytes, limit {limit}")
        return self.data


class SpooledBlob(Blob):
    """A large extracted member kept in an anonymous file inside the case directory."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh = fh
        self.size = size

    def open(self) -> BinaryIO:
        # An independent position on the same anonymous file, so readers may close it.
        return io.BufferedReader(_Reopen(self._fh), 1 * MiB)  # type: ignore[return-value]

    def close(self) -> None:
        self._fh.close()


class _Reopen(io.RawIOBase):
    """An independent read position over a shared anonymous file."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fd = fh.fileno()
        self._pos = 0
        self._size = os.fstat(self._fd).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd  # lets a reader memory-map a spilled member

    def readinto(self, b: Any) -> int:
        data = os.pread(self._fd, len(b), self._pos)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


@dataclass
class Budget:
    """Bytes a whole top-level source may still expand to (stops nested bombs)."""

    remaining: int

    def spend(self, n: int) -> None:
        self.remaining -= n
        if self.remaining < 0:
            raise IngestError(BOMB, "expansion budget of this source exhausted")


@dataclass
class Context:
    limits: Limits
    out: Parsed
    budget: Budget
    tmp_dir: Path | None = None  # inside the case directory; None: keep everything in memory
    depth: int = 0
    name: str = ""  # the item's own name in its container, for readers that need a hint

    def blob_from_stream(self, stream: BinaryIO, declared_size: int | None = None,
                         compressed_size: int | None = None) -> Blob:
        """Copy a member out of its container with size, ratio and budget caps."""
        lim = self.limits
        buf = io.BytesIO()
        spool: BinaryIO | None = None
        total = 0
        while True:
            chunk = stream.read(1 * MiB)
            if not chunk:
                break
            total += len(chunk)
            self.budget.spend(len(chunk))
            if total > lim.max_member_bytes:
                raise IngestError(TOO_LARGE, f"member over {lim.max_member_bytes} bytes")
            if (compressed_size and total > lim.ratio_min_bytes
                    and total > lim.max_ratio * max(compressed_size, 1)):
                raise IngestError(BOMB, f"expands over {lim.max_ratio}x ({compressed_size} compressed bytes)")
            if spool is None and total > lim.memory_member_bytes:
                if self.tmp_dir is None:
                    raise IngestError(TOO_LARGE, f"member over {lim.memory_member_bytes} bytes and no tmp dir")
                self.tmp_dir.mkdir(parents=True, exist_ok=True)
                spool = tempfile.TemporaryFile(dir=self.tmp_dir)
                spool.write(buf.getvalue())
                buf = io.BytesIO()
            if spool is not None:
                spool.write(chunk)
            else:
                buf.write(chunk)
        if spool is not None:
            spool.flush()
            return SpooledBlob(spool, total)
        return BytesBlob(buf.getvalue())


@dataclass
class Child:
    """One item inside a container, as the container presents it."""

    name: str  # path component: member path, attachment file name, message number
    blob: Blob | None = None  # None when the child could not be read at all
    error: IngestError | None = None
    size: int | None = None  # announced size, for children that failed
    kind: str | None = None  # "email" where the container says so (mbox, pst, message/rfc822)
    transforms: list[str] = field(default_factory=list)  # what the container did to the bytes
    metadata: dict[str, Any] = field(default_factory=dict)  # what the container says of it


class Reader(Protocol):
    """A reader of one format family; registered by MIME type."""

    name: ClassVar[str]
    mimes: ClassVar[frozenset[str]]
    container: ClassVar[bool]

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]: ...


def sha256_of(blob: Blob) -> str:
    if isinstance(blob, BytesBlob):
        return hashlib.sha256(blob.data).hexdigest()
    h = hashlib.sha256()
    with blob.open() as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()
