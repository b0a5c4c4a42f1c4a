"""A tiny tokenizer of PDF syntax, for the trailer and xref-stream dictionaries the revision parser reads.

Bounded in tokens and nesting; it never recurses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

MAX_TOKENS = 100_000  # tokens in one dictionary we parse ourselves
MAX_DEPTH = 64  # nesting of arrays/dicts in one dictionary we parse ourselves


@dataclass(frozen=True)
class Ref:
    num: int
    gen: int

    def __str__(self) -> str:
        return f"{self.num} {self.gen} R"


class Keyword(str):
    """A bare PDF keyword (obj, stream, R, true ...), told apart from names and strings."""


_WS = b"\x00\t\n\x0c\r "
_DELIMS = b"()<>[]{}/%"
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)$")
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f",
            ord("("): b"(", ord(")"): b")", ord("\\"): b"\\"}


def skip_ws(buf: bytes, pos: int) -> int:
    """Skip white space and comments."""
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c in _WS:
            pos += 1
        elif c == 0x25:  # % comment to end of line
            while pos < n and buf[pos] not in b"\r\n":
                pos += 1
        else:
            break
    return pos


def _literal_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """A (literal) string starting after its opening parenthesis; balanced parentheses nest."""
    out = bytearray()
    depth = 1
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c == 0x5C and pos + 1 < n:  # backslash
            nxt = buf[pos + 1]
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt]
                pos += 2
            elif 0x30 <= nxt <= 0x37:
                m = re.match(rb"[0-7]{1,3}", buf[pos + 1:pos + 4])
                out.append(int(m.group(), 8) & 0xFF)  # type: ignore[union-attr]
                pos += 1 + len(m.group())  # type: ignore[union-attr]
            elif nxt in b"\r\n":  # line continuation
                pos += 2 + (nxt == 0x0D and pos + 2 < n and buf[pos + 2] == 0x0A)
            else:
                out.append(nxt)
                pos += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), pos + 1
        out.append(c)
        pos += 1
    raise ValueError("unterminated string")


def _name(raw: bytes) -> str:
    """A name token with its #xx escapes decoded, kept with its leading slash."""
    raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    return "/" + raw.decode("latin-1")


def _tokens(buf: bytes, pos: int) -> Iterator[tuple[Any, int]]:
    """(token, end) pairs: delimiters as str, names as str with '/', strings as bytes, numbers, Keywords."""
    n = len(buf)
    while True:
        pos = skip_ws(buf, pos)
        if pos >= n:
            return
        c = buf[pos:pos + 1]
        two = buf[pos:pos + 2]
        if two in (b"<<", b">>"):
            pos += 2
            yield two.decode(), pos
        elif c in (b"[", b"]", b"{", b"}"):
            pos += 1
            yield c.decode(), pos
        elif c == b"/":
            m = _REGULAR.match(buf, pos + 1)
            pos = m.end()  # type: ignore[union-attr]
            yield _name(m.group()), pos  # type: ignore[union-attr]
        elif c == b"(":
            s, pos = _literal_string(buf, pos + 1)
            yield s, pos
        elif c == b"<":
            end = buf.find(b">", pos)
            if end < 0:
                raise ValueError("unterminated hex string")
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", buf[pos + 1:end])
            if len(digits) % 2:
                digits += b"0"
            pos = end + 1
            yield bytes.fromhex(digits.decode()), pos
        elif c in (b")", b">"):
            raise ValueError(f"unexpected {c!r} at {pos}")
        else:
            m = _REGULAR.match(buf, pos)
            word = m.group()  # type: ignore[union-attr]
            pos = m.end()  # type: ignore[union-attr]
            if not word:
                raise ValueError(f"unexpected byte {c!r} at {pos}")
            if _NUMBER.match(word):
                yield (float(word) if b"." in word else int(word)), pos
            else:
                yield Keyword(word.decode("latin-1")), pos


def parse_dict(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """The dictionary starting at buf[pos] ('<<'), without recursion; returns it and its end.

    Keys keep their slash ('/Prev'); references become Ref; strings stay bytes.
    """
    stack: list[tuple[str, list[Any]]] = []
    count = 0
    for tok, end in _tokens(buf, pos):
        count += 1
        if count > MAX_TOKENS:
            raise ValueError("dictionary too long")
        if not stack and tok != "<<":
            raise ValueError(f"no dictionary at {pos}")
        if tok in ("<<", "["):
            if len(stack) >= MAX_DEPTH:
                raise ValueError("dictionary nested too deep")
            stack.append((tok, []))
            continue
        if tok in (">>", "]"):
            kind, items = stack.pop()
            if (kind, tok) not in (("<<", ">>"), ("[", "]")):
                raise ValueError(f"unbalanced {tok} at {end}")
            value: Any = _pairs(items) if kind == "<<" else items
            if not stack:
                return value, end
            stack[-1][1].append(value)
            continue
        if isinstance(tok, Keyword):
            if tok == "R":
                items = stack[-1][1]
                if len(items) >= 2 and type(items[-1]) is int and type(items[-2]) is int:
                    gen = items.pop()
                    items.append(Ref(items.pop(), gen))
                    continue
            tok = {"true": True, "false": False, "null": None}.get(tok, tok)
            if tok in ("stream", "endobj", "obj", "trailer", "xref", "startxref"):
                raise ValueError(f"unexpected keyword {tok} in a dictionary")
        stack[-1][1].append(tok)
    raise ValueError("dictionary not closed in the window read")


def _pairs(items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(items) - 1, 2):
        key = items[i]
        if isinstance(key, str) and key.startswith("/") and not isinstance(key, Keyword):
            out[key] = items[i + 1]
    return out
