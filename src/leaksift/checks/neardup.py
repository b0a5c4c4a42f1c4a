"""Near-duplicates: items whose text is almost the same, and documents that claim one identity with two contents.

A document's identity is what its application stamped at save time (OOXML core creator/created/modified/revision,
ODF meta, PDF Info CreationDate/ModDate, OLE summary author/created/last saved/revision). Two contents with the same
stamp are the same save of the same file, so their text cannot differ unless one was edited outside the application:

| finding | effect | innocent explanation |
|---|---|---|
| same save stamp as a verified item, other text | contradicts | none known: an application that saves new text writes a new modified time (tools that rewrite a file without touching its metadata, e.g. scripts, are how forgers work too) |
| same save stamp, other text, neither side verified | info | we cannot tell which side was edited; a tool that saves without updating the stamp |
| same creator and creation time, other save stamp | info (versions) | genuine later revisions of one document |
| near-duplicate of a cluster's representative text, no shared identity | info | drafts, templates, forwarded text, re-typed copies |
| representative of a cluster of N near-duplicates | info | a template (newsletters, notifications, mail merge), a thread quoting itself |

How it scales (streamed passes over the case's texts, in two parts of one `neardup` check):
- `NearDupCopies` reads verdicts (which copy is verified) and only documents; `NearDupClusters` reads every text
  but no verdict, and its findings are info: it may run in the case phase's second process, beside the checks
  that read verdicts. Each text's first HEAD_CHARS characters come with its signature, so most are read once.
- Documents that share a birth (creator and creation time) are grouped by that key and compared with each other
  (a group keeps at most MAX_CANDIDATES members, verified ones first): the doctored-copy and version findings come
  from these exact groups, not from chance collisions of signatures, so they do not depend on which text came first.
- Every text (emails included) is clustered: MinHash signatures (datasketch, 64 permutations over 5-word shingles)
  and an LSH band index (14 bands of 4, datasketch's MinHashLSH parameters for a 0.5 threshold) that holds only each
  cluster's representative (the first text of the cluster seen), its signature kept as 64 uint32 (256 bytes). A text
  whose best candidate representative shares an estimated JOIN_JACCARD of its shingles joins that cluster; any other
  text starts one. A templated mail sent to 5,000 people is then one cluster: its first MAX_NOTED members confirmed
  by the word diff get an info finding (diff against the representative, evidence `representative`), the
  representative gets one finding with the cluster's size and the members noted, and the rest get nothing (on the
  generated 20,000-mail case: 7,578 findings instead of 56,818). Copies with the same words are not members.
- Nothing but signatures of representatives, the identity groups of documents and a counter per cluster stays in
  memory; texts are re-read from the store only for the pairs that are diffed (word diff capped at MAX_WORDS).

Pairs with the same text (other bytes: a re-save, other headers) say nothing about the text and are skipped;
byte-identical copies are one content here.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Iterator

import numpy as np
from datasketch import MinHash
from rapidfuzz.distance import Indel

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

WORD = re.compile(r"\w+", re.UNICODE)
SHINGLE = 5  # words per shingle
NUM_PERM = 64
MIN_RATIO = 0.8  # share of words two texts must have in common to be near-duplicates
MIN_WORDS = 20  # shorter texts match too easily to mean anything
MAX_WORDS = 5000  # words compared per text: bounds the diff time
MAX_CANDIDATES = 20  # candidates examined per content: a template shared by thousands stays cheap
MAX_CHANGES = 30  # changes kept in the evidence
BANDS, ROWS = 14, 4  # LSH bands of the signature: BANDS * ROWS <= NUM_PERM
JOIN_JACCARD = 0.3  # estimated shingle overlap with a representative to be diffed against it (the diff decides)
NEAREST = 3  # representatives a text is diffed against
MAX_NOTED = 10  # members of one cluster that get their own finding; the rest are counted on the representative
MAX_TRIES = 3 * MAX_NOTED  # members of one cluster diffed against its representative
RECENT_WORDS = 1_000_000  # words of recently diffed texts kept between diffs (representatives come back often)
HEAD_CHARS = 64_000  # of each text read with its signature: most hold their MAX_WORDS words, no second read


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@lru_cache(maxsize=1)
def _template() -> MinHash:
    """The permutations every signature shares: made once, not once per text."""
    # crc32: a 32-bit hash is all MinHash needs, 3x sha1. Seed and scheme named, not left to datasketch's defaults
    # (its 2.0 changed the scheme): signatures are stored with the content, and a case mixes scans.
    return MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32, scheme="affine32")


def signature(encoded: list[bytes]) -> MinHash:
    """MinHash of a text's shingles, from its words as UTF-8."""
    t = _template()
    m = MinHash(num_perm=NUM_PERM, permutations=t.permutations, scheme=t.scheme, hashfunc=zlib.crc32)
    m.update_batch(shingles(encoded))
    return m


def shingles(encoded: list[bytes]) -> list[bytes]:
    """Each run of SHINGLE words joined by a space (all the words for a shorter text); made in C (map, zip)
    rather than one slice, join and encode in Python per shingle."""
    if len(encoded) <= SHINGLE:
        return [b" ".join(encoded)]
    return list(map(b" ".join, zip(*(encoded[k:] for k in range(SHINGLE)))))


def text_signature(text: str) -> bytes:
    """What this check needs of one text, made in the item phase (in parallel) and kept with the content: b"" for
    a text of fewer than MIN_WORDS words, else the CRC-32 of its words (4 bytes, little-endian) then its MinHash
    signature (NUM_PERM little-endian uint32)."""
    ws = words(text)
    if len(ws) < MIN_WORDS:
        return b""
    joined = " ".join(ws).encode("utf-8")
    digest = zlib.crc32(joined)
    sig = signature(joined.split(b" ")[:MAX_WORDS * 4]).hashvalues.astype("<u4")  # words have no spaces (\w+)
    return struct.pack("<I", digest) + sig.tobytes()


def unpack_signature(packed: bytes) -> tuple[int, np.ndarray]:
    """(digest of the words, signature) from text_signature's bytes."""
    return struct.unpack_from("<I", packed)[0], np.frombuffer(packed, dtype="<u4", offset=4).astype(np.uint32)


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


def keep(group: list[Content], content: Content) -> None:
    """Keep at most MAX_CANDIDATES documents of one birth, verified ones first: a tool that stamps thousands of
    files with one creator and creation time stays cheap, and a doctored copy still meets its verified original."""
    if len(group) < MAX_CANDIDATES:
        group.append(content)
    elif content.verified:
        for i, other in enumerate(group):
            if not other.verified:
                group[i] = content
                return


def same_birth(a: Content, b: Content) -> bool:
    """Both documents claim one creator and creation time: the identity groups judge that pair, not clustering."""
    return a.ident is not None and b.ident is not None and a.ident[0] == b.ident[0]


class Clusters:
    """Near-duplicate clusters, one representative each. Only representatives are indexed: their signatures as
    bytes (64 uint32), and LSH bands (BANDS x ROWS, what datasketch's MinHashLSH picks for a 0.5 threshold at 64
    permutations) in one dict per band from the band's hash to the first representative holding it. That is
    about a third of MinHashLSH's memory (a set per bucket), and a collision is harmless: candidates are kept
    only when their signatures agree."""

    def __init__(self) -> None:
        self.bands: list[dict[int, int]] = [{} for _ in range(BANDS)]
        self.reps: list[Content] = []
        self.sigs: list[bytes] = []
        self.size: list[int] = []
        self.digests: list[int] = []  # of each representative's words: a copy with the same text is not a member
        self.noted: dict[int, list[str]] = {}  # members with their own finding, per cluster
        self.tries: dict[int, int] = {}  # members diffed, per cluster: bounds the diffs of a huge template

    def nearest(self, sig: np.ndarray) -> tuple[list[int], list[int]]:
        """The representatives sharing at least JOIN_JACCARD of this text's shingles (estimated), closest first, at
        most NEAREST; and the band keys of this text's signature."""
        flat, step = sig[:BANDS * ROWS].tobytes(), ROWS * 4
        keys = [hash(flat[i * step:(i + 1) * step]) for i in range(BANDS)]
        scored = []
        for idx in {band[k] for band, k in zip(self.bands, keys) if k in band}:
            j = float(np.count_nonzero(np.frombuffer(self.sigs[idx], dtype=np.uint32) == sig)) / NUM_PERM
            if j >= JOIN_JACCARD:
                scored.append((-j, idx))
        return [idx for _, idx in sorted(scored)[:NEAREST]], keys

    def add(self, content: Content, sig: np.ndarray, keys: list[int], digest: int) -> None:
        """A new cluster with this text as its representative."""
        idx = len(self.reps)
        for band, k in zip(self.bands, keys):
            band.setdefault(k, idx)
        self.reps.append(content)
        self.sigs.append(sig.tobytes())
        self.size.append(1)
        self.digests.append(digest)

    def join(self, idx: int, noted: str | None = None, count: bool = True) -> None:
        self.size[idx] += count
        if noted is not None:
            self.noted.setdefault(idx, []).append(noted)

    def may_diff(self, idx: int) -> bool:
        """Whether a new member may still be diffed against the representative for a finding of its own."""
        if len(self.noted.get(idx, ())) >= MAX_NOTED:
            return False
        self.tries[idx] = self.tries.get(idx, 0) + 1
        return self.tries[idx] <= MAX_TRIES

    def clusters(self) -> Iterator[tuple[str, int, list[str]]]:
        """(representative, texts in the cluster, members noted) of each cluster with a member noted."""
        for idx, members in sorted(self.noted.items()):
            yield self.reps[idx].sha256, self.size[idx], members


def word_changes(a: list[str], b: list[str], floor: float = 0.0) -> tuple[float, list[dict[str, str]], int]:
    """Similarity of two word lists, 2 x common words / all words on their longest common subsequence (difflib's
    ratio on the best alignment; rapidfuzz's bit-parallel LCS, twenty times difflib's speed), and their changed
    places (a's words, b's words), the first few kept. Below `floor` the changes are not worked out."""
    ratio = Indel.normalized_similarity(a, b)
    if ratio < floor:
        return ratio, [], 0
    changes: list[dict[str, str]] = []
    n = 0
    start: tuple[int, int] | None = None  # where the run of changed words began, in a and in b
    for op in Indel.opcodes(a, b):
        if op.tag != "equal":
            start = start or (op.src_start, op.dest_start)
            continue
        if start is not None:
            n += 1
            if len(changes) < MAX_CHANGES:
                changes.append({"a": " ".join(a[start[0]:op.src_start]), "b": " ".join(b[start[1]:op.dest_start])})
            start = None
    if start is not None:
        n += 1
        if len(changes) < MAX_CHANGES:
            changes.append({"a": " ".join(a[start[0]:]), "b": " ".join(b[start[1]:])})
    return ratio, changes, n


def shown_changes(changes: list[dict[str, str]], flip: bool = False) -> str:
    """The first changes in words, as “a's words” → “b's words” (or the other way round)."""
    pairs = ((c["b"], c["a"]) if flip else (c["a"], c["b"]) for c in changes[:3])
    return "; ".join(f"“{x or '∅'}” → “{y or '∅'}”" for x, y in pairs)


class _NearDup:
    """What both parts share: the texts of the case as contents with signatures, and the diff of a pair."""

    name: ClassVar[str] = "neardup"
    reads_verdicts: ClassVar[bool] = True

    def __init__(self) -> None:
        # Words of recently diffed texts (representatives are diffed again and again): bounded, per run.
        self._recent: OrderedDict[str, list[str]] = OrderedDict()
        self._held = 0
        self._head: tuple[str, str | None] = ("", None)  # the text being placed, its first HEAD_CHARS characters

    def _words_of(self, store: CaseStore, sha256: str) -> list[str]:
        """A text's first MAX_WORDS words (all a diff compares)."""
        ws = self._recent.get(sha256)
        if ws is None:
            head = self._head[1] if self._head[0] == sha256 else None
            ws = words(head)[:MAX_WORDS + 1] if head is not None else []
            if head is None or (len(head) >= HEAD_CHARS and len(ws) <= MAX_WORDS):  # cut short: its last word too
                ws = words(store.blob_text(sha256) or "")
            ws = ws[:MAX_WORDS]
            self._recent[sha256] = ws
            self._held += len(ws)
            while self._held > RECENT_WORDS and len(self._recent) > 1:
                self._held -= len(self._recent.popitem(last=False)[1])
        else:
            self._recent.move_to_end(sha256)
        return ws

    def _contents(self, store: CaseStore, emails: bool) -> Iterator[tuple[Content, int, np.ndarray]]:
        """Each distinct text of MIN_WORDS words or more, in sha256 order, with the digest of its words and its
        signature; emails' metadata is not read (only documents have an identity), nor emails at all unless
        `emails`. Whether a copy is verified is read only by a part that reads verdicts."""
        self._recent.clear()
        self._held = 0
        for row in store.text_blobs(min_chars=MIN_WORDS * 2, text_chars=HEAD_CHARS, email_metadata=False,
                                    emails=emails):
            packed = row.get("minhash")
            if packed is None:  # a case read before item phases made signatures: make it here
                packed = text_signature(row["text"] or "")
            if not packed:
                continue  # fewer than MIN_WORDS words
            self._head = (row["sha256"], row["text"])
            digest, sig = unpack_signature(packed)
            yield (Content(row["sha256"], row["kind"], bool(row["verified"]) and self.reads_verdicts,
                           identity(row["metadata"] or {})), digest, sig)

    def _pair(self, store: CaseStore, a: Content, b: Content,
              members_only: bool = False) -> Iterator[tuple[str, Finding]]:
        """Diff one pair (a seen before b) and judge it; members_only: a cluster member, noted on b alone."""
        ta, tb = self._words_of(store, a.sha256), self._words_of(store, b.sha256)
        if ta == tb:
            return
        ratio, changes, n = word_changes(ta[:MAX_WORDS], tb[:MAX_WORDS], floor=MIN_RATIO)
        if ratio < MIN_RATIO or not changes:
            return
        evidence = {"a": a.sha256, "b": b.sha256, "similarity": round(ratio, 3), "changes": changes,
                    "changed_places": n, "words_compared": [min(len(ta), MAX_WORDS), min(len(tb), MAX_WORDS)]}
        for sha, finding in self._judge(a, b, evidence):
            if members_only and sha != b.sha256:
                continue
            for loc in store.locations(sha):
                yield loc["id"], finding

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
        yield b.sha256, Finding(self.name, f"A near-duplicate of this text exists with changes: {shown}.",
                                "info", dict(evidence, representative=a.sha256))

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


class NearDupCopies(_NearDup):
    """Documents that claim one birth (creator and creation time), compared with each other: doctored copies of
    verified documents and versions. Reads verdicts: runs after those that prove items."""

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        births: dict[tuple[str, ...], list[Content]] = {}
        for content, _, _ in self._contents(store, emails=False):
            if content.ident is not None:
                group = births.setdefault(content.ident[0], [])
                for other in group:
                    yield from self._pair(store, other, content)
                keep(group, content)


class NearDupClusters(_NearDup):
    """Every text (emails included) placed in a cluster of near-duplicates. Its findings are info and come from
    the item phase's data alone, so it may run beside the checks that read verdicts. Same name as the copies
    part: the case keeps one `neardup` check, in two parts."""

    reads_verdicts: ClassVar[bool] = False

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        clusters = Clusters()
        for content, digest, sig in self._contents(store, emails=True):
            yield from self._cluster(store, clusters, content, digest, sig)
        for rep_sha, size, members in clusters.clusters():
            others = "another text" if size == 2 else f"{size - 1} other texts"
            finding = Finding(self.name, f"This text stands for a cluster of near-duplicates: {others} in this "
                                         "case share most of its wording (a template, a mailing or a thread).",
                              "info", {"representative": rep_sha, "cluster_size": size, "members_noted": members,
                                       "join_jaccard": JOIN_JACCARD})
            for loc in store.locations(rep_sha):
                yield loc["id"], finding

    def _cluster(self, store: CaseStore, clusters: Clusters, content: Content, digest: int,
                 sig: np.ndarray) -> Iterator[tuple[str, Finding]]:
        """Place one text: noted against each near representative the word diff confirms (a chain of drafts has
        several), counted in the closest cluster, or a representative of its own when no diff confirms. Its words
        are read only when there is a representative to diff it against."""
        near, keys = clusters.nearest(sig)
        if any(digest == clusters.digests[idx] for idx in near):
            return  # the same words in other bytes: says nothing about the text
        joined = False
        for idx in near:
            rep = clusters.reps[idx]
            if same_birth(rep, content) or not clusters.may_diff(idx):
                if not joined:  # judged by the identity groups, or a large cluster already noted enough
                    clusters.join(idx)
                    joined = True
                continue
            found = list(self._pair(store, rep, content, members_only=True))
            if found:
                clusters.join(idx, noted=content.sha256, count=not joined)
                joined = True
                yield from found
        if not joined:  # no cluster close enough: its own, so that its own near copies still find it
            clusters.add(content, sig, keys, digest)


class NearDupCheck:
    """Both parts in one run, copies then clusters (the case phase runs them as two checks of one name)."""

    name: ClassVar[str] = "neardup"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        yield from NearDupCopies().run(store, ctx)
        yield from NearDupClusters().run(store, ctx)


CHECKS = [NearDupCopies, NearDupClusters]
