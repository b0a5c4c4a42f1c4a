"""The case baseline of documents: a known author's document carrying an editor, build, language or offset the
case has never seen.

A forger who takes a genuine document of the organisation and edits it elsewhere keeps its author but leaves
his own traces: his account as last editor (the MacronLeaks spreadsheets: an editor with a Cyrillic name), his
Office build, the language his document is set to, the time-zone offset his clock writes. The check learns from
the whole case, in two streamed passes over the documents' metadata, how often each value of each field occurs:
in the whole case (the organisation), per author, and per folder (the item's parent path). No pair of documents
is ever compared: memory grows with the number of distinct values, not of documents.

A document is a finding (weakens) when all of these hold:
- its author (creator) is one of the case's own people: not a generic account, and at least MIN_AUTHOR_DOCS other
  documents of the case name that author;
- in at least MIN_SUPPORT of that author's other documents the field is set, and their HABIT_VALUES commonest
  values cover HABIT_SHARE of them (a habit to break: two values allow summer and winter time, an upgrade);
- the document's value of the field appears in no other document of the case (not for this author, not for anyone,
  in no folder).

An outside document (its author unknown here) is never judged: leaks are full of genuine third-party files.

Fields: last editor (OOXML lastModifiedBy, OLE last_author, ODF dc:creator; one who authored any document
of the case is known),
company (app Company, OLE company), application build (what docdates.claims reads: app Application+AppVersion,
OLE app name+version, ODF generator, PDF Producer/Creator, XMP producer/tool), document language (OOXML/ODF/XMP
dc:language, OLE language, PDF /Lang; the interface language of the saving Office is uilang's, not repeated
here), and the UTC offset of each date written with one (ODF, PDF Info, XMP; OOXML always writes UTC 'Z').

| finding | effect | innocent explanations |
|---|---|---|
| a known author's document last saved by an account seen nowhere else in the case | weakens | a colleague outside the leaked mailboxes who edited it once; a shared or renamed account; a new machine |
| ... by an application build seen nowhere else | weakens | a one-off update or a colleague's computer; a file opened and saved on a phone, a web or Mac Office |
| ... with a company seen nowhere else | weakens | a document written for or with a partner; a typo corrected later |
| ... set to a language seen nowhere else | weakens | a document written in another language for a foreign recipient; a translated copy |
| ... with a time-zone offset seen nowhere else | weakens | a trip abroad; a laptop whose zone was wrong; a re-save on a server in another zone |
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext
from .docdates import _iso_date, _pdf_date, claims
from .uilang import GENERIC_NAMES

NAME = "docbaseline"
MIN_AUTHOR_DOCS = 4  # other documents of an author before the case knows them
MIN_SUPPORT = 3  # of those, documents where the field is set: a habit
HABIT_VALUES, HABIT_SHARE = 2, 0.75  # a habit: the author's two commonest values cover 75% of the other documents
SHOWN = 5  # usual values shown in the evidence
# Defaults of Office installs and templates: no one's habit (uilang's list, plus the defaults of old Office).
GENERIC = GENERIC_NAMES | {"microsoft corporation", "preferred customer", "valued customer", "registered user",
                           "unknown user", "microsoft", "none", "n/a"}
# Each document is read under the first of these keys its metadata has (one row per document, no id set).
METADATA_KEYS = ("core", "app", "meta", "summary", "doc_summary", "info", "xmp")
LABELS = {"editor": "last editor", "company": "company", "build": "application build", "language": "language",
          "offset": "time-zone offset"}
OFFSET_SOURCES = frozenset({"odf meta", "pdf info", "xmp"})


@dataclass
class Fields:
    """What one document says about who, where and with what it was written."""
    author: str | None = None
    values: dict[str, set[str]] = field(default_factory=dict)  # field -> values (a document may carry several)


def _d(meta: dict[str, Any], key: str) -> dict[str, Any]:
    v = meta.get(key)
    return v if isinstance(v, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, list):  # XMP bags: dc:creator ["A"], dc:language ["fr-FR"]
        value = ", ".join(str(v) for v in value if v)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    s = " ".join(str(value).split())
    return s or None


def _person(value: Any) -> str | None:
    s = _text(value)
    return None if s is None or s.lower() in GENERIC else s


def _offset(raw: str) -> str | None:
    dt = _pdf_date(raw) if raw.startswith("D:") or raw[:8].isdigit() else _iso_date(raw)
    off = dt.utcoffset() if isinstance(dt, datetime) else None
    if off is None:
        return None
    minutes = int(off.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def fields(meta: dict[str, Any]) -> Fields:
    core, app, summary, doc_summary = _d(meta, "core"), _d(meta, "app"), _d(meta, "summary"), _d(meta, "doc_summary")
    odf = _d(meta, "meta") if meta.get("format") == "odf" else {}
    info, xmp, catalog = _d(meta, "info"), _d(meta, "xmp"), _d(meta, "catalog")
    author = next((p for p in map(_person, (core.get("creator"), summary.get("author"),
                                           odf.get("meta:initial-creator"), info.get("Author"),
                                           xmp.get("dc:creator"))) if p), None)
    out = Fields(author=author)

    def add(name: str, value: str | None) -> None:
        if value:
            out.values.setdefault(name, set()).add(value)

    for editor in (core.get("lastModifiedBy"), summary.get("last_author"), odf.get("dc:creator")):
        p = _person(editor)
        add("editor", p.lower() if p else None)  # the author as his own editor is a habit too
    add("company", _text(app.get("Company")) or _text(doc_summary.get("company")))
    c = claims(meta)  # docdates' reading of builds and dates: one way of parsing the metadata in the project
    for _, value in c.apps:
        add("build", _text(value))
    for lang in (core.get("language"), odf.get("dc:language"), xmp.get("dc:language"), summary.get("language"),
                 catalog.get("Lang")):
        t = _text(lang)
        add("language", t.lower() if t else None)
    for s in c.stamps():
        if s.zoned and s.source in OFFSET_SOURCES:
            add("offset", _offset(s.raw))
    return out


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "/"


@dataclass
class Baseline:
    """Counts of each field's values: in the case, per author, per folder (documents, not pairs)."""
    authors: Counter[str] = field(default_factory=Counter)
    case: Counter[tuple[str, str]] = field(default_factory=Counter)  # (field, value)
    by_author: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    set_by_author: Counter[tuple[str, str]] = field(default_factory=Counter)  # (author, field): docs with it set
    by_folder: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, path: str, f: Fields) -> None:
        author = f.author.lower() if f.author else None
        if author:
            self.authors[author] += 1
        for name, values in f.values.items():
            for v in values:
                self.case[(name, v)] += 1
                self.by_folder[(_folder(path), name)][v] += 1
                if author:
                    self.by_author[(author, name)][v] += 1
            if author:
                self.set_by_author[(author, name)] += 1

    def habit(self, author: str, name: str, value: str) -> bool:
        """Whether the author's other documents set this field often enough, and mostly to a few values."""
        n = self.set_by_author[(author, name)] - 1
        others = self.by_author[(author, name)].copy()
        others[value] -= 1
        top = sum(c for _, c in others.most_common(HABIT_VALUES))
        return n >= MIN_SUPPORT and top >= HABIT_SHARE * sum(others.values())

    def unseen(self, name: str, value: str) -> bool:
        """Whether no other document of the case has this value (an editor who authored something is known)."""
        return self.case[(name, value)] == 1 and not (name == "editor" and self.authors[value] > 0)


def documents(store: CaseStore) -> Iterator[dict[str, Any]]:
    """Each document once (read under the first metadata key it has), streamed."""
    for i, key in enumerate(METADATA_KEYS):
        for doc in store.items_with_metadata(key, emails=False):
            meta = doc["metadata"]
            if doc["kind"] in ("document", "attachment") and not any(k in meta for k in METADATA_KEYS[:i]):
                yield doc


class DocBaselineCheck:
    name: ClassVar[str] = NAME
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        base = Baseline()
        for doc in documents(store):
            base.add(doc["path"], fields(doc["metadata"]))
        if not base.authors:
            return
        for doc in documents(store):
            f = fields(doc["metadata"])
            author = f.author.lower() if f.author else None
            if author is None or base.authors[author] - 1 < MIN_AUTHOR_DOCS:
                continue  # an outsider, or someone the case barely knows
            odd = [(name, v) for name in LABELS for v in sorted(f.values.get(name, ()))
                   if base.unseen(name, v) and base.habit(author, name, v)]
            for name, value in odd:
                yield doc["id"], self._finding(base, doc["path"], f.author or author, name, value)

    @staticmethod
    def _finding(base: Baseline, path: str, author: str, name: str, value: str) -> Finding:
        key = author.lower()
        usual = base.by_author[(key, name)].copy()
        usual[value] -= 1
        usual += Counter()  # drop the zero left by this document
        folder = base.by_folder[(_folder(path), name)].copy()
        folder[value] -= 1
        folder += Counter()
        shown = ", ".join(f"{v} ({n})" for v, n in usual.most_common(3))
        return Finding(
            NAME, f"This document by {author} has {LABELS[name]} “{value}”, seen in no other document of the case; "
                  f"the {base.authors[key] - 1} other documents of {author} show {shown}.", "weakens",
            {"field": name, "value": value, "author": author, "author_documents": base.authors[key] - 1,
             "author_documents_with_field": base.set_by_author[(key, name)] - 1,
             "author_values": dict(usual.most_common(SHOWN)), "folder": _folder(path),
             "folder_values": dict(folder.most_common(SHOWN)),
             "case_values": dict(Counter({v: n for (fname, v), n in base.case.items()
                                          if fname == name}).most_common(SHOWN)),
             "min_author_documents": MIN_AUTHOR_DOCS, "min_support": MIN_SUPPORT})


CHECKS = [DocBaselineCheck]
