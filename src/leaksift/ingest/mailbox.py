"""Reader for Unix mailboxes (mbox): one child per message, read as a stream.

A message starts after a `From ` separator line that opens the file or follows
an empty line. Each message is handed on exactly as the mbox holds it, less
the separator and the one empty line mbox writes before the next separator;
`>From ` escapes stay as they are (a later check must know they are there).
The file is read line by line and each message goes through
Context.blob_from_stream, which spills one too large for memory to the case
tmp dir: a mailbox of any size is read with bounded memory.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterator

from . import sniff
from .base import BOMB, Blob, Child, Context, IngestError
from .support.headers import clean
from .support.transfer import ChunkStream

LINE_CAP = 64 * 1024  # a longer line is read in pieces of this size
MAX_FROM_LINE = 1000  # characters of a separator line kept in metadata
# After an empty line, "From " opens a message only on a line that carries a date (a digit):
# a body sentence such as "From now on ..." in an mbox written without escaping stays in its message.
_SEPARATOR = re.compile(rb"From \S*[ \t][^\r\n]*\d")
_ESCAPED = re.compile(rb">+From ")
_BLANK = (b"\n", b"\r\n")


class _Splitter:
    """Cuts a mailbox stream into messages, one line (or piece of a long line) at a time."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._at_line_start = True
        self._back: tuple[bytes, bool] | None = None
        self.next_from: bytes | None = None  # separator line of the message after the current one
        self.escaped = self.crlf = self.lf = False
        self.size = 0
        self._prev_cr = False

    def piece(self) -> tuple[bytes, bool] | None:
        """The next line or piece of a line, and whether it starts a line; None at the end."""
        if self._back is not None:
            item, self._back = self._back, None
            return item
        data = self._fh.readline(LINE_CAP)
        if not data:
            return None
        start = self._at_line_start
        self._at_line_start = data.endswith(b"\n")
        return data, start

    def push_back(self, item: tuple[bytes, bool]) -> None:
        self._back = item

    def whole_line(self, first: bytes) -> bytes:
        """A line whose first piece is `first`; what lies past LINE_CAP is dropped."""
        line = first
        while not line.endswith(b"\n"):
            item = self.piece()
            if item is None:
                break
            if item[1]:  # a new line already: put it back
                self.push_back(item)
                break
            if len(line) < LINE_CAP:
                line += item[0][:LINE_CAP - len(line)]
        return line

    def message(self) -> Iterator[bytes]:
        """The bytes of the current message; stops at the next separator (kept in next_from)."""
        self.escaped = self.crlf = self.lf = self._prev_cr = False
        self.size = 0
        self.next_from = None
        blank: bytes | None = None  # an empty line held back: it may be the one before a separator
        while (item := self.piece()) is not None:
            data, start = item
            if start and blank is not None and data.startswith(b"From ") and _SEPARATOR.match(data):
                self.next_from = self.whole_line(data)
                return
            if blank is not None:
                self._note(blank, True)
                yield blank
                blank = None
            if start and data in _BLANK:
                blank = data
                continue
            self._note(data, start)
            yield data
        # The end of the file: the empty line mbox writes after the last message is dropped too.

    def _note(self, data: bytes, start: bool) -> None:
        self.size += len(data)
        if start and data[:1] == b">" and _ESCAPED.match(data):
            self.escaped = True
        if b"\n" in data:
            self.lf = True
            if b"\r\n" in data or (self._prev_cr and data[:1] == b"\n"):
                self.crlf = True
        self._prev_cr = data.endswith(b"\r")


def _from_text(line: bytes | None) -> str | None:
    if line is None:
        return None
    return clean(line.rstrip(b"\r\n").decode("utf-8", "replace"))[:MAX_FROM_LINE]


def _read_one(sp: _Splitter, ctx: Context, number: int, from_line: bytes | None) -> Child:
    meta = {"mbox_from_line": _from_text(from_line)}
    chunks = sp.message()
    try:
        blob: Blob | None = ctx.blob_from_stream(ChunkStream(chunks))
        error = None
    except IngestError as e:
        if e.reason == BOMB:  # the whole source's budget is spent: later messages would fail too
            raise
        for _ in chunks:  # skip the rest of this message to reach the next separator
            pass
        blob, error = None, e
    transforms = []
    if sp.escaped:
        transforms.append("mbox_from_escaped")
    if sp.lf and not sp.crlf:
        transforms.append("lf_line_endings")
    return Child(name=str(number), blob=blob, error=error, size=sp.size if error else None, kind="email",
                 transforms=transforms, metadata=meta)


class MboxReader:
    """application/mbox: every message is a child named by its 1-based number."""

    name = "mbox"
    mimes = frozenset({sniff.MBOX})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with blob.open() as fh:
            sp = _Splitter(fh)
            first = sp.piece()
            if first is None:
                ctx.out.children_expected = 0
                return
            from_line: bytes | None = None
            if first[0].startswith(b"From "):
                from_line = sp.whole_line(first[0])
            else:  # no separator first: what precedes the first one is still a message
                sp.push_back(first)
                ctx.out.metadata["mbox_missing_first_separator"] = True
            number = 0
            while True:
                number += 1
                yield _read_one(sp, ctx, number, from_line)
                if sp.next_from is None:
                    break
                from_line = sp.next_from
            ctx.out.children_expected = number


READERS: list[type] = [MboxReader]
