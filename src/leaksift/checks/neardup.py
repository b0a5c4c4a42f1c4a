"""Near-duplicates: items whose text is almost the same, and documents that claim one identity with two contents.

MinHash LSH (datasketch) over 5-word shingles finds candidate pairs without comparing all pairs; each candidate
is confirmed by a word diff (difflib, capped) whose changes go in the evidence. A document's identity is what
its application stamped at save time (OOXML core creator/created/modified/revision, ODF meta, PDF Info
CreationDate/ModDate, OLE summary author/created/last saved/revision). Two contents with the same stamp are the
same save of the same file, so their text cannot differ unless one was edited outside the application:

| finding | effect | innocent explanation |
|---|---|---|
| same save stamp as a verified item, other text | contradicts | none known: an application that saves new text writes a new modified time (tools that rewrite a file without touching its metadata, e.g. scripts, are how forgers work too) |
| same save stamp, other text, neither side verified | info | we cannot tell which side was edited; a tool that saves without updating the stamp |
| same creator and creation time, other save stamp | info (versions) | genuine later revisions of one document |
| near-duplicate text, no shared identity | info | drafts, templates, forwarded text, re-typed copies |

Pairs with the same text (other bytes: a re-save, other headers) say nothing about the text and are skipped;
byte-identical copies are one content here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from datasketch import MinHash, MinHashLSH

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

WORD = re.compile(r"\w+", re.UNICODE)
SHINGLE = 5  # words per shingle
NUM_PERM = 64
LSH_THRESHOLD = 0.5  # candidates only: the word diff below decides
MIN_RATIO = 0.8  # share of words two texts must have in common to be near-duplicates
MIN_WORDS = 20  # shorter texts match too easily to mean anything
MAX_WORDS = 5000  # words compared per text: bounds the diff time
MAX_CANDIDATES = 20  # candidates examined per content: a template shared by thousands stays cheap
MAX_CHANGES = 30  # changes kept in the evidence


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def minhash(ws: list[str]) -> MinHash:
    m = MinHash(num_perm=NUM_PERM)
    m.update_batch([" ".join(ws[i:i + SHINGLE]).encode("utf-8") for i in range(max(1, len(ws) - SHINGLE + 1))])
    return m


def _s(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def identity(meta: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(who and when the document was created, its save stamp), or None when the metadata lacks them."""
    if isinstance(meta.get("core"), dict):  # OOXML
        c = meta["core"]
        born, stamp = ("ooxml", _s(c.get("creator")), _s(c.get("created"))), (_s(c.get("modified")),
                                                                             _s(c.get("revision")))
    elif isinstance(meta.get("meta"), dict) and meta.get("format") == "odf":
        m = meta["meta"]
        born, stamp = ("odf", _s(m.get("dc:creator")), _s(m.get("meta:creation-date"))), (
            _s(m.get("dc:date")), _s(m.get("meta:editing-cycles")))
    elif isinstance(meta.get("info"), dict):  # PDF
        i = meta["info"]
        born, stamp = ("pdf", _s(i.get("Author")), _s(i.get("CreationDate"))), (_s(i.get("ModDate")),)
    elif isinstance(meta.get("summary"), dict):  # OLE
        s = meta["summary"]
        born, stamp = ("ole", _s(s.get("author")), _s(s.get("created"))), (_s(s.get("last_saved")),
                                                                          _s(s.get("revision")))
    else:
        return None
    if born[2] is None or stamp[0] is None:
        return None  # without a creation and a save time, a shared identity means little
    return born, stamp


@dataclass
class Content:
    sha256: str
    kind: str
    verified: bool
    ident: tuple[tuple[str, ...], tuple[str, ...]] | None


def word_changes(a: list[str], b: list[str]) -> tuple[float, list[dict[str, str]], int]:
    """Similarity of two word lists and their changed places (a's words, b's words), the first few kept."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ratio = sm.ratio()
    changes = [{"a": " ".join(a[i1:i2]), "b": " ".join(b[j1:j2])}
               for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal"]
    return ratio, changes[:MAX_CHANGES], len(changes)


def shown_changes(changes: list[dict[str, str]], flip: bool = False) -> str:
    """The first changes in words, as “a's words” → “b's words” (or the other way round)."""
    pairs = ((c["b"], c["a"]) if flip else (c["a"], c["b"]) for c in changes[:3])
    return "; ".join(f"“{x or '∅'}” → “{y or '∅'}”" for x, y in pairs)


class NearDupCheck:
    """A case check: runs once the whole dump is in the store, after the verdicts that prove items."""

    name: ClassVar[str] = "neardup"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        for a, b in self._candidates(store):
            ta, tb = words(store.blob_text(a.sha256) or ""), words(store.blob_text(b.sha256) or "")
            if ta == tb:
                continue
            ratio, changes, n = word_changes(ta[:MAX_WORDS], tb[:MAX_WORDS])
            if ratio < MIN_RATIO or not changes:
                continue
            evidence = {"a": a.sha256, "b": b.sha256, "similarity": round(ratio, 3), "changes": changes,
                        "changed_places": n, "words_compared": [min(len(ta), MAX_WORDS), min(len(tb), MAX_WORDS)]}
            for sha, finding in self._judge(a, b, evidence):
                for loc in store.locations(sha):
                    yield loc["id"], finding

    def _candidates(self, store: CaseStore) -> Iterator[tuple[Content, Content]]:
        """Pairs of distinct contents whose MinHash signatures collide: each content queries the ones before it."""
        lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        seen: dict[str, Content] = {}
        for row in store.text_blobs(min_chars=MIN_WORDS * 2):
            ws = words(row["text"] or "")
            if len(ws) < MIN_WORDS:
                continue
            m = minhash(ws[:MAX_WORDS * 4])
            content = Content(row["sha256"], row["kind"], row["verified"], identity(row["metadata"] or {}))
            for other in sorted(lsh.query(m))[:MAX_CANDIDATES]:
                yield seen[other], content
            lsh.insert(content.sha256, m)
            seen[content.sha256] = content

    def _judge(self, a: Content, b: Content, evidence: dict[str, Any]) -> Iterator[tuple[str, Finding]]:
        shown = shown_changes(evidence["changes"])
        same_birth = a.ident is not None and b.ident is not None and a.ident[0] == b.ident[0]
        if same_birth and a.ident is not None and b.ident is not None:
            evidence = dict(evidence, created=list(a.ident[0]), stamp_a=list(a.ident[1]), stamp_b=list(b.ident[1]))
            if a.ident[1] == b.ident[1]:
                yield from self._same_save(a, b, evidence, shown)
                return
            for x in (a, b):
                yield x.sha256, Finding(self.name, "Another version of this document (same creator and creation "
                                                   f"time, other save) differs in its text: {shown}.", "info", evidence)
            return
        for x in (a, b):
            yield x.sha256, Finding(self.name, f"A near-duplicate of this text exists with changes: {shown}.",
                                    "info", evidence)

    def _same_save(self, a: Content, b: Content, evidence: dict[str, Any],
                   shown: str) -> Iterator[tuple[str, Finding]]:
        if a.verified != b.verified:
            genuine, fake = (a, b) if a.verified else (b, a)
            shown = shown_changes(evidence["changes"], flip=fake is a)  # read as verified → this copy
            yield fake.sha256, Finding(
                self.name, f"This document claims the same save as a verified copy but its text differs: {shown}.",
                "contradicts", dict(evidence, verified=genuine.sha256))
            yield genuine.sha256, Finding(
                self.name, f"A copy claiming this verified document's save has different text: {shown}.",
                "info", dict(evidence, verified=genuine.sha256))
            return
        for x in (a, b):
            yield x.sha256, Finding(self.name, "Another copy claims the same save of this document but its text "
                                               f"differs: {shown}.", "info", evidence)


CHECKS = [NearDupCheck]
