"""Readers: OOXML (docx, xlsx, pptx ...) and ODF (odt, ods, odp ...) documents.

Both are zips of XML parts. Every part is read through a capped stream (zip entries can lie about
their sizes) and parsed only with defusedxml, as a stream of events whose elements are dropped as
soon as they end, so that neither a zip bomb nor a huge part can exhaust memory. Metadata is
evidence: every field is recorded as written (dates included, offsets kept). Embedded objects are
listed, not yet yielded as children.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterator
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

import defusedxml

from . import sniff
from .base import (BOMB, CORRUPT, ENCRYPTED, TOO_DEEP, TOO_LARGE, UNSUPPORTED, XML_ENTITIES, Blob, Child,
                   Context, IngestError)

MAX_PARTS_LISTED = 10_000  # entries of `parts` kept in metadata
MAX_LISTED = 500  # tracked changes, comments, external links, ... kept in metadata
MAX_RELS_PARTS = 5_000
MAX_VALUES = 10_000  # rsids, fonts, vector items, shared strings referenced ...
MAX_XML_DEPTH = 5_000  # open elements stay in memory: a part nested deeper is hostile

# Severity of the error that ends an item when several parts failed.
_SEVERITY = {XML_ENTITIES: 4, BOMB: 3, TOO_LARGE: 2, TOO_DEEP: 2, ENCRYPTED: 2, CORRUPT: 1}

START, TEXT, END = 0, 1, 2


# --------------------------------------------------------------------------------------------
# Shared plumbing: capped part streams, event walking, text buffer
# --------------------------------------------------------------------------------------------

def local(tag: Any) -> str:
    """The local name of an ElementTree tag ('{ns}name' -> 'name')."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def ns_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def attrs_local(elem: Element) -> dict[str, str]:
    """Attributes keyed by local name (namespaces dropped; first one wins on a clash)."""
    out: dict[str, str] = {}
    for k, v in elem.attrib.items():
        out.setdefault(local(k), v)
    return out


def attr(elem: Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace."""
    for k, v in elem.attrib.items():
        if local(k) == name:
            return v
    return None


class CappedStream(io.RawIOBase):
    """Reads a zip member up to `cap` bytes; more is a bomb or too large, never silently cut."""

    def __init__(self, raw: BinaryIO, cap: int, name: str, compressed: int, ctx: Context) -> None:
        self.raw, self.cap, self.name, self.compressed, self.ctx = raw, cap, name, compressed, ctx
        self.total = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        want = 1 << 20 if n is None or n < 0 else n
        try:
            data = self.raw.read(min(want, self.cap + 1 - self.total))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            raise IngestError(CORRUPT, f"{self.name}: {type(e).__name__}: {e}") from None
        self.total += len(data)
        self.ctx.budget.spend(len(data))
        if self.total > self.cap:
            ratio = self.ctx.limits.max_ratio
            reason = BOMB if self.total > ratio * max(self.compressed, 1) else TOO_LARGE
            raise IngestError(reason, f"{self.name}: XML part over {self.cap} bytes")
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def walk(source: BinaryIO, names: list[str], keep: frozenset[str] | None = None) -> Iterator[tuple[int, Any, str]]:
    """Parse XML as a stream of (START, elem, ''), (TEXT, None, text), (END, elem, direct text).

    `names` is kept as the stack of local names of the open elements (the element's own name is
    last at its START and END). Elements are never attached to a parent, so memory stays bounded
    by the depth, not the size, of the document. Text is reported as soon as it is complete: an
    element's text before its first child's event, a child's tail before the next event after it.
    `keep`, when given, names the elements a consumer looks at: an element of another name with
    nothing inside (no text, no element handed out) is not handed out at all; the ancestors of
    every element handed out are, so `names` stays whole. Most elements of a Word body or a
    sheet are such empty formatting leaves (w:rFonts, w:sz ...).

    Driven on expat directly, with defusedxml's guards (entity declarations and external references
    raise defusedxml's exceptions): the same events as defusedxml's iterparse gives, which runs the
    pure-Python parser and cost most of the time spent reading office files.
    """
    tags: dict[str, str] = {}
    attr_names: dict[tuple[str, ...], tuple[str, ...]] = {}  # expat attribute names -> ElementTree's

    def fix(key: str) -> str:
        tag = tags.get(key)
        if tag is None:
            tag = tags[key] = "{" + key if "}" in key else key
        return tag

    # `names` follows the events as they are handed out, not as expat met them (a chunk ahead)
    for events in walk_raw(source, keep):
        for ev in events:
            kind = ev[0]
            if kind == START:
                tag = tags.get(ev[1]) or fix(ev[1])
                attrs = ev[2]
                if attrs:
                    raw = tuple(attrs)
                    fixed = attr_names.get(raw)
                    if fixed is None:
                        fixed = tuple(fix(k) for k in raw)
                        if len(attr_names) < MAX_VALUES:  # a hostile part may vary them without end
                            attr_names[raw] = fixed
                    attrs = dict(zip(fixed, attrs.values()))
                elem = ev[3] = Element(tag, attrs)
                names.append(ev[5])
                yield START, elem, ""
            elif kind == END:
                yield END, ev[1][3], ev[2]
                names.pop()
            else:
                yield ev


def walk_raw(source: BinaryIO, keep: frozenset[str] | None = None) -> Iterator[list[Any]]:
    """The events `walk` hands out, as expat gives them, one list per chunk parsed (and parsed whole
    before any of its events is handed out): [START, expat name ('ns}local'), expat attributes, None,
    direct text parts, local name], [END, its START entry, direct text], (TEXT, None, text)."""
    parser = guarded_parser()
    events: list[Any] = []
    stack: list[list[Any]] = []  # the START entries of the open elements
    pend: list[str] = []
    locals_: dict[str, str] = {}

    def flush() -> None:
        s = "".join(pend)
        pend.clear()
        if s and stack:
            stack[-1][4].append(s)
            events.append((TEXT, None, s))

    def start(key: str, attrs: dict[str, str]) -> None:
        if pend:
            flush()
        if len(stack) >= MAX_XML_DEPTH:
            raise IngestError(TOO_DEEP, f"XML nested over {MAX_XML_DEPTH} elements deep")
        name = locals_.get(key)
        if name is None:
            name = locals_[key] = key.rsplit("}", 1)[-1]
        entry = [START, key, attrs, None, [], name]
        stack.append(entry)
        events.append(entry)

    def end(key: str) -> None:
        if pend:
            flush()
        entry = stack.pop()
        if keep is not None and events and events[-1] is entry and entry[5] not in keep:
            events.pop()  # nothing inside and not asked for: neither event is handed out
            return
        buf = entry[4]
        events.append([END, entry, "".join(buf) if buf else ""])

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = pend.append
    done = False
    while not done:
        data = source.read(XML_CHUNK)
        done = not data
        feed(parser, data, done)
        if events:
            yield events
            events.clear()


XML_CHUNK = 16 * 1024


def guarded_parser(namespaces: bool = True) -> Any:
    """An expat parser with namespaces ('ns}local' names; without: 'prefix:local', see `QNames`) and
    defusedxml's guards: entity declarations and external references raise defusedxml's exceptions, an
    undefined entity an expat error."""
    parser = expat.ParserCreate(None, "}") if namespaces else expat.ParserCreate()
    parser.buffer_text = True

    def default(text: str) -> None:
        if text[:1] == "&":  # an entity no declaration defines (as ElementTree reports it)
            err = expat.error(f"undefined entity {text}: line {parser.ErrorLineNumber}, "
                              f"column {parser.ErrorColumnNumber}")
            err.code, err.lineno, err.offset = 11, parser.ErrorLineNumber, parser.ErrorColumnNumber
            raise err

    def entity_decl(name: str, is_param: bool, value: str | None, base: str | None, sysid: str | None,
                    pubid: str | None, notation: str | None) -> None:
        raise defusedxml.EntitiesForbidden(name, value, base, sysid, pubid, notation)

    def unparsed_entity_decl(name: str, base: str | None, sysid: str | None, pubid: str | None,
                             notation: str | None) -> None:
        raise defusedxml.EntitiesForbidden(name, None, base, sysid, pubid, notation)

    def external_ref(context: str, base: str | None, sysid: str | None, pubid: str | None) -> None:
        raise defusedxml.ExternalReferenceForbidden(context, base, sysid, pubid)

    parser.DefaultHandlerExpand = default
    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = unparsed_entity_decl
    parser.ExternalEntityRefHandler = external_ref
    return parser


def feed(parser: Any, data: bytes, done: bool) -> None:
    """One chunk to the parser; expat's errors as ElementTree's ParseError."""
    try:
        parser.Parse(data, done)
    except expat.error as e:
        err = ParseError(str(e))
        err.code, err.position = e.code, (e.lineno, e.offset)
        raise err from None


class Stop(Exception):
    """Raised by a Direct consumer's handler that has all it wants: the rest of the part is not parsed (nor
    checked: what follows cannot change what it read)."""


class Redo(Exception):
    """The fast reading of a part met something it does not vouch for: the part is read again, exactly."""


XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
# ASCII only ('prefix:local' or 'local'): anything else goes the exact way
NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")
QNAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?\Z")


def is_decl(key: str) -> bool:
    """An attribute that declares a namespace (seen only with namespace processing off)."""
    return key.startswith("xmlns") and (len(key) == 5 or key[5] == ":") and "}" not in key


class QNames:
    """How a Direct consumer turns expat's names into local names, with namespace processing on or off.

    On (`fast` False, the exact way): 'ns}local', expat itself rejects what the namespaces spec forbids.
    Off (`fast`): 'prefix:local', about 40% cheaper in expat; then these checks stand in for expat's, and
    raise Redo (the part is then read again with namespaces on, so its events and errors are expat's own)
    at anything they do not vouch for: an unbound prefix, a name that is not plain ASCII 'prefix:local', a
    declaration that undeclares or touches the reserved xml/xmlns names, an inner declaration that rebinds
    a prefix of the root element, two attributes of one expanded name.
    The consumer calls `check` for an element whose name is not in `locals` yet, or with attributes not all
    in `ok_attrs` (a declaration never is): names whose prefix the root element binds are valid everywhere
    and kept there; the others are looked up in the declarations of the open elements each time. At the end
    of an element `level` deep (itself included) it pops the top of `scopes` if that is deeper."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.locals: dict[str, str] = {}  # element name -> local name, valid everywhere
        self.ok_attrs: set[str] = set()  # attribute names valid on any element (with any other of the set)
        self.root: dict[str, str] = {"xml": XML_NS}  # prefix -> namespace, bound on the root element
        self.aliased: set[str] = set()  # root prefixes sharing a namespace: their attributes may clash
        # (level, declarations) of the open inner elements that declare: the consumer pops one at its end
        self.scopes: list[tuple[int, dict[str, str]]] = []
        self.rooted = False

    def check(self, key: str, attrs: dict[str, str], depth: int) -> str:
        """The local name of an element `depth` elements deep (its ancestors); Redo where unsure."""
        if not self.fast:
            name = self.locals[key] = key.rsplit("}", 1)[-1]
            return name
        if attrs:
            self.check_attrs(attrs, depth)
        self.rooted = True
        name = self.locals.get(key)
        if name is not None:
            return name
        prefix, _, name = key.rpartition(":")
        if not QNAME.match(key) or key == "xmlns" or prefix == "xmlns":
            raise Redo(key)
        if not prefix or prefix in self.root:
            self.locals[key] = name
        elif self.bound(prefix) is None:
            raise Redo(key)
        return name

    def bound(self, prefix: str) -> str | None:
        for _, decls in reversed(self.scopes):
            if prefix in decls:
                return decls[prefix]
        return self.root.get(prefix)

    def check_attrs(self, attrs: dict[str, str], depth: int) -> None:
        decls: dict[str, str] = {}
        for key, value in attrs.items():
            if is_decl(key):
                prefix = key[6:]
                if value in (XML_NS, XMLNS_NS) or key != "xmlns" and (not value or not NCNAME.match(prefix)
                                                                        or prefix in ("xml", "xmlns")):
                    raise Redo(key)
                if prefix:
                    decls[prefix] = value
        if not self.rooted:
            self.root.update(decls)
            seen: dict[str, str] = {}
            for prefix, uri in self.root.items():
                if uri in seen:
                    self.aliased.update((prefix, seen[uri]))
                seen[uri] = prefix
        elif decls:
            for prefix, uri in decls.items():
                if prefix in self.root and self.root[prefix] != uri:
                    raise Redo(prefix)
            self.scopes.append((depth + 1, decls))
        expanded: set[tuple[str, str]] = set()
        for key in attrs:  # all of them: one of `ok_attrs` may clash with one bound by an inner declaration
            if is_decl(key):
                continue
            prefix, _, name = key.rpartition(":")
            if not QNAME.match(key):
                raise Redo(key)
            if prefix:
                uri = self.bound(prefix)
                if uri is None or (uri, name) in expanded:
                    raise Redo(key)
                expanded.add((uri, name))
                if prefix not in self.root or prefix in self.aliased:
                    continue  # valid here, not everywhere
            if len(self.ok_attrs) < MAX_VALUES:
                self.ok_attrs.add(key)


@dataclass
class Direct:
    """A consumer that does its work inside expat's handlers, as the parser meets each element: no event
    list, no element object, no generator step per event (the hot parts: Word stories, worksheets).
    `start`/`end` flush `pend` (what the character data handler gathered) before anything else, check
    MAX_XML_DEPTH as `walk_raw` does, take local names through their QNames, and do nothing once `stopped`
    says the consumer is done (after the chunk being parsed; a handler that raises Stop ends it at once). `checkpoint` returns an undo: what a chunk that then fails to parse added is
    taken back, as `walk_raw` hands out none of a failed chunk's events."""

    start: Callable[[str, dict[str, str]], None]
    end: Callable[[str], None]
    pend: list[str]
    stopped: Callable[[], bool]
    checkpoint: Callable[[], Callable[[], None]]


def drive(source: BinaryIO, make: Callable[[QNames], Direct], fast: bool = False) -> None:
    """Parse `source` through a Direct consumer, chunk by chunk, until the end or until it stops.
    `fast`: with namespace processing off (see QNames); whatever goes wrong in the parser then (an error
    of the XML, of a consumer, a check not passed) is undone and raised as Redo, for the exact way to say."""
    qnames = QNames(fast)
    direct = make(qnames)
    parser = guarded_parser(namespaces=not fast)
    parser.StartElementHandler = direct.start
    parser.EndElementHandler = direct.end
    parser.CharacterDataHandler = direct.pend.append
    if fast:  # rare in office parts, and where namespaces could matter in ways not checked here
        parser.StartDoctypeDeclHandler = _redo
        parser.ProcessingInstructionHandler = _redo
        undo_all = direct.checkpoint()
    done = False
    while not done and not direct.stopped():
        data = source.read(XML_CHUNK)
        done = not data
        if fast:
            try:
                parser.Parse(data, done)
            except Stop:
                return
            except Exception as e:  # noqa: BLE001 - any of them: the exact way reads the part again
                undo_all()
                raise Redo(f"{type(e).__name__}: {e}") from None
            except BaseException:
                undo_all()
                raise
            continue
        undo = direct.checkpoint()
        try:
            feed(parser, data, done)
        except Stop:
            return
        except BaseException:
            undo()
            raise


def _redo(*args: Any) -> None:
    raise Redo("doctype or processing instruction")


class TextBuf:
    """Text gathered up to a limit; `full` tells consumers to stop parsing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def add(self, s: str) -> None:
        if s and self.size < self.limit:
            self.parts.append(s)
            self.size += len(s)

    def text(self) -> str:
        s = "".join(self.parts)
        s = re.sub(r"[ \t]+\n", "\n", s)
        s = re.sub(r" +\t", "\t", s)
        return re.sub(r"\n{3,}", "\n\n", s).strip()[: self.limit]


def zip_time(info: zipfile.ZipInfo) -> str:
    y, mo, d, h, mi, s = info.date_time
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"


def natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name.lower())]


def to_int(s: str | None) -> int | None:
    try:
        return int(str(s).strip())
    except (TypeError, ValueError):
        return None


class Package:
    """A zip of XML parts: capped reads, XML errors recorded per part, the worst kept as fatal."""

    def __init__(self, zf: zipfile.ZipFile, ctx: Context) -> None:
        self.zf, self.ctx = zf, ctx
        self.meta = ctx.out.metadata
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self.order: list[str] = []  # part names as written, in zip order
        seen: set[str] = set()
        dups: list[str] = []
        for info in zf.infolist():
            key = info.filename.lower()
            if key in seen:
                dups.append(info.filename)
            seen.add(key)
            self.infos[key] = info
            self.order.append(info.filename)
        self.duplicates = dups
        self.fatal: IngestError | None = None

    def has(self, name: str) -> bool:
        return name.lower().lstrip("/") in self.infos

    def info(self, name: str) -> zipfile.ZipInfo | None:
        return self.infos.get(name.lower().lstrip("/"))

    def record_parts(self) -> None:
        parts = []
        for info in self.zf.infolist()[:MAX_PARTS_LISTED]:
            parts.append({"name": info.filename, "date_time": zip_time(info), "size": info.file_size})
        self.meta["parts"] = parts
        self.meta["parts_count"] = len(self.order)
        if self.duplicates:
            self.meta["duplicate_parts"] = self.duplicates[:MAX_LISTED]
        if self.zf.comment:
            self.meta["zip_comment"] = self.zf.comment[:4096].decode("utf-8", "replace")

    def fail(self, part: str, err: IngestError) -> None:
        self.meta.setdefault("part_errors", {})[part] = str(err)
        if self.fatal is None or _SEVERITY.get(err.reason, 0) > _SEVERITY.get(self.fatal.reason, 0):
            self.fatal = err

    def parse(self, name: str, consumer: Callable[[Any, list[str]], None],
              keep: frozenset[str] | None = None) -> bool:
        """Feed one part's events to `consumer` (only those `walk` keeps for `keep`); False (and an error
        recorded) if it failed."""
        names: list[str] = []
        return self.read_part(name, lambda stream: consumer(walk(stream, names, keep), names))

    def parse_fast(self, name: str, make: Callable[[QNames], Direct], consumer: Callable[[Any, list[str]], None],
                   keep: frozenset[str] | None = None) -> bool:
        """As `parse`, the fast way first: `make`'s Direct consumer (see `elements`) with namespace processing
        off; where that gives up (see QNames), `consumer` on `walk`'s events, the exact way."""
        names: list[str] = []
        return self.read_part(name, lambda stream: drive(stream, make, fast=True),
                              lambda stream: consumer(walk(stream, names, keep), names))

    def parse_direct(self, name: str, make: Callable[[QNames], Direct]) -> bool:
        """As `parse`, for a consumer working inside the parser's handlers: first the fast way (namespace
        processing off), again the exact way where that gave up (see QNames)."""
        return self.read_part(name, lambda stream: drive(stream, make, fast=True),
                              lambda stream: drive(stream, make))

    def read_part(self, name: str, run: Callable[[BinaryIO], None],
                  again: Callable[[BinaryIO], None] | None = None) -> bool:
        """Run a reader on the part's capped stream; where it raises Redo, `again` on a fresh one."""
        info = self.info(name)
        if info is None:
            return False
        part = info.filename
        cap = self.ctx.limits.max_xml_bytes
        try:
            with self.zf.open(info) as raw:
                stream = CappedStream(raw, cap, part, info.compress_size, self.ctx)
                try:
                    run(stream)
                    return True
                except Redo:
                    if again is None:
                        raise
                    self.ctx.budget.remaining += stream.total  # spent again by the second reading
            with self.zf.open(info) as raw:
                again(CappedStream(raw, cap, part, info.compress_size, self.ctx))
            return True
        except (defusedxml.EntitiesForbidden, defusedxml.DTDForbidden,
                defusedxml.ExternalReferenceForbidden) as e:
            self.fail(part, IngestError(XML_ENTITIES, f"{part}: {type(e).__name__}: {e}"))
        except (ParseError, LookupError) as e:  # LookupError: an encoding declaration Python does not know
            self.fail(part, IngestError(CORRUPT, f"{part}: bad XML: {e}"))
        except IngestError as e:  # too large, too deep, bomb (budget included), corrupt zip member
            self.fail(part, e if part in e.detail else IngestError(e.reason, f"{part}: {e.detail}"))
        except RuntimeError as e:  # zipfile: member encrypted
            self.fail(part, IngestError(ENCRYPTED, f"{part}: {e}"))
        except NotImplementedError as e:  # zipfile: compression method
            self.fail(part, IngestError(UNSUPPORTED, f"{part}: {e}"))
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
            self.fail(part, IngestError(CORRUPT, f"{part}: {type(e).__name__}: {e}"))
        return False


def open_zip(blob: Blob) -> tuple[BinaryIO, zipfile.ZipFile]:
    f = blob.open()
    try:
        return f, zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
        f.close()
        raise IngestError(CORRUPT, f"not a readable zip: {e}") from None
    except NotImplementedError as e:
        f.close()
        raise IngestError(UNSUPPORTED, f"zip: {e}") from None


# --------------------------------------------------------------------------------------------
# OOXML
# --------------------------------------------------------------------------------------------

_WML = "application/vnd.openxmlformats-officedocument.wordprocessingml."
_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml."
_PML = "application/vnd.openxmlformats-officedocument.presentationml."
ROLE_BY_TYPE = {
    "application/vnd.openxmlformats-package.core-properties+xml": "core",
    "application/vnd.openxmlformats-officedocument.extended-properties+xml": "app",
    "application/vnd.openxmlformats-officedocument.custom-properties+xml": "custom",
    _WML + "document.main+xml": "word_main",
    _WML + "template.main+xml": "word_main",
    "application/vnd.ms-word.document.macroEnabled.main+xml": "word_main",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": "word_main",
    _WML + "header+xml": "word_text",
    _WML + "footer+xml": "word_text",
    _WML + "footnotes+xml": "word_text",
    _WML + "endnotes+xml": "word_text",
    _WML + "comments+xml": "word_comments",
    _WML + "settings+xml": "word_settings",
    _WML + "fontTable+xml": "word_fonts",
    _SML + "sheet.main+xml": "xl_workbook",
    _SML + "template.main+xml": "xl_workbook",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xl_workbook",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xl_workbook",
    _SML + "worksheet+xml": "xl_sheet",
    _SML + "sharedStrings+xml": "xl_strings",
    _SML + "styles+xml": "xl_styles",
    _SML + "comments+xml": "xl_comments",
    "application/vnd.ms-excel.threadedcomments+xml": "xl_comments",
    "application/vnd.ms-excel.macrosheet+xml": "macro",
    "application/vnd.ms-excel.intlmacrosheet+xml": "macro",
    _PML + "slide+xml": "ppt_slide",
    _PML + "notesSlide+xml": "ppt_notes",
    _PML + "comments+xml": "ppt_comments",
    "application/vnd.ms-powerpoint.comments+xml": "ppt_comments",
    "application/vnd.openxmlformats-officedocument.theme+xml": "theme",
    "application/vnd.ms-office.vbaProject": "macro",
    "application/vnd.openxmlformats-officedocument.oleObject": "embedded",
    "application/vnd.openxmlformats-officedocument.package": "embedded",
}
# Where the content types say nothing (or lie), the usual part names.
ROLE_BY_NAME = [
    (re.compile(r"docprops/core\.xml$"), "core"),
    (re.compile(r"docprops/app\.xml$"), "app"),
    (re.compile(r"docprops/custom\.xml$"), "custom"),
    (re.compile(r"word/document\.xml$"), "word_main"),
    (re.compile(r"word/(header\d*|footer\d*|footnotes|endnotes)\.xml$"), "word_text"),
    (re.compile(r"word/comments\.xml$"), "word_comments"),
    (re.compile(r"word/settings\.xml$"), "word_settings"),
    (re.compile(r"word/fonttable\.xml$"), "word_fonts"),
    (re.compile(r"xl/workbook\.xml$"), "xl_workbook"),
    (re.compile(r"xl/worksheets/[^/]+\.xml$"), "xl_sheet"),
    (re.compile(r"xl/sharedstrings\.xml$"), "xl_strings"),
    (re.compile(r"xl/styles\.xml$"), "xl_styles"),
    (re.compile(r"xl/(comments\d*|threadedcomments/[^/]+)\.xml$"), "xl_comments"),
    (re.compile(r"ppt/slides/slide\d+\.xml$"), "ppt_slide"),
    (re.compile(r"ppt/notesslides/notesslide\d+\.xml$"), "ppt_notes"),
    (re.compile(r"ppt/comments/[^/]+\.xml$"), "ppt_comments"),
    (re.compile(r"/theme/theme\d*\.xml$"), "theme"),
    (re.compile(r"(^|/)vbaproject\.bin$"), "macro"),
    (re.compile(r"(^|/)(macrosheets/[^/]+\.xml|vbadata\.xml)$"), "macro"),
    (re.compile(r"(^|/)embeddings/"), "embedded"),
]
REL_OFFICE_DOC = "/officeDocument"
REL_CORE = "/metadata/core-properties"
CHANGE_TAGS = {"ins", "del", "moveFrom", "moveTo"}
SETTINGS_OF_NOTE = {
    "documentProtection", "writeProtection", "trackRevisions", "removePersonalInformation",
    "removeDateAndTime", "doNotTrackMoves", "doNotTrackFormatting", "attachedTemplate",
    "decimalSymbol", "listSeparator", "themeFontLang", "revisionView", "saveThroughXslt",
    "mailMerge", "embedTrueTypeFonts", "saveSubsetFonts", "linkStyles", "updateFields",
    "documentType", "readModeInkLockDown", "alwaysShowPlaceholderText",
}
WORKBOOK_OF_NOTE = {"fileVersion", "workbookPr", "workbookProtection", "fileSharing", "calcPr", "absPath",
                    "fileRecoveryPr", "revisionPtr"}


@dataclass
class Rel:
    source: str  # the .rels part
    rid: str
    type: str
    target: str  # resolved part name, or the raw target when external
    external: bool


@dataclass
class Ooxml:
    pkg: Package
    ctx: Context
    text: TextBuf
    roles: dict[str, list[str]] = field(default_factory=dict)  # role -> part names (as written)
    types: dict[str, str] = field(default_factory=dict)  # part (lower) -> content type
    overrides: dict[str, str] = field(default_factory=dict)  # part (lower) -> its own Override type
    rels: dict[str, list[Rel]] = field(default_factory=dict)  # source part (lower, '' = package) -> rels

    @property
    def meta(self) -> dict[str, Any]:
        return self.ctx.out.metadata

    def run(self) -> None:
        meta = self.meta
        meta["format"] = "ooxml"
        self.pkg.record_parts()
        self.read_content_types()
        self.read_rels()
        self.classify()
        self.read_core()
        for part in self.roles.get("app", [])[:1]:
            self.pkg.parse(part, self.app_consumer)
        for part in self.roles.get("custom", [])[:1]:
            self.pkg.parse(part, self.custom_consumer)
        self.read_fonts()
        self.read_word()
        self.read_excel()
        self.read_powerpoint()
        self.read_counts()

    # --- package ---------------------------------------------------------------------------

    def read_content_types(self) -> None:
        defaults: dict[str, str] = {}
        overrides: dict[str, str] = {}

        def consume(events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
            for ev, elem, _ in events:
                if ev != END:
                    continue
                name = local(elem.tag)
                if name == "Default" and elem.get("Extension") is not None:
                    defaults[elem.get("Extension", "").lower()] = elem.get("ContentType", "")
                elif name == "Override" and elem.get("PartName") is not None:
                    overrides[elem.get("PartName", "").lower().lstrip("/")] = elem.get("ContentType", "")

        def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
            if name == "Default" and attrs.get("Extension") is not None:
                defaults[attrs.get("Extension", "").lower()] = attrs.get("ContentType", "")
            elif name == "Override" and attrs.get("PartName") is not None:
                overrides[attrs.get("PartName", "").lower().lstrip("/")] = attrs.get("ContentType", "")

        def checkpoint() -> Callable[[], None]:
            def undo() -> None:
                defaults.clear()
                overrides.clear()
            return undo

        self.pkg.parse_fast("[Content_Types].xml", lambda q: elements(q, CONTENT_TYPES_NAMES, on_end, checkpoint),
                            consume)
        for key in self.pkg.infos:
            ext = key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else ""
            if key in overrides:
                self.types[key] = self.overrides[key] = overrides[key]
            elif ext in defaults:
                self.types[key] = defaults[ext]

    def read_rels(self) -> None:
        rels_parts = [n for n in self.pkg.order if n.lower().endswith(".rels")][:MAX_RELS_PARTS]
        external: list[dict[str, str]] = []
        for part in rels_parts:
            source = self.rels_source(part)
            found: list[Rel] = []

            def consume(events: Iterator[tuple[int, Any, str]], names: list[str],
                        part: str = part, source: str = source, found: list[Rel] = found) -> None:
                for ev, elem, _ in events:
                    if ev == END and local(elem.tag) == "Relationship" and len(found) < MAX_VALUES:
                        ext = (elem.get("TargetMode") or "").lower() == "external"
                        target = elem.get("Target") or ""
                        found.append(Rel(part, elem.get("Id") or "", elem.get("Type") or "",
                                         target if ext else resolve(source, target), ext))

            def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str],
                       part: str = part, source: str = source, found: list[Rel] = found) -> None:
                if len(found) < MAX_VALUES:
                    ext = (attrs.get("TargetMode") or "").lower() == "external"
                    target = attrs.get("Target") or ""
                    found.append(Rel(part, attrs.get("Id") or "", attrs.get("Type") or "",
                                     target if ext else resolve(source, target), ext))

            self.pkg.parse_fast(part, lambda q, on_end=on_end, found=found: elements(
                q, RELS_NAMES, on_end, truncating(found)), consume)
            self.rels[source.lower()] = found
            for r in found:
                if r.external and len(external) < MAX_LISTED:
                    external.append({"source": part, "type": r.type.rsplit("/", 1)[-1], "target": r.target})
        self.meta["external_relationships"] = external

    @staticmethod
    def rels_source(rels_part: str) -> str:
        """'word/_rels/document.xml.rels' -> 'word/document.xml'; '_rels/.rels' -> ''."""
        folder, base = posixpath.split(rels_part)
        parent = posixpath.dirname(folder)
        name = base[: -len(".rels")]
        return posixpath.join(parent, name) if name else parent

    def classify(self) -> None:
        seen: set[str] = set()
        for name in self.pkg.order:
            key = name.lower()
            if key.endswith("/") or key in seen:
                continue
            seen.add(key)
            # An override names the part itself; a default only its extension, so the name comes first.
            role = ROLE_BY_TYPE.get(self.overrides.get(key, ""))
            if role is None:
                role = next((r for rx, r in ROLE_BY_NAME if rx.search(key)), None)
            if role is None:
                role = ROLE_BY_TYPE.get(self.types.get(key, ""))
            if role is not None:
                self.roles.setdefault(role, []).append(name)
        for role in ("xl_sheet", "ppt_slide", "ppt_notes", "word_text", "xl_comments", "ppt_comments", "theme"):
            if role in self.roles:
                self.roles[role].sort(key=natural_key)
        macros = self.roles.get("macro", [])
        self.meta["has_macros"] = bool(macros)
        self.meta["macros"] = macros[:MAX_LISTED]
        embedded = [{"name": n, "content_type": self.types.get(n.lower(), ""),
                     "size": self.pkg.infos[n.lower()].file_size} for n in self.roles.get("embedded", [])]
        self.meta["has_embedded"] = bool(embedded)
        self.meta["embedded"] = embedded[:MAX_LISTED]
        comments = [p for r in ("word_comments", "xl_comments", "ppt_comments") for p in self.roles.get(r, [])]
        self.meta["has_comments"] = bool(comments)

    def package_rel(self, suffix: str) -> str | None:
        for r in self.rels.get("", []):
            if r.type.endswith(suffix) and not r.external:
                return r.target
        return None

    def main_part(self, role: str) -> str | None:
        """The main part of a role: the one the package relationship points at, else the first."""
        parts = self.roles.get(role, [])
        target = self.package_rel(REL_OFFICE_DOC)
        if target:
            for p in parts:
                if p.lower() == target.lower():
                    return p
        return parts[0] if parts else None

    # --- document properties -----------------------------------------------------------------

    def read_core(self) -> None:
        parts = list(self.roles.get("core", []))
        target = self.package_rel(REL_CORE)
        if target:
            parts.sort(key=lambda p: p.lower() != target.lower())
        for i, part in enumerate(parts[:20]):
            values: dict[str, Any] = {}
            types: dict[str, str] = {}
            dups: dict[str, list[str]] = {}
            self.pkg.parse(part, lambda ev, nm: core_consumer(ev, nm, values, types, dups))
            if i == 0:
                self.meta["core"] = values
                if types:
                    self.meta["core_types"] = types
                if dups:
                    self.meta["core_duplicates"] = dups
            else:
                self.meta.setdefault("core_other", {})[part] = values

    def app_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        app: dict[str, Any] = {}
        self.meta["app"] = app
        leaves: list[str] = []
        has_child = [False]
        for ev, elem, text in events:
            depth = len(names)
            if ev == START and depth >= 2:
                if depth == 2:
                    leaves = []
                has_child.append(False)
                if len(has_child) > 2:
                    has_child[-2] = True
            elif ev == END and depth >= 2:
                leaf = not has_child.pop()
                if depth == 2:
                    key = prefixed(elem.tag, "app")
                    app[key] = text if leaf else leaves
                elif leaf and len(leaves) < MAX_VALUES:
                    leaves.append(text)

    def custom_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        """docProps/custom.xml: name -> {type (vt element), value as written, pid}."""
        custom: dict[str, Any] = {}
        self.meta["custom"] = custom
        prop: dict[str, Any] | None = None
        key = ""
        for ev, elem, text in events:
            depth = len(names)
            if ev == START and depth == 2 and local(elem.tag) == "property":
                name = elem.get("name") or ""
                pid = elem.get("pid") or ""
                key = name if name not in custom else f"{name} (pid {pid})"
                prop = {"type": None, "value": None, "pid": pid}
                if elem.get("linkTarget"):
                    prop["link_target"] = elem.get("linkTarget")
            elif prop is None:
                continue
            elif ev == START and depth == 3:
                base = elem.get("baseType")
                prop["type"] = local(elem.tag) + (f":{base}" if base else "")
                if local(elem.tag) in ("vector", "array"):
                    prop["value"] = []
            elif ev == END and depth == 3 and not isinstance(prop["value"], list):
                prop["value"] = text
            elif ev == END and depth > 3 and isinstance(prop["value"], list):
                if local(elem.tag) != "variant" and len(prop["value"]) < MAX_VALUES:
                    prop["value"].append(text)
            elif ev == END and depth == 2:
                if len(custom) < MAX_VALUES:
                    custom[key] = prop
                prop = None

    # --- fonts -------------------------------------------------------------------------------

    def read_fonts(self) -> None:
        scheme_fonts: list[str] = []
        for part in self.roles.get("theme", [])[:20]:
            self.pkg.parse_direct(part, lambda q: theme_fonts(scheme_fonts, q))
        if scheme_fonts:
            self.meta["theme_fonts"] = scheme_fonts
        fonts: list[str] = []
        for part in self.roles.get("word_fonts", [])[:1]:
            self.pkg.parse_fast(part, lambda q: elements(q, FONT_TABLE_NAMES, font_table_end(fonts), truncating(fonts)),
                                lambda ev, nm: named_values(ev, nm, fonts, "font", "name"), FONT_TABLE_NAMES)
        for part in self.roles.get("xl_styles", [])[:1]:
            self.pkg.parse_fast(part, lambda q: elements(q, XL_NAME, xl_fonts_end(fonts), truncating(fonts)),
                                lambda ev, nm: xl_fonts_consumer(ev, nm, fonts), XL_FONT_NAMES)
        if not fonts and self.roles.get("ppt_slide"):
            fonts = list(scheme_fonts)
        if fonts or "word_fonts" in self.roles or "xl_styles" in self.roles or "ppt_slide" in self.roles:
            self.meta["fonts"] = fonts

    # --- word --------------------------------------------------------------------------------

    def read_word(self) -> None:
        main = self.main_part("word_main")
        if main is None and not self.roles.get("word_settings"):
            return
        for part in self.roles.get("word_settings", [])[:1]:
            self.pkg.parse_fast(part, lambda q, p=part: self.settings_direct(q, p),
                                lambda ev, nm, p=part: self.settings_consumer(ev, nm, p))
        changes: list[dict[str, Any]] = []
        counter = [0]
        for part in ([main] if main else []) + self.roles.get("word_text", []):
            if self.text.full and counter[0] >= MAX_LISTED:
                break
            self.text.add("\n")
            self.pkg.parse_direct(part, lambda q, p=part: word_story(self.text, changes, counter, p, q))
        self.meta["tracked_changes"] = changes
        self.meta["tracked_changes_count"] = counter[0]
        comments: list[dict[str, Any]] = []
        for part in self.roles.get("word_comments", []):
            self.text.add("\n")
            self.pkg.parse(part, lambda ev, nm: word_comments_consumer(ev, nm, self.text, comments))
        if comments:
            self.meta["comments"] = comments[:MAX_LISTED]

    def settings_direct(self, q: QNames, part: str) -> Direct:
        """As `settings_consumer`, the fast way."""
        settings: dict[str, Any] = {}
        rsids: list[str] = []
        self.meta["settings"] = settings
        self.meta["rsids"] = rsids
        meta = self.meta

        def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
            if name == "rsidRoot":
                meta["rsid_root"] = raw_attr(attrs, "val")
            elif name == "rsid" and len(rsids) < MAX_VALUES:
                rsids.append(raw_attr(attrs, "val") or "")
            elif len(names) == 1 and name in SETTINGS_OF_NOTE:
                settings[name] = raw_attrs_local(attrs) or True
                if name == "attachedTemplate":
                    rid = raw_attr(attrs, "id")
                    target = next((r.target for r in self.rels.get(part.lower(), []) if r.rid == rid), None)
                    settings[name] = {"rid": rid, "target": target}
            elif name == "compatSetting" and raw_attr(attrs, "name") == "compatibilityMode":
                settings["compatibilityMode"] = raw_attr(attrs, "val")
            elif name == "docVar":
                dv = settings.setdefault("docVars", {})
                if len(dv) < MAX_LISTED:
                    dv[raw_attr(attrs, "name") or ""] = raw_attr(attrs, "val")
            elif name == "docId":
                prefix = key.rpartition(":")[0]
                uri = q.bound(prefix) if prefix else None
                if uri is None:  # the default namespace, not followed the fast way
                    raise Redo(key)
                settings[f"docId_{prefixed('{' + uri + '}' + name, 'w').split(':')[0]}"] = raw_attr(attrs, "val")

        def checkpoint() -> Callable[[], None]:
            had, root = "rsid_root" in meta, meta.get("rsid_root")

            def undo() -> None:  # the exact way starts its settings and rsids afresh
                if had:
                    meta["rsid_root"] = root
                else:
                    meta.pop("rsid_root", None)
            return undo

        return elements(q, None, on_end, checkpoint)

    def settings_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str], part: str) -> None:
        settings: dict[str, Any] = {}
        rsids: list[str] = []
        self.meta["settings"] = settings
        self.meta["rsids"] = rsids
        for ev, elem, _ in events:
            if ev != END:
                continue
            name, depth = local(elem.tag), len(names)
            if name == "rsidRoot":
                self.meta["rsid_root"] = attr(elem, "val")
            elif name == "rsid" and len(rsids) < MAX_VALUES:
                rsids.append(attr(elem, "val") or "")
            elif depth == 2 and name in SETTINGS_OF_NOTE:
                settings[name] = attrs_local(elem) or True
                if name == "attachedTemplate":
                    rid = attr(elem, "id")
                    target = next((r.target for r in self.rels.get(part.lower(), []) if r.rid == rid), None)
                    settings[name] = {"rid": rid, "target": target}
            elif name == "compatSetting" and attr(elem, "name") == "compatibilityMode":
                settings["compatibilityMode"] = attr(elem, "val")
            elif name == "docVar":
                dv = settings.setdefault("docVars", {})
                if len(dv) < MAX_LISTED:
                    dv[attr(elem, "name") or ""] = attr(elem, "val")
            elif name == "docId":
                settings[f"docId_{prefixed(elem.tag, 'w').split(':')[0]}"] = attr(elem, "val")

    # --- excel -------------------------------------------------------------------------------

    def read_excel(self) -> None:
        workbook = self.main_part("xl_workbook")
        if workbook is None and not self.roles.get("xl_sheet"):
            return
        sheets: list[dict[str, Any]] = []
        if workbook:
            settings: dict[str, Any] = {}
            self.pkg.parse_fast(workbook, lambda q: elements(q, WORKBOOK_NAMES, workbook_end(sheets, settings),
                                                             workbook_checkpoint(sheets, settings)),
                                lambda ev, nm: workbook_consumer(ev, nm, sheets, settings))
            if settings:
                self.meta["settings"] = settings
        self.meta["sheet_names"] = [s["name"] for s in sheets]
        hidden = {s["name"]: s["state"] for s in sheets if s.get("state") not in (None, "visible")}
        if hidden:
            self.meta["hidden_sheets"] = hidden
        strings: list[str] = []
        for part in self.roles.get("xl_strings", [])[:1]:
            self.pkg.parse_fast(part, lambda q: elements(q, SHARED_STRINGS_ENDS, shared_strings_end(strings, self.text.limit),
                                                         truncating(strings), T_TEXT),
                                lambda ev, nm: shared_strings_consumer(ev, nm, strings, self.text.limit),
                                SHARED_STRINGS_NAMES)
        self.meta["shared_strings_count"] = len(strings)
        wb_rels = {r.rid: r.target for r in self.rels.get((workbook or "").lower(), [])}
        order: list[tuple[str, str]] = []
        for s in sheets:
            target = wb_rels.get(s.get("rid") or "")
            part = self.pkg.info(target).filename if target and self.pkg.info(target) else None
            if part:
                order.append((s["name"], part))
        listed = {p.lower() for _, p in order}
        order += [("", p) for p in self.roles.get("xl_sheet", []) if p.lower() not in listed]
        for name, part in order:
            if self.text.full:
                break
            self.text.add(f"\n{name}\n" if name else "\n")
            self.pkg.parse_direct(part, lambda q: sheet_cells(strings, self.text, q))
        authors: list[str] = []
        for part in self.roles.get("xl_comments", []):
            self.pkg.parse(part, lambda ev, nm: xl_comments_consumer(ev, nm, self.text, authors))
        if authors:
            self.meta["comment_authors"] = sorted(set(authors))[:MAX_LISTED]

    # --- powerpoint --------------------------------------------------------------------------

    def read_powerpoint(self) -> None:
        slides = self.roles.get("ppt_slide", [])
        for part in slides + self.roles.get("ppt_notes", []):
            if self.text.full:
                break
            self.text.add("\n")
            self.pkg.parse(part, lambda ev, nm: drawing_text_consumer(ev, nm, self.text), DRAWING_TEXT_NAMES)
        comments: list[dict[str, Any]] = []
        for part in self.roles.get("ppt_comments", []):
            self.pkg.parse(part, lambda ev, nm: ppt_comments_consumer(ev, nm, self.text, comments))
        if comments:
            self.meta["comments"] = comments[:MAX_LISTED]

    def read_counts(self) -> None:
        app = self.meta.get("app") or {}
        counts: dict[str, int | None] = {}
        for key, src in (("pages", "Pages"), ("words", "Words"), ("characters", "Characters"),
                         ("characters_with_spaces", "CharactersWithSpaces"), ("paragraphs", "Paragraphs"),
                         ("lines", "Lines"), ("slides", "Slides"), ("notes", "Notes"),
                         ("hidden_slides", "HiddenSlides"), ("total_time", "TotalTime")):
            if src in app and isinstance(app[src], str):
                counts[key] = to_int(app[src])
        if "ppt_slide" in self.roles:
            counts["slide_parts"] = len(self.roles["ppt_slide"])
        if "sheet_names" in self.meta:
            counts["sheets"] = len(self.meta["sheet_names"])
        if "xl_sheet" in self.roles:
            counts["worksheet_parts"] = len(self.roles["xl_sheet"])
        self.meta["counts"] = counts


def resolve(source: str, target: str) -> str:
    """A relationship target as a part name (relative to its source part's folder)."""
    target = target.split("#", 1)[0]
    if target.startswith("/"):
        return posixpath.normpath(target).lstrip("/")
    base = posixpath.dirname(source)
    joined = posixpath.normpath(posixpath.join(base, target)) if target else base
    return joined.lstrip("/") if joined != "." else ""


_PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://schemas.openxmlformats.org/package/2006/metadata/core-properties": "cp",
    "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties": "app",
    "http://purl.oclc.org/ooxml/officeDocument/extendedProperties": "app",
    "http://schemas.microsoft.com/office/word/2010/wordml": "w14",
    "http://schemas.microsoft.com/office/word/2012/wordml": "w15",
    "http://schemas.microsoft.com/office/word/2015/wordml/symex": "w16se",
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main": "w",
    "urn:oasis:names:tc:opendocument:xmlns:meta:1.0": "meta",
    "urn:oasis:names:tc:opendocument:xmlns:office:1.0": "office",
    "urn:oasis:names:tc:opendocument:xmlns:config:1.0": "config",
    "http://www.w3.org/1999/xlink": "xlink",
    "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0": "manifest",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
}
_CORE_NS = {"dc", "dcterms", "cp"}


def prefixed(tag: str, default: str) -> str:
    """'prefix:local' for known namespaces; the local name alone for `default`; '{ns}local' else."""
    ns = ns_of(tag)
    prefix = _PREFIXES.get(ns)
    if prefix == default or (not ns and default):
        return local(tag)
    if prefix:
        return f"{prefix}:{local(tag)}"
    return tag


def core_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], values: dict[str, Any],
                  types: dict[str, str], dups: dict[str, list[str]]) -> None:
    """docProps/core.xml: every child of coreProperties, keyed by local name, text as written."""
    for ev, elem, text in events:
        if ev != END or len(names) < 2:
            continue
        if len(names) > 2:  # a value nested deeper than allowed: keep it with its parent's text
            continue
        ns = ns_of(elem.tag)
        key = local(elem.tag) if _PREFIXES.get(ns) in _CORE_NS else elem.tag
        if key in values:
            dups.setdefault(key, [values[key]]).append(text)
            continue
        values[key] = text
        xsi = elem.get("{http://www.w3.org/2001/XMLSchema-instance}type")
        if xsi is not None:
            types[key] = xsi
        lang = elem.get("{http://www.w3.org/XML/1998/namespace}lang")
        if lang is not None:
            types[f"{key}@xml:lang"] = lang


EndCall = Callable[[str, str, dict[str, str], str, list[str]], None]


def elements(q: QNames, wanted: frozenset[str] | None, on_end: EndCall, checkpoint: Callable[[], Callable[[], None]],
             texts: frozenset[str] = frozenset()) -> Direct:
    """A Direct consumer for the fast way (its checkpoint is taken once, for the whole part) of the small parts
    that `walk` consumers read: `on_end(local name, expat name, attributes, direct text, ancestors' local
    names)` at the end of each element named in `wanted` (all when None); the direct text only of `texts`."""
    names: list[str] = []  # local names of the open elements
    open_attrs: list[dict[str, str]] = []
    direct: list[list[str]] = []  # direct text of the open `texts` elements
    pend: list[str] = []
    q_locals, known_attrs, check, scopes = q.locals, q.ok_attrs.issuperset, q.check, q.scopes

    def flush() -> None:
        joined = "".join(pend)
        pend.clear()
        if joined and names and names[-1] in texts:
            direct[-1].append(joined)

    def start(key: str, attrs: dict[str, str]) -> None:
        if pend:
            flush()
        depth = len(names)
        if depth >= MAX_XML_DEPTH:
            raise IngestError(TOO_DEEP, f"XML nested over {MAX_XML_DEPTH} elements deep")
        name = q_locals.get(key)
        if name is None or attrs and not known_attrs(attrs):
            name = check(key, attrs, depth)
        names.append(name)
        open_attrs.append(attrs)
        if name in texts:
            direct.append([])

    def end(key: str) -> None:
        if pend:
            flush()
        name = names.pop()
        attrs = open_attrs.pop()
        text = "".join(direct.pop()) if name in texts else ""
        if wanted is None or name in wanted:
            on_end(name, key, attrs, text, names)
        if scopes and scopes[-1][0] > len(names):
            scopes.pop()

    return Direct(start, end, pend, lambda: False, checkpoint)


def raw_attrs_local(attrs: dict[str, str]) -> dict[str, str]:
    """As `attrs_local`, of expat's raw attributes."""
    out: dict[str, str] = {}
    for k, v in attrs.items():
        if not is_decl(k):
            out.setdefault(k[max(k.rfind("}"), k.rfind(":")) + 1:], v)
    return out


def truncating(*lists: list[Any]) -> Callable[[], Callable[[], None]]:
    """A checkpoint that takes back what was appended to `lists` since."""
    def checkpoint() -> Callable[[], None]:
        sizes = [len(x) for x in lists]

        def undo() -> None:
            for x, n in zip(lists, sizes):
                del x[n:]
        return undo
    return checkpoint


def theme_fonts(fonts: list[str], q: QNames) -> Direct:
    """The typefaces of a theme's font scheme, as a Direct consumer (see `word_story`). It stops at the end of
    the first font scheme (a theme has one): the format scheme after it, most of a theme, says nothing of fonts."""
    names: list[str] = []  # local names of the open elements
    in_scheme = 0  # open a:fontScheme elements
    faces: list[str | None] = []  # typeface of the open latin, ea, cs and font elements
    pend: list[str] = []  # text is not looked at
    q_locals, known_attrs, check, scopes = q.locals, q.ok_attrs.issuperset, q.check, q.scopes

    def start(key: str, attrs: dict[str, str]) -> None:
        nonlocal in_scheme
        pend.clear()
        depth = len(names)
        if depth >= MAX_XML_DEPTH:
            raise IngestError(TOO_DEEP, f"XML nested over {MAX_XML_DEPTH} elements deep")
        name = q_locals.get(key)
        if name is None or attrs and not known_attrs(attrs):
            name = check(key, attrs, depth)
        names.append(name)
        if name == "fontScheme":
            in_scheme += 1
        elif name in THEME_FACES:
            faces.append(attrs.get("typeface"))

    def end(key: str) -> None:
        nonlocal in_scheme
        pend.clear()
        name = names.pop()
        if scopes and scopes[-1][0] > len(names):
            scopes.pop()
        if name == "fontScheme":
            in_scheme -= 1
            if not in_scheme:
                raise Stop
        elif name in THEME_FACES:
            face = faces.pop()
            if in_scheme and face and face not in fonts and len(fonts) < MAX_VALUES:
                fonts.append(face)

    def checkpoint() -> Callable[[], None]:
        n_fonts = len(fonts)

        def undo() -> None:
            del fonts[n_fonts:]
        return undo

    return Direct(start, end, pend, lambda: False, checkpoint)


def named_values(events: Iterator[tuple[int, Any, str]], names: list[str], out: list[str],
                 tag: str, attribute: str) -> None:
    for ev, elem, _ in events:
        if ev == END and local(elem.tag) == tag:
            v = attr(elem, attribute)
            if v and v not in out and len(out) < MAX_VALUES:
                out.append(v)


def xl_fonts_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], out: list[str]) -> None:
    for ev, elem, _ in events:
        if ev == END and local(elem.tag) == "name" and len(names) >= 2 and names[-2] == "font":
            v = attr(elem, "val")
            if v and v not in out and len(out) < MAX_VALUES:
                out.append(v)


def font_table_end(out: list[str]) -> EndCall:
    """As `named_values(..., "font", "name")`, for `elements`."""
    def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
        v = raw_attr(attrs, "name")
        if v and v not in out and len(out) < MAX_VALUES:
            out.append(v)
    return on_end


def xl_fonts_end(out: list[str]) -> EndCall:
    """As `xl_fonts_consumer`, for `elements`."""
    def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
        if names and names[-1] == "font":
            v = raw_attr(attrs, "val")
            if v and v not in out and len(out) < MAX_VALUES:
                out.append(v)
    return on_end


def shared_strings_end(strings: list[str], limit: int) -> EndCall:
    """As `shared_strings_consumer`, for `elements`."""
    cur: list[str] = []
    total = 0

    def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
        nonlocal total
        if name == "t":
            if "rPh" not in names:
                cur.append(text)
        else:
            s = "".join(cur) if total < limit else ""
            total += len(s)
            strings.append(s)
            cur.clear()
    return on_end


def workbook_end(sheets: list[dict[str, Any]], settings: dict[str, Any]) -> EndCall:
    """As `workbook_consumer`, for `elements`."""
    def on_end(name: str, key: str, attrs: dict[str, str], text: str, names: list[str]) -> None:
        if name == "sheet" and len(sheets) < MAX_VALUES:
            sheets.append({"name": attrs.get("name") or "", "sheet_id": attrs.get("sheetId"),
                           "state": attrs.get("state"), "rid": raw_attr(attrs, "id")})
        elif name in WORKBOOK_OF_NOTE and name not in settings:
            settings[name] = raw_attrs_local(attrs) or True
    return on_end


def workbook_checkpoint(sheets: list[dict[str, Any]], settings: dict[str, Any]) -> Callable[[], Callable[[], None]]:
    def checkpoint() -> Callable[[], None]:
        n, keys = len(sheets), set(settings)

        def undo() -> None:
            del sheets[n:]
            for k in set(settings) - keys:
                del settings[k]
        return undo
    return checkpoint


# The elements each text consumer looks at (see `walk`): the others are mostly empty formatting leaves.
WORD_STARTS = frozenset({"t", "Fallback"} | CHANGE_TAGS)
WORD_ENDS = frozenset({"t", "tab", "br", "cr", "noBreakHyphen", "p", "tc", "tr", "Fallback"} | CHANGE_TAGS)
SHARED_STRINGS_NAMES = frozenset({"t", "si", "rPh"})
SHEET_NAMES = frozenset({"c", "v", "t", "row"})
DRAWING_TEXT_NAMES = frozenset({"Fallback", "t", "br", "p"})
THEME_FACES = frozenset({"latin", "ea", "cs", "font"})
FONT_TABLE_NAMES = frozenset({"font"})
XL_FONT_NAMES = frozenset({"font", "name"})
# What the `elements` readers end on.
XL_NAME = frozenset({"name"})
SHARED_STRINGS_ENDS = frozenset({"t", "si"})
T_TEXT = frozenset({"t"})
CONTENT_TYPES_NAMES = frozenset({"Default", "Override"})
RELS_NAMES = frozenset({"Relationship"})
WORKBOOK_NAMES = frozenset({"sheet"} | WORKBOOK_OF_NOTE)


def raw_attr(attrs: dict[str, str], name: str) -> str | None:
    """An attribute of expat's raw attributes ('ns}local' or 'prefix:local') by local name, whatever its
    namespace (as `attr`); namespace declarations are not attributes."""
    for k, v in attrs.items():
        if k[max(k.rfind("}"), k.rfind(":")) + 1:] == name and not is_decl(k):
            return v
    return None


def word_story(text: TextBuf, changes: list[dict[str, Any]], counter: list[int], part: str, q: QNames) -> Direct:
    """Text of a WordprocessingML story (w:t, tabs, breaks), and its tracked changes, as a Direct consumer.
    Every element is seen, not only those `walk` hands out for a `keep`: the ancestors of the elements
    looked at are handed out either way, so `names` is the same."""
    names: list[str] = []  # local names of the open elements
    pend: list[str] = []
    t_text: list[list[str]] = []  # direct text of the open w:t elements
    marks: list[tuple[str | None, str | None]] = []  # author and date of the open change elements
    q_locals, known_attrs, check, scopes = q.locals, q.ok_attrs.issuperset, q.check, q.scopes
    fallback = 0  # open mc:Fallback elements: their content repeats the mc:Choice
    stopped = False

    def flush() -> None:
        joined = "".join(pend)
        pend.clear()
        if joined and names and names[-1] == "t":
            t_text[-1].append(joined)

    def start(key: str, attrs: dict[str, str]) -> None:
        nonlocal fallback
        if pend:
            flush()
        depth = len(names)
        if depth >= MAX_XML_DEPTH:
            raise IngestError(TOO_DEEP, f"XML nested over {MAX_XML_DEPTH} elements deep")
        name = q_locals.get(key)
        if name is None or attrs and not known_attrs(attrs):
            name = check(key, attrs, depth)
        names.append(name)
        if name not in WORD_STARTS:  # most elements: formatting leaves
            return
        if name == "t":
            t_text.append([])
        elif name == "Fallback":
            if not stopped:
                fallback += 1
        else:
            marks.append((raw_attr(attrs, "author"), raw_attr(attrs, "date")))

    def end(key: str) -> None:
        nonlocal fallback, stopped
        if pend:
            flush()
        name = names.pop()  # `names` is now the ancestors
        if scopes and scopes[-1][0] > len(names):
            scopes.pop()
        if name not in WORD_ENDS:
            return
        direct = "".join(t_text.pop()) if name == "t" else ""
        mark = marks.pop() if name in CHANGE_TAGS else None
        if stopped:
            return
        if name == "Fallback":
            fallback -= 1
        elif mark is not None:
            author, date = mark
            if author is not None or date is not None:
                counter[0] += 1
                if len(changes) < MAX_LISTED:
                    changes.append({"type": name, "author": author, "date": date, "part": part})
        if fallback or text.full:
            pass
        elif name == "t":
            text.add(direct)
        elif name == "tab":
            if names and names[-1] == "r":
                text.add("\t")
        elif name == "br" or name == "cr":
            if names and names[-1] == "r":
                text.add("\n")
        elif name == "noBreakHyphen":
            text.add("-")
        elif name == "p":
            text.add(" " if "tc" in names else "\n")  # paragraphs of a table cell stay on its row
        elif name == "tc":
            text.add("\t")
        elif name == "tr":
            text.add("\n")
        if text.full and counter[0] >= MAX_LISTED:  # only these elements add text or changes
            stopped = True

    def checkpoint() -> Callable[[], None]:
        n_parts, size, n_changes, count = len(text.parts), text.size, len(changes), counter[0]

        def undo() -> None:
            del text.parts[n_parts:]
            del changes[n_changes:]
            text.size, counter[0] = size, count
        return undo

    return Direct(start, end, pend, lambda: stopped, checkpoint)


def word_comments_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], text: TextBuf,
                           comments: list[dict[str, Any]]) -> None:
    for ev, elem, direct in events:
        if elem is None:
            continue
        name = local(elem.tag)
        if ev == START and name == "comment":
            if len(comments) < MAX_LISTED:
                comments.append({"author": attr(elem, "author"), "date": attr(elem, "date"),
                                 "initials": attr(elem, "initials"), "id": attr(elem, "id")})
        elif ev == END and not text.full:
            if name == "t":
                text.add(direct)
            elif name == "p":
                text.add("\n")


def workbook_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], sheets: list[dict[str, Any]],
                      settings: dict[str, Any]) -> None:
    for ev, elem, _ in events:
        if ev != END:
            continue
        name = local(elem.tag)
        if name == "sheet" and len(sheets) < MAX_VALUES:
            sheets.append({"name": elem.get("name") or "", "sheet_id": elem.get("sheetId"),
                           "state": elem.get("state"), "rid": attr(elem, "id")})
        elif name in WORKBOOK_OF_NOTE and name not in settings:
            settings[name] = attrs_local(elem) or True


def shared_strings_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], strings: list[str],
                            limit: int) -> None:
    cur: list[str] = []
    total = 0
    for ev, elem, direct in events:
        if ev != END:
            continue
        name = local(elem.tag)
        if name == "t" and "rPh" not in names:
            cur.append(direct)
        elif name == "si":
            s = "".join(cur) if total < limit else ""
            total += len(s)
            strings.append(s)
            cur = []


def sheet_cells(strings: list[str], text: TextBuf, q: QNames) -> Direct:
    """The cells of a worksheet, a line per row, as a Direct consumer (see `word_story`)."""
    names: list[str] = []  # local names of the open elements
    pend: list[str] = []
    direct_text: list[list[str]] = []  # direct text of the open v and t elements
    q_locals, known_attrs, check, scopes = q.locals, q.ok_attrs.issuperset, q.check, q.scopes
    row: list[str] = []
    ctype = ""
    value: str | None = None
    inline: list[str] = []
    stopped = False

    def flush() -> None:
        joined = "".join(pend)
        pend.clear()
        if joined and names and (names[-1] == "v" or names[-1] == "t"):
            direct_text[-1].append(joined)

    def start(key: str, attrs: dict[str, str]) -> None:
        nonlocal ctype, value, inline
        if pend:
            flush()
        depth = len(names)
        if depth >= MAX_XML_DEPTH:
            raise IngestError(TOO_DEEP, f"XML nested over {MAX_XML_DEPTH} elements deep")
        name = q_locals.get(key)
        if name is None or attrs and not known_attrs(attrs):
            name = check(key, attrs, depth)
        names.append(name)
        if name not in SHEET_NAMES:  # formulas, inline-string runs' formatting ...
            return
        if name == "v" or name == "t":
            direct_text.append([])
        elif name == "c" and not stopped:
            ctype, value, inline = attrs.get("t") or "n", None, []

    def end(key: str) -> None:
        nonlocal value, row, stopped
        if pend:
            flush()
        name = names.pop()  # `names` is now the ancestors
        if scopes and scopes[-1][0] > len(names):
            scopes.pop()
        if name not in SHEET_NAMES:
            return
        if name == "v" or name == "t":
            direct = "".join(direct_text.pop())
            if stopped:
                return
            if name == "v":
                value = direct
            elif "is" in names:
                inline.append(direct)
        elif stopped:
            return
        elif name == "c":
            row.append(cell_text(ctype, value, inline, strings))
        elif name == "row":
            while row and not row[-1]:
                row.pop()
            if row:
                text.add("\t".join(row) + "\n")
            row = []
            stopped = text.full

    def checkpoint() -> Callable[[], None]:
        n_parts, size = len(text.parts), text.size

        def undo() -> None:
            del text.parts[n_parts:]
            text.size = size
        return undo

    return Direct(start, end, pend, lambda: stopped, checkpoint)


def cell_text(ctype: str, value: str | None, inline: list[str], strings: list[str]) -> str:
    if ctype == "inlineStr":
        return "".join(inline)
    if value is None:
        return ""
    if ctype == "s":
        i = to_int(value)
        return strings[i] if i is not None and 0 <= i < len(strings) else ""
    if ctype == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    return value


def xl_comments_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], text: TextBuf,
                         authors: list[str]) -> None:
    for ev, elem, direct in events:
        if ev != END:
            continue
        name = local(elem.tag)
        if name == "author" and len(authors) < MAX_VALUES:
            authors.append(direct)
        elif name == "t" and "rPh" not in names:
            text.add(direct)
        elif name in ("comment", "threadedComment"):
            text.add("\n")


def drawing_text_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], text: TextBuf) -> None:
    """DrawingML text (slides, notes): a:t runs, a:br, one line per a:p."""
    fallback = 0
    for ev, elem, direct in events:
        if elem is None:
            continue
        name = local(elem.tag)
        if ev == START:
            fallback += name == "Fallback"
            continue
        if ev != END:
            continue
        if name == "Fallback":
            fallback -= 1
        elif fallback:
            continue
        elif name == "t":
            text.add(direct)
        elif name in ("br", "p"):
            text.add("\n")
        if text.full:
            return


def ppt_comments_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], text: TextBuf,
                          comments: list[dict[str, Any]]) -> None:
    for ev, elem, direct in events:
        if elem is None:
            continue
        name = local(elem.tag)
        if ev == START and name == "cm" and len(comments) < MAX_LISTED:
            comments.append({"author_id": elem.get("authorId"), "date": elem.get("dt") or elem.get("created")})
        elif ev == END and name in ("text", "t"):
            text.add(direct + "\n")


def read_package(blob: Blob, ctx: Context, family: Any) -> None:
    """Open the zip, let the family (Ooxml or Odf) read its parts, keep the text even if it fails midway."""
    f, zf = open_zip(blob)
    text = TextBuf(ctx.limits.max_text_chars)
    pkg = Package(zf, ctx)
    try:
        family(pkg, ctx, text).run()
    finally:
        zf.close()
        f.close()
        if text.size:
            ctx.out.add_text(text.text(), ctx.limits.max_text_chars)
    if pkg.fatal is not None:
        raise pkg.fatal


def read_ooxml(blob: Blob, ctx: Context) -> None:
    read_package(blob, ctx, Ooxml)


class OoxmlReader:
    name = "ooxml"
    mimes = frozenset(sniff.OOXML_TYPES)
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        read_ooxml(blob, ctx)
        return iter(())


# --------------------------------------------------------------------------------------------
# ODF
# --------------------------------------------------------------------------------------------

NS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
NS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
NS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
NS_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
NS_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ODF_SETTINGS_OF_NOTE = {
    "Rsid", "RsidRoot", "PrinterName", "CurrentDatabaseDataSource", "CurrentDatabaseCommand",
    "CurrentDatabaseCommandType", "LoadReadonly", "RedlineProtectionKey", "ApplyUserData", "EmbedFonts",
    "SaveVersionOnClose", "UpdateFromTemplate", "PrinterIndependentLayout", "RecordChanges",
    "AllowPrintJobCancel", "SaveThumbnail", "HasSheetTabs", "ShowRedlineChanges",
}


@dataclass
class Odf:
    pkg: Package
    ctx: Context
    text: TextBuf
    encrypted: dict[str, dict[str, Any]] = field(default_factory=dict)  # part -> encryption data

    @property
    def meta(self) -> dict[str, Any]:
        return self.ctx.out.metadata

    def run(self) -> None:
        self.meta["format"] = "odf"
        self.pkg.record_parts()
        self.read_mimetype()
        self.pkg.parse("META-INF/manifest.xml", self.manifest_consumer)
        names = [n.lower() for n in self.pkg.order]
        macros = [n for n in self.pkg.order if n.lower().startswith(("basic/", "scripts/"))
                  and not n.endswith("/")]
        self.meta["has_macros"] = bool(macros)
        self.meta["macros"] = macros[:MAX_LISTED]
        if "meta.xml" in names:
            self.read_part("meta.xml", self.meta_consumer)
        if "settings.xml" in names:
            self.read_part("settings.xml", self.settings_consumer)
        fonts: list[str] = []
        for part in ("styles.xml", "content.xml"):
            if part in names:
                self.read_part(part, lambda ev, nm: odf_fonts_consumer(ev, nm, fonts))
        self.meta["fonts"] = fonts
        if "content.xml" in names:
            self.read_part("content.xml", self.content_consumer)
        if "content.xml" in self.encrypted:
            algo = self.encrypted["content.xml"].get("algorithm") or "unknown algorithm"
            raise IngestError(ENCRYPTED, f"password-protected ODF (content.xml encrypted with {algo})")

    def read_part(self, part: str, consumer: Callable[[Iterator[tuple[int, Any, str]], list[str]], None]) -> None:
        """Parse a part unless the manifest says it is encrypted (its bytes are not XML then)."""
        if part in self.encrypted:
            self.meta.setdefault("encrypted_parts", [])
            if part not in self.meta["encrypted_parts"]:
                self.meta["encrypted_parts"].append(part)
            return
        self.pkg.parse(part, consumer)

    def read_mimetype(self) -> None:
        info = self.pkg.info("mimetype")
        if info is None:
            return
        try:
            with self.pkg.zf.open(info) as raw:
                self.meta["mimetype"] = raw.read(256).decode("utf-8", "replace")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
            self.meta.setdefault("part_errors", {})["mimetype"] = f"{type(e).__name__}: {e}"
        first = self.pkg.order[0] if self.pkg.order else None
        self.meta["mimetype_first"] = first == "mimetype"
        self.meta["mimetype_stored"] = info.compress_type == zipfile.ZIP_STORED

    def manifest_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        manifest: dict[str, Any] = {"entries": 0}
        self.meta["manifest"] = manifest
        embedded: list[dict[str, Any]] = []
        entry: dict[str, Any] | None = None
        for ev, elem, _ in events:
            if elem is None:
                continue
            name = local(elem.tag)
            if ev == START and name == "manifest":
                manifest.update({prefixed(k, ""): v for k, v in elem.attrib.items()})
            elif ev == START and name == "file-entry":
                path = elem.get(f"{{{NS_MANIFEST}}}full-path") or ""
                mt = elem.get(f"{{{NS_MANIFEST}}}media-type") or ""
                entry = {"path": path}
                manifest["entries"] += 1
                if path == "/":
                    manifest["media_type"] = mt
                    manifest["root_version"] = elem.get(f"{{{NS_MANIFEST}}}version")
                elif path.endswith("/") and mt.startswith(sniff.ODF_PREFIX) or "objectreplacements/" in path.lower():
                    if len(embedded) < MAX_LISTED:
                        embedded.append({"name": path, "content_type": mt})
            elif ev == START and entry is not None and name in ("encryption-data", "algorithm", "key-derivation",
                                                               "start-key-generation"):
                enc = entry.setdefault("enc", {})
                for k, v in elem.attrib.items():
                    lk = local(k)
                    if lk in ("algorithm-name", "key-derivation-name", "start-key-generation-name",
                              "iteration-count", "key-size", "checksum-type"):
                        enc[{"algorithm-name": "algorithm"}.get(lk, lk)] = v
            elif ev == END and name == "file-entry" and entry is not None:
                if "enc" in entry and len(self.encrypted) < MAX_VALUES:
                    self.encrypted[entry["path"]] = entry["enc"]
                entry = None
        self.meta["has_embedded"] = bool(embedded)
        self.meta["embedded"] = embedded
        if self.encrypted:
            self.meta["encryption"] = next(iter(self.encrypted.values()))
            self.meta["encrypted_parts"] = sorted(self.encrypted)[:MAX_LISTED]

    def meta_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        meta: dict[str, Any] = {}
        user: dict[str, Any] = {}
        counts: dict[str, int | None] = {}
        self.meta["meta"] = meta
        for ev, elem, text in events:
            if elem is None:
                continue
            if ev == START and len(names) == 1:
                version = elem.get(f"{{{NS_OFFICE}}}version")
                if version:
                    self.meta["odf_version"] = version
            if ev != END or len(names) != 3:  # office:document-meta / office:meta / <field>
                continue
            key = prefixed(elem.tag, "")
            if key == "meta:user-defined":
                name = elem.get(f"{{{NS_META}}}name") or ""
                if len(user) < MAX_VALUES:
                    user[name] = {"type": elem.get(f"{{{NS_META}}}value-type") or "string", "value": text}
                continue
            if elem.attrib:
                value: Any = {prefixed(k, ""): v for k, v in elem.attrib.items()}
                if text.strip():
                    value["text"] = text
                if key == "meta:document-statistic":  # 'page-count' -> 'pages', as for OOXML
                    for k, v in elem.attrib.items():
                        counts[local(k).removesuffix("-count").replace("-", "_") + "s"] = to_int(v)
            else:
                value = text
            if key in meta:  # meta:keyword and the like repeat: keep them all, in order
                if not isinstance(meta[key], list):  # values are str or dict, so a list means repeated
                    meta[key] = [meta[key]]
                if len(meta[key]) < MAX_VALUES:
                    meta[key].append(value)
            else:
                meta[key] = value
        if user:
            self.meta["user_defined"] = user
        self.meta["counts"] = counts

    def settings_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        settings: dict[str, Any] = {}
        self.meta["settings"] = settings
        for ev, elem, text in events:
            if ev != END or local(elem.tag) != "config-item":
                continue
            name = attr(elem, "name") or ""
            if name in ODF_SETTINGS_OF_NOTE and name not in settings:
                settings[name] = text if attr(elem, "type") != "base64Binary" else f"<base64, {len(text)} chars>"

    def content_consumer(self, events: Iterator[tuple[int, Any, str]], names: list[str]) -> None:
        consumer = OdfText(self.text)
        consumer.consume(events)
        media = self.meta.get("mimetype") or (self.meta.get("manifest") or {}).get("media_type") or ""
        if "spreadsheet" in media:  # elsewhere table:table is a table in the text, not a sheet
            self.meta["sheet_names"] = consumer.sheets[:MAX_VALUES]
            self.meta.setdefault("counts", {})["sheets"] = len(consumer.sheets)
        if consumer.pages:
            self.meta.setdefault("counts", {})["draw_pages"] = consumer.pages
        self.meta["tracked_changes"] = consumer.changes
        self.meta["tracked_changes_count"] = consumer.changes_count
        self.meta["comments"] = consumer.comments
        self.meta["has_comments"] = bool(consumer.comments)
        self.meta["external_links"] = consumer.links


def odf_fonts_consumer(events: Iterator[tuple[int, Any, str]], names: list[str], fonts: list[str]) -> None:
    for ev, elem, _ in events:
        if ev == END and local(elem.tag) == "font-face" and "font-face-decls" in names:
            for key in ("name", "font-family"):
                v = attr(elem, key)
                if v:
                    v = v.strip("'\"")
                    if v not in fonts and len(fonts) < MAX_VALUES:
                        fonts.append(v)


class OdfText:
    """Text of content.xml (paragraphs, headings, cells, frames), its changes, notes and links."""

    def __init__(self, text: TextBuf) -> None:
        self.text = text
        self.line: list[str] = []
        self.depth = 0  # open text:p / text:h
        self.skip = 0  # inside tracked-change bodies
        self.annotation: dict[str, Any] | None = None
        self.ann_text: list[str] = []
        self.ann_base = 0  # paragraph depth where the open annotation started
        self.notes: list[str] = []  # annotation texts waiting for their paragraph to end
        self.change: dict[str, Any] | None = None
        self.changes: list[dict[str, Any]] = []
        self.changes_count = 0
        self.comments: list[dict[str, Any]] = []
        self.links: list[str] = []
        self.sheets: list[str] = []
        self.pages = 0
        self.rows: list[list[str]] = []  # cells of the open table rows (tables nest)
        self.cells: list[list[str]] = []  # paragraphs of the open cells

    def consume(self, events: Iterator[tuple[int, Any, str]]) -> None:
        for ev, elem, direct in events:
            if ev == TEXT:
                self.on_text(direct)
            elif ev == START:
                self.on_start(elem)
            else:
                self.on_end(elem, direct)
            if self.text.full and self.changes_count >= MAX_LISTED:
                return

    def target(self) -> list[str]:
        return self.ann_text if self.annotation is not None else self.line

    def on_text(self, s: str) -> None:
        if self.annotation is not None and self.depth <= self.ann_base:
            return  # the note's own creator and date, not text
        if self.depth and not self.skip:
            self.target().append(s)

    def on_start(self, elem: Element) -> None:
        tag = elem.tag
        ns, name = ns_of(tag), local(tag)
        href = elem.get(XLINK_HREF)
        if href and "://" in href or href and href.startswith(("/", "../", "file:", "\\\\")):
            if len(self.links) < MAX_LISTED and href not in self.links:
                self.links.append(href)
        if ns == NS_TEXT:
            if name == "tracked-changes":
                self.skip += 1
            elif name == "changed-region":
                self.change = {"id": attr(elem, "id")}
            elif name in ("insertion", "deletion", "format-change") and self.change is not None:
                self.change["type"] = name
            elif name in ("p", "h"):
                self.depth += 1
                if self.depth > 1 and not self.skip and (self.annotation is None or self.depth > self.ann_base + 1):
                    self.target().append("\n")
            elif name == "s" and self.depth and not self.skip:
                self.target().append(" " * min(to_int(attr(elem, "c")) or 1, 1000))
            elif name == "tab" and self.depth and not self.skip:
                self.target().append("\t")
            elif name == "line-break" and self.depth and not self.skip:
                self.target().append("\n")
        elif ns == NS_OFFICE and name == "annotation" and self.annotation is None:
            self.annotation = {}
            self.ann_text = []
            self.ann_base = self.depth
        elif ns == NS_TABLE and name == "table":
            self.sheets.append(attr(elem, "name") or "")
        elif ns == NS_TABLE and name == "table-row":
            self.rows.append([])
        elif ns == NS_TABLE and name in ("table-cell", "covered-table-cell"):
            self.cells.append([])
        elif ns == NS_DRAW and name == "page":
            self.pages += 1

    def on_end(self, elem: Element, direct: str) -> None:
        tag = elem.tag
        ns, name = ns_of(tag), local(tag)
        if ns == NS_DC and name in ("creator", "date"):
            if self.change is not None:
                self.change[{"creator": "author"}.get(name, name)] = direct
            elif self.annotation is not None:
                self.annotation[{"creator": "author"}.get(name, name)] = direct
            return
        if ns == NS_TEXT:
            if name == "tracked-changes":
                self.skip -= 1
            elif name == "changed-region" and self.change is not None:
                self.changes_count += 1
                if len(self.changes) < MAX_LISTED:
                    self.changes.append(self.change)
                self.change = None
            elif name in ("p", "h"):
                self.depth -= 1
                if self.depth == 0 and self.annotation is None and not self.skip:
                    self.emit("".join(self.line))
                    self.line = []
                    for note in self.notes:
                        self.text.add(note.strip() + "\n")
                    self.notes = []
                elif self.annotation is not None:
                    self.ann_text.append("\n")
        elif ns == NS_TABLE and name in ("table-cell", "covered-table-cell") and self.cells:
            cell = " ".join(self.cells.pop())
            if self.rows:
                self.rows[-1].append(cell)
        elif ns == NS_TABLE and name == "table-row" and self.rows:
            row = self.rows.pop()
            while row and not row[-1]:
                row.pop()
            if row:
                self.emit("\t".join(row))
        elif ns == NS_OFFICE and name == "annotation" and self.annotation is not None:
            if len(self.comments) < MAX_LISTED:
                self.annotation["text"] = "".join(self.ann_text).strip()[:2000]
                self.comments.append(self.annotation)
            self.notes.append("".join(self.ann_text))  # after its paragraph, not inside it
            self.annotation = None
            self.ann_text = []


    def emit(self, line: str) -> None:
        """A finished paragraph or row: into the open table cell, else a line of text."""
        if self.cells:
            self.cells[-1].append(line)
        else:
            self.text.add(line + "\n")


def read_odf(blob: Blob, ctx: Context) -> None:
    read_package(blob, ctx, Odf)


class OdfReader:
    name = "odf"
    mimes = frozenset({sniff.ODF_PREFIX + "*"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        read_odf(blob, ctx)
        return iter(())


READERS: list[type] = [OoxmlReader, OdfReader]
