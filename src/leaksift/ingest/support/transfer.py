"""Content-Transfer-Encoding decoding (base64, quoted-printable) as a stream of chunks.

Bodies are decoded chunk by chunk, never whole; ChunkStream makes such chunks a readable
stream for Context.blob_from_stream.
"""

from __future__ import annotations

import binascii
import io
import mmap
import re
from typing import Any, Iterator, Union

from ..base import MiB

Buf = Union[bytes, mmap.mmap]  # raw bytes in memory or a read-only map of a file
CHUNK = 1 * MiB

B64_KEEP = re.compile(rb"[^A-Za-z0-9+/=]+")
B64_PAD = re.compile(rb"=+")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\s]")


class DecodeError(ValueError):
    """Transfer-encoded data that cannot be decoded."""


def b64_segment(seg: bytes) -> bytes:
    """One run of base64 characters ended by padding or by the data's end."""
    if len(seg) % 4 == 1:
        raise DecodeError("base64 data has a dangling character")
    try:
        return binascii.a2b_base64(seg + b"=" * (-len(seg) % 4))
    except binascii.Error as e:
        raise DecodeError(f"base64: {e}") from e


def _raw_chunks(buf: Buf, start: int, end: int) -> Iterator[bytes]:
    for pos in range(start, end, CHUNK):
        yield buf[pos:min(pos + CHUNK, end)]


def _b64_chunks(raw: Iterator[bytes], warnings: list[str]) -> Iterator[bytes]:
    carry = b""
    for chunk in raw:
        if not warnings and _B64_JUNK.search(chunk):
            warnings.append("non-base64 characters ignored")
        *done, last = B64_PAD.split(carry + B64_KEEP.sub(b"", chunk))
        for seg in done:  # runs closed by padding: concatenated base64 blocks decode one by one
            yield b64_segment(seg)
        n = len(last) - len(last) % 4
        if n:
            yield b64_segment(last[:n])
        carry = last[n:]
    if carry:
        yield b64_segment(carry)


def _qp_chunks(raw: Iterator[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in raw:
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > 2 * CHUNK:  # one endless line: cut where no =XX is split
            tail = data[-3:]
            cut = len(data) - 3 + tail.index(b"=") if b"=" in tail else len(data)
        if cut:
            yield binascii.a2b_qp(data[:cut])
        carry = data[cut:]
    if carry:
        yield binascii.a2b_qp(carry)


def decoded_chunks(buf: Buf, start: int, end: int, cte: str, warnings: list[str]) -> Iterator[bytes]:
    """buf[start:end] decoded as `cte` says; an unknown encoding is kept as is (with a warning)."""
    raw = _raw_chunks(buf, start, end)
    if cte == "base64":
        return _b64_chunks(raw, warnings)
    if cte == "quoted-printable":
        return _qp_chunks(raw)
    if cte not in ("", "7bit", "8bit", "binary"):
        warnings.append(f"unknown transfer encoding {cte[:40]!r} kept as is")
    return raw


class ChunkStream(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks (for Context.blob_from_stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        parts = [self._pending] if self._pending else []
        total = len(self._pending)
        self._pending = b""
        while size is None or size < 0 or total < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            total += len(chunk)
        data = b"".join(parts)
        if size is not None and 0 <= size < len(data):
            data, self._pending = data[:size], data[size:]
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)
