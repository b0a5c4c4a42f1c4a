"""HTML to the text a browser shows: no script or style, one line per block, cells split by tabs.

Used for HTML files and for the HTML bodies of emails and Outlook messages. The title and the
<meta> tags are collected too, for the readers that keep them as metadata. By default every block
edge breaks the line, so paragraphs stand apart by an empty line; `compact` breaks a line only
where it has text, so the only empty lines are those of <br> (the email reader's layout).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from .meta import MAX_VALUE, add_multi, cap

FEED = 4 * 1024 * 1024  # characters given to html.parser at once
MAX_INPUT = 20_000_000  # characters of one document converted by html_to_text

BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article",
                   "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "ul", "ol", "form", "title",
                   "address", "figcaption", "main", "nav", "aside"})
CELLS = frozenset({"td", "th"})
HIDDEN = frozenset({"script", "style", "template"})
_STRAY_LT = re.compile(r"<(?![A-Za-z/!?])")
LT = "\ufdd0"  # a Unicode noncharacter: never meaningful in a document
# What html.parser raises on some broken markup (e.g. an unknown marked section).
PARSER_ERRORS = (AssertionError, ValueError, IndexError, TypeError)


class VisibleText(HTMLParser):
    """Collects the text a browser shows (no script/style), the title and the meta tags."""

    def __init__(self, limit: int, compact: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.compact = compact
        self.size = 0
        self.parts: list[str] = []
        self.skip = 0
        self.in_title = False
        self.title: list[str] = []
        self.meta: dict[str, Any] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "body":
            self.skip, self.in_title = 0, False  # whatever the head left open, the body is shown
        elif tag == "meta":
            self._meta(dict(attrs))
        elif tag == "html":
            lang = dict(attrs).get("lang")
            if lang:
                self.meta.setdefault("html:lang", cap(lang))
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self._meta(dict(attrs))
        elif tag in BLOCK:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        if tag in BLOCK:
            self._block_edge()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.in_title:
            if sum(map(len, self.title)) < MAX_VALUE:
                self.title.append(data)
            return
        self._emit(data)

    def _break(self, tag: str) -> None:
        if tag == "br":
            self._emit("\n")  # each <br> breaks the line, even an empty one
        elif tag in BLOCK:
            self._block_edge()
        elif tag in CELLS:
            self._emit("\t")

    def _block_edge(self) -> None:
        """A block starts and ends on a line of its own; compact: without adding empty lines."""
        if not self.compact or (self.parts and not self.parts[-1].endswith("\n")):
            self._emit("\n")

    def _emit(self, s: str) -> None:
        if self.size < self.limit:
            s = s[:self.limit - self.size]
            self.parts.append(s)
            self.size += len(s)

    def _meta(self, attrs: dict[str, str | None]) -> None:
        attrs = {k: v.replace(LT, "<") if v else v for k, v in attrs.items()}
        if attrs.get("charset"):
            add_multi(self.meta, "charset", attrs["charset"] or "")
        key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv") or attrs.get("itemprop")
        if key and attrs.get("content") is not None:
            add_multi(self.meta, key.strip().lower(), attrs["content"] or "")

    def title_text(self) -> str:
        return " ".join("".join(self.title).replace(LT, "<").split())

    def text(self) -> str:
        raw = "".join(self.parts).replace(LT, "<").replace("\x00", "")
        # collapse spaces but keep the tabs that separate table cells
        lines = (re.sub(r" ?\t[ \t]*", "\t", re.sub(r"[ \r\f\v\u00a0]+", " ", ln)).strip()
                 for ln in raw.split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def visible_text(html: str, limit: int, compact: bool = False) -> VisibleText:
    """Parse `html` until `limit` characters of text are collected; broken markup keeps what was read."""
    parser = VisibleText(limit, compact)
    # A '<' that opens no tag is text, but html.parser hands it over one character at a time:
    # stand a noncharacter in for it (and put the '<' back in what we keep).
    html = _STRAY_LT.sub(LT, html.replace(LT, "\ufffd"))
    try:
        # Large feeds: html.parser rescans an unclosed tag on every feed, so small ones go quadratic.
        for i in range(0, len(html), FEED):
            parser.feed(html[i:i + FEED])
            if parser.size >= limit:
                break
        parser.close()
    except PARSER_ERRORS:
        pass
    return parser


def html_to_text(html: str, limit: int = MAX_INPUT, compact: bool = False) -> str:
    """The visible text of an HTML document, blocks on lines of their own."""
    return visible_text(html[:MAX_INPUT], limit, compact).text()
