"""RTF to text: a flat state machine over RTF tokens, fed in chunks, that never recurses.

Besides the document text it collects the \\info group (title, author, dates, counters) and the
\\userprops custom properties. Text marked \\htmlrtf (the RTF-only rendering around HTML that
Outlook encapsulates in RTF) is left out.
"""

from __future__ import annotations

import codecs
import re
from typing import Any, NamedTuple

from .meta import MAX_META, MAX_VALUE, cap

MAX_GROUPS = 1000  # group nesting tracked; deeper groups share their parent's state
MAX_INPUT = 20_000_000  # bytes of one RTF document converted by rtf_to_text


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word with optional parameter
    rb"|\\'([0-9a-fA-F]{2})"  # a byte in the document's code page
    rb"|\\([^a-zA-Z'])"  # control symbol
    rb"|([{}])"
    rb"|([^\\{}\r\n]+)"  # plain text
    rb"|[\r\n]+", re.S)
_SKIP = frozenset({
    "fonttbl", "colortbl", "stylesheet", "pict", "object", "objdata", "listtable", "listoverridetable",
    "revtbl", "rsidtbl", "xmlnstbl", "themedata", "colorschememapping", "datastore", "latentstyles",
    "fldinst", "filetbl", "mmathPr", "pgdsctbl", "listpicture", "protusertbl", "bkmkstart", "bkmkend",
    "shpinst", "nonshppict", "blipuid", "panose", "falt", "wgrffmtfilter", "pnseclvl", "listtext",
    "pntext", "defchp", "defpap", "passwordhash", "xe", "tc", "template", "docvar"})
_INFO_TEXT = frozenset({"title", "subject", "author", "manager", "company", "operator", "category",
                            "keywords", "comment", "doccomm", "hlinkbase", "generator"})
_TIMES = frozenset({"creatim", "revtim", "printim", "buptim"})
_INFO_NUMBERS = frozenset({"version", "vern", "edmins", "nofpages", "nofwords", "nofchars",
                               "nofcharsws", "id"})
_CHARS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "tab": "\t", "cell": "\t",
              "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018",
              "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d", "emspace": " ", "enspace": " "}
_SYMBOLS = {b"~": "\u00a0", b"_": "\u2011", b"-": "", b"\\": "\\", b"{": "{", b"}": "}", b"\n": "\n",
                b"\r": "\n", b"\t": "\t"}
_CHARSETS = {"ansi": "cp1252", "mac": "mac_roman", "pc": "cp437", "pca": "cp850"}
# every control word the state machine acts on; the others are formatting and are dropped at once
_ACTIVE = (_SKIP | _INFO_TEXT | _TIMES | _INFO_NUMBERS | set(_CHARS) | set(_CHARSETS)
               | {"bin", "info", "userprops", "propname", "staticval", "ansicpg", "uc", "u", "htmlrtf"})


class RtfState(NamedTuple):
    """The part of the parser state that a `{` saves and the matching `}` restores (immutable, so a
    group opening only pushes a reference)."""

    skip: bool = False
    dest: str | None = None
    uc: int = 1
    in_info: bool = False
    htmlrtf: bool = False  # RTF-only text around encapsulated HTML: only its line breaks are kept


class RtfText:
    """A flat state machine over RTF tokens (no recursion): document text and the \\info group."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.state = RtfState()
        self.stack: list[RtfState] = []
        self.overflow = 0  # groups deeper than MAX_GROUPS, sharing their parent's state
        self.codepage = "cp1252"
        self.parts: list[str] = []
        self.size = 0
        self.hexbuf = bytearray()
        self.pending_skip = 0  # fallback characters still to drop after a \uN
        self.high: str | None = None  # a high surrogate waiting for its pair
        self.ignorable = False  # the last token was \*
        self.info_text: dict[str, list[str]] = {}
        self.times: dict[str, dict[str, int]] = {}
        self.time_raw: dict[str, str] = {}
        self.numbers: dict[str, int] = {}
        self.userprops: list[list[str]] = []  # [name, value] of \\userprops (custom properties)
        self.bin_skip = 0

    @property
    def full(self) -> bool:
        return self.size >= self.limit and not self.state.in_info

    def feed(self, buf: bytes, final: bool) -> int:
        """Consume tokens of buf; returns how many bytes were used (the rest waits for more data)."""
        pos = 0
        n = len(buf)
        while pos < n:
            if self.bin_skip:
                step = min(self.bin_skip, n - pos)
                self.bin_skip -= step
                pos += step
                continue
            c = buf[pos]
            if c == 0x7B or c == 0x7D:  # braces are most tokens of a nested document: no regex for them
                if self.hexbuf:
                    self._flush_hex()
                self._brace(c == 0x7B)
                pos += 1
                continue
            m = _TOKEN.match(buf, pos)
            if m is None:
                if not final and n - pos < 64:
                    return pos  # a backslash at the very end: wait for the next chunk
                pos += 1
                continue
            if not final and m.end() >= n and m.lastindex in (1, 2, 3, 4):
                return pos  # a control word may continue in the next chunk
            self._token(m)
            pos = m.end()
        return pos

    def _token(self, m: re.Match[bytes]) -> None:
        kind = m.lastindex
        if kind != 3 and self.hexbuf:
            self._flush_hex()
        if kind == 1 or kind == 2:
            word = m.group(1).decode("ascii")
            if word in _ACTIVE or self.ignorable or self.pending_skip or self.state.dest in _TIMES:
                param = m.group(2)
                self._control(word, int(param) if param is not None else None, m.group(0))
            return  # formatting (bold, fonts, spacing ...): nothing to keep
        word, param, hexbyte, symbol, brace, text = m.groups()
        if hexbyte is not None:
            if self.pending_skip:
                self.pending_skip -= 1
            else:
                self.hexbuf.append(int(hexbyte, 16))
        elif symbol is not None:
            self._symbol(symbol)
        elif brace is not None:
            self._brace(brace == b"{")
        elif text is not None:
            self._text(text.decode(self.codepage, "replace"))

    def _brace(self, opening: bool) -> None:
        self.ignorable = False
        self.pending_skip = 0
        if opening:
            if len(self.stack) >= MAX_GROUPS:
                self.overflow += 1
            else:
                self.stack.append(self.state)
        elif self.overflow:
            self.overflow -= 1
        elif self.stack:
            self.state = self.stack.pop()

    def _symbol(self, symbol: bytes) -> None:
        if symbol == b"*":
            self.ignorable = True
            return
        if self.pending_skip:
            self.pending_skip -= 1
            return
        self._text(_SYMBOLS.get(symbol, ""))

    def _control(self, word: str, param: int | None, raw: bytes) -> None:
        st = self.state
        ignorable, self.ignorable = self.ignorable, False
        if self.pending_skip:
            self.pending_skip -= 1
            return
        if word == "bin":
            self.bin_skip = max(0, param or 0)
        elif word == "info":
            self.state = st._replace(in_info=True, dest="info")
        elif word in _INFO_TEXT and (st.in_info or word == "generator"):
            self.state = st._replace(dest=word)
        elif word in _TIMES and st.in_info:
            self.state = st._replace(dest=word)
            self.times.setdefault(word, {})
        elif st.dest in _TIMES and word in ("yr", "mo", "dy", "hr", "min", "sec") and param is not None:
            self.times[st.dest][word] = param
            self.time_raw[st.dest] = self.time_raw.get(st.dest, "") + raw.decode("ascii").strip()
        elif st.in_info and word in _INFO_NUMBERS and param is not None:
            self.numbers[word] = param
        elif word in ("userprops", "propname", "staticval"):
            self.state = st._replace(dest=word)
        elif word in _SKIP or ignorable:
            self.state = st._replace(skip=True)
        elif word == "ansicpg" and param:
            self.codepage = _codec(f"cp{param}") or self.codepage
        elif word in _CHARSETS and not self.stack:
            self.codepage = _CHARSETS[word]
        elif word == "uc" and param is not None:
            self.state = st._replace(uc=max(0, min(param, 10)))
        elif word == "htmlrtf":
            self.state = st._replace(htmlrtf=param != 0)
        elif word == "u" and param is not None:
            self._unicode(param)
            self.pending_skip = st.uc
        elif word in _CHARS:
            self._text(_CHARS[word])

    def _unicode(self, code: int) -> None:
        if code < 0:
            code += 65536  # RTF writes code points above 32767 as negative 16-bit numbers
        if not 0 <= code <= 0xFFFF:
            code = 0xFFFD
        ch = chr(code)
        if 0xD800 <= code <= 0xDBFF:
            self.high = ch
            return
        if 0xDC00 <= code <= 0xDFFF:
            ch = (self.high + ch).encode("utf-16", "surrogatepass").decode("utf-16") if self.high else "\ufffd"
        self.high = None
        self._text(ch)

    def _flush_hex(self) -> None:
        data, self.hexbuf = bytes(self.hexbuf), bytearray()
        self._text(data.decode(self.codepage, "replace"))

    def _text(self, s: str) -> None:
        st = self.state
        if self.pending_skip and s:
            drop = min(self.pending_skip, len(s))
            s, self.pending_skip = s[drop:], self.pending_skip - drop
        if st.skip or not s or (st.htmlrtf and s != "\n"):
            return
        if self.high is not None:
            self.high = None
            s = "\ufffd" + s
        if st.dest in _INFO_TEXT:
            bucket = self.info_text.setdefault(st.dest, [])
            if sum(map(len, bucket)) < MAX_VALUE:
                bucket.append(s)
            return
        if st.dest in ("propname", "staticval"):
            self._userprop(st.dest, s)
            return
        if st.in_info or st.dest in _TIMES or st.dest == "userprops":
            return
        if self.size < self.limit:
            self.parts.append(s)
            self.size += len(s)

    def _userprop(self, dest: str, s: str) -> None:
        props = self.userprops
        if dest == "propname":
            if props and not props[-1][1]:
                props[-1][0] = cap(props[-1][0] + s)
            elif len(props) < MAX_META:
                props.append([s, ""])
        elif props:
            props[-1][1] = cap(props[-1][1] + s)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, parts in self.info_text.items():
            value = "".join(parts).strip().rstrip(";").strip()
            if value:
                out[key] = cap(value)
        for key, t in self.times.items():
            if "yr" in t:
                out[key] = _rtf_time(t)
                out[key + "_raw"] = self.time_raw.get(key, "")
        out.update(self.numbers)
        return out

    def text(self) -> str:
        if self.hexbuf:
            self._flush_hex()
        lines = (ln.strip() for ln in "".join(self.parts).replace("\x00", "").splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _rtf_time(t: dict[str, int]) -> str:
    """RTF \\yr\\mo\\dy\\hr\\min\\sec as ISO 8601 local time, seconds only when written."""
    s = f"{t.get('yr', 0):04d}-{t.get('mo', 1):02d}-{t.get('dy', 1):02d}T{t.get('hr', 0):02d}:{t.get('min', 0):02d}"
    return s + (f":{t['sec']:02d}" if "sec" in t else "")


def rtf_to_text(rtf: bytes, limit: int = MAX_INPUT) -> str:
    """The text of a whole RTF document (including RTF that encapsulates HTML or plain text)."""
    machine = RtfText(limit)
    machine.feed(rtf[:MAX_INPUT], final=True)
    return machine.text()
