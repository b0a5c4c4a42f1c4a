"""PostgreSQL case store (psycopg 3): the same case as SQLiteStore, shared by a team, written by several scans.

Same tables and semantics as store/sqlite.py; differences:
- full-text search is a stored tsvector column (configuration 'simple', so names and foreign words are kept
  as written, lowercased) with a GIN index, queried with websearch_to_tsquery, snippets by ts_headline;
- every text column sorts by code point (COLLATE "C"), like SQLite, so both backends list items in one order;
- writes are transactions that stage rows with COPY and merge them with ON CONFLICT upserts, taking row locks
  in key order, so several scans writing into one case do not collide (and a deadlock, should one happen
  anyway, is retried);
- PostgreSQL text cannot hold NUL characters: they are stored as U+FFFD.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from typing import Any, Callable, Iterable, Iterator, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from ..keys import KeyRecord
from ..model import Finding, ItemRecord
from .base import SearchHit, SourceState, Summary
from .rows import BLOB_COLUMNS, ITEM_COLUMNS, blob_params, finding_dict, finding_params, grow_thread, item_dict
from .rows import AND_NOT_EMAIL, NON_EMAIL_METADATA, finding_rows, item_params, thread_links
from .rows import dumps, like_escape, like_prefix, now

SCHEMA_VERSION = "1"
# Only this much of a text is indexed for search: a tsvector is capped at 1 MB, which a text of a few
# hundred thousand distinct words would overflow (the whole text is still stored).
FTS_TEXT_CHARS = 250_000
_T = 'text COLLATE "C"'

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key {_T} PRIMARY KEY, value text);
CREATE TABLE IF NOT EXISTS scans (
  id bigserial PRIMARY KEY, dump text, options text, started_at text, finished_at text, stats text);
CREATE TABLE IF NOT EXISTS key_files (sha256 {_T} PRIMARY KEY, path {_T}, added_at text, content bytea);
CREATE TABLE IF NOT EXISTS keys (
  id bigserial PRIMARY KEY, domain {_T} NOT NULL, selector {_T} NOT NULL, record bytea NOT NULL,
  source {_T} NOT NULL, first_seen text, last_seen text, fetched_at text, added_at text,
  UNIQUE (domain, selector, record, source));
CREATE TABLE IF NOT EXISTS sources (
  path {_T} PRIMARY KEY, size bigint, mtime_ns bigint, status text, finished_at text);
CREATE TABLE IF NOT EXISTS blobs (
  sha256 {_T} PRIMARY KEY, size bigint, mime {_T}, best_item {_T}, complete integer,
  text text, metadata text, raw bytea,
  from_display {_T}, from_addr {_T}, to_addrs text, cc_addrs text, date {_T}, date_utc {_T},
  date_raw text, subject {_T}, message_id {_T}, in_reply_to {_T}, refs text, minhash bytea,
  tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(subject, '')), 'A')
    || setweight(to_tsvector('simple', left(coalesce(text, ''), {FTS_TEXT_CHARS})), 'B')) STORED);
ALTER TABLE blobs ADD COLUMN IF NOT EXISTS minhash bytea;
CREATE INDEX IF NOT EXISTS blobs_message_id ON blobs(message_id);
CREATE INDEX IF NOT EXISTS blobs_in_reply_to ON blobs(in_reply_to);
CREATE INDEX IF NOT EXISTS blobs_from_addr ON blobs(from_addr);
CREATE INDEX IF NOT EXISTS blobs_date_utc ON blobs(date_utc);
CREATE INDEX IF NOT EXISTS blobs_tsv ON blobs USING gin(tsv);
CREATE TABLE IF NOT EXISTS items (
  id {_T} PRIMARY KEY, path {_T} NOT NULL, parent {_T}, source {_T} NOT NULL, depth integer,
  kind {_T} NOT NULL, mime {_T}, sha256 {_T}, size bigint, transforms text, location text,
  error_reason {_T}, error text, is_container integer, children_expected integer,
  children_emitted integer, children_failed integer, verdict {_T} NOT NULL);
CREATE INDEX IF NOT EXISTS items_sha256 ON items(sha256);
CREATE INDEX IF NOT EXISTS items_parent ON items(parent);
CREATE INDEX IF NOT EXISTS items_source ON items(source);
CREATE INDEX IF NOT EXISTS items_path ON items(path, id);
CREATE INDEX IF NOT EXISTS items_kind_verdict ON items(kind, verdict);
CREATE INDEX IF NOT EXISTS items_verdict ON items(verdict);
CREATE TABLE IF NOT EXISTS findings (
  id bigserial PRIMARY KEY, item_id {_T} NOT NULL, check_name {_T} NOT NULL, summary text NOT NULL,
  effect {_T} NOT NULL, evidence text);
CREATE INDEX IF NOT EXISTS findings_item ON findings(item_id);
CREATE INDEX IF NOT EXISTS findings_check ON findings(check_name);
"""

# Staging tables of this connection: rows are COPYed in, then merged in key order.
_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS stage_blobs (LIKE blobs) ON COMMIT DELETE ROWS;
ALTER TABLE stage_blobs DROP COLUMN IF EXISTS tsv;
CREATE TEMP TABLE IF NOT EXISTS stage_items (LIKE items) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_findings (
  n bigint, item_id {_T}, check_name {_T}, summary text, effect {_T}, evidence text) ON COMMIT DELETE ROWS;
"""

_BLOB_COLS = ", ".join(BLOB_COLUMNS)
_ITEM_COLS = ", ".join(ITEM_COLUMNS)
# The best location's read of a blob wins (see sqlite.py): complete over cut short, then the smallest item id.
_MERGE_BLOBS = (
    f"INSERT INTO blobs ({_BLOB_COLS}) SELECT {_BLOB_COLS} FROM stage_blobs ORDER BY sha256 "
    "ON CONFLICT (sha256) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in BLOB_COLUMNS if c != "sha256")
    + " WHERE excluded.complete > blobs.complete "
    "OR (excluded.complete = blobs.complete AND excluded.best_item < blobs.best_item)"
)
_MERGE_ITEMS = (
    f"INSERT INTO items ({_ITEM_COLS}) SELECT {_ITEM_COLS} FROM stage_items ORDER BY id "
    "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in ITEM_COLUMNS if c != "id")
)
_INSERT_FINDING = "INSERT INTO findings(item_id, check_name, summary, effect, evidence) VALUES (%s,%s,%s,%s,%s)"
_UPSERT_SOURCE = (
    "INSERT INTO sources(path, size, mtime_ns, status, finished_at) VALUES (%s,%s,%s,%s,%s) "
    "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
    "status = excluded.status, finished_at = excluded.finished_at"
)
_RETRIES = 5
R = TypeVar("R")


def _clean(row: tuple) -> tuple:
    """PostgreSQL text cannot hold NUL: a hostile dump's NULs become U+FFFD."""
    if not any(isinstance(v, str) and "\x00" in v for v in row):
        return row
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)


def _json_has(column: str) -> str:
    """SQL true where the JSON object in `column` has a non-null top-level key %s (a LIKE skips most rows first)."""
    return (f"({column} LIKE %s AND coalesce(json_typeof({column}::json -> %s), 'null') <> 'null')")


def _like_key(key: str) -> str:
    return '%"' + like_escape(key) + '":%'


class PostgresStore:
    """A case in a PostgreSQL database named by a postgresql:// URL. It has no `path`: a scan keeps its
    temporary files elsewhere."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        # JIT compiling costs ~100 ms per query and pays off only for long analytic ones: searches are short.
        self.db.execute("SET jit = off")
        self._names = itertools.count()
        with self.db.transaction():
            # One opener creates the schema; others wait for it (CREATE IF NOT EXISTS alone races).
            self.db.execute("SELECT pg_advisory_xact_lock(7407700)")
            self.db.execute(SCHEMA)
            self.db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                            (SCHEMA_VERSION,))
        self.db.execute(_STAGE)

    # --- plumbing
    def _one(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        return self.db.execute(sql, tuple(args)).fetchone()

    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return self.db.execute(sql, tuple(args)).fetchall()

    def _scalar(self, sql: str, args: Iterable[Any] = ()) -> Any:
        row = self.db.execute(sql, tuple(args)).fetchone()
        return next(iter(row.values())) if row else None

    def _stream(self, sql: str, args: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows through a server-side cursor, 500 at a time; WITH HOLD so writes may go on meanwhile."""
        with self.db.cursor(name=f"leaksift_{next(self._names)}", withhold=True) as cur:
            cur.itersize = 500
            cur.execute(sql, tuple(args))
            yield from cur

    def _write(self, work: Callable[[psycopg.Cursor], R]) -> R:
        """Run `work` in one transaction; a deadlock or serialization failure with another writer is retried."""
        for attempt in itertools.count(1):
            try:
                with self.db.transaction(), self.db.cursor() as cur:
                    return work(cur)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt >= _RETRIES:
                    raise
        raise AssertionError("unreachable")

    # --- bookkeeping
    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET "
                        "value = excluded.value", _clean((key, value)))

    def get_meta(self, key: str) -> str | None:
        return self._scalar("SELECT value FROM meta WHERE key = %s", (key,))

    def add_key_file(self, path: str, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        self.db.execute("INSERT INTO key_files(sha256, path, added_at, content) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING", _clean((digest, path, now(), content)))

    def key_files(self) -> list[dict[str, Any]]:
        return self._all("SELECT sha256, path, added_at, length(content) AS size FROM key_files ORDER BY path")

    def add_keys(self, records: Iterable[KeyRecord]) -> int:
        """Keep key records in the case with their source; returns how many were new."""
        rows = [_clean((r.domain, r.selector, r.record, r.source, r.first_seen, r.last_seen, r.fetched_at, now()))
                for r in records]

        def work(cur: psycopg.Cursor) -> int:
            new = 0
            for row in rows:
                cur.execute("INSERT INTO keys(domain, selector, record, source, first_seen, last_seen, fetched_at, "
                            "added_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING", row)
                new += cur.rowcount
            return new
        return self._write(work)

    def keys(self) -> list[KeyRecord]:
        rows = self._all("SELECT domain, selector, record, source, first_seen, last_seen, fetched_at "
                         "FROM keys ORDER BY domain, selector, id")
        return [KeyRecord(r["domain"], r["selector"], bytes(r["record"]), r["source"], r["first_seen"],
                          r["last_seen"], r["fetched_at"]) for r in rows]

    def begin_scan(self, dump: str, options: dict[str, Any]) -> int:
        return int(self._scalar("INSERT INTO scans(dump, options, started_at) VALUES (%s, %s, %s) RETURNING id",
                                _clean((dump, dumps(options), now()))))

    def end_scan(self, scan_id: int, stats: dict[str, Any]) -> None:
        self.db.execute("UPDATE scans SET finished_at = %s, stats = %s WHERE id = %s", (now(), dumps(stats), scan_id))

    def sources(self) -> dict[str, SourceState]:
        rows = self._all("SELECT path, size, mtime_ns, status FROM sources")
        return {r["path"]: SourceState(r["path"], r["size"], r["mtime_ns"], r["status"]) for r in rows}

    def source_state(self, path: str) -> SourceState | None:
        r = self._one("SELECT path, size, mtime_ns, status FROM sources WHERE path = %s", _clean((path,)))
        return SourceState(r["path"], r["size"], r["mtime_ns"], r["status"]) if r else None

    def has_items(self, source: str) -> bool:
        return self._one("SELECT 1 FROM items WHERE source = %s LIMIT 1", _clean((source,))) is not None

    def clear_source(self, path: str) -> None:
        """Forget what a scan cut short wrote for this source, so it can be read again cleanly."""
        args = _clean((path,))

        def work(cur: psycopg.Cursor) -> None:
            cur.execute("DELETE FROM findings WHERE item_id IN (SELECT id FROM items WHERE source = %s)", args)
            cur.execute("DELETE FROM items WHERE source = %s", args)
            cur.execute("DELETE FROM sources WHERE path = %s", args)
        self._write(work)

    # --- writing
    def write_items(self, records: list[ItemRecord], done: list[SourceState] | None = None) -> None:
        blobs: dict[str, tuple] = {}
        items: dict[str, tuple] = {}
        findings: dict[str, list[tuple]] = {}
        for rec in records:
            if rec.sha256 is not None:
                row = blob_params(rec)
                if _better(row, blobs.get(rec.sha256)):  # one row per blob reaches the server
                    blobs[rec.sha256] = row
            items[rec.id] = item_params(rec)  # a later copy of a location replaces it, as in SQLite
            rows = finding_rows(rec)
            if rows:
                findings[rec.id] = rows
        finding_table = [_clean(row) for i in sorted(findings) for row in findings[i]]
        source_rows = sorted((_clean((s.path, s.size, s.mtime_ns, s.status, now())) for s in done or []))

        def work(cur: psycopg.Cursor) -> None:
            if blobs:
                with cur.copy(f"COPY stage_blobs ({_BLOB_COLS}) FROM STDIN") as copy:
                    for row in blobs.values():
                        copy.write_row(_clean(row))
                cur.execute(_MERGE_BLOBS)
            if items:
                with cur.copy(f"COPY stage_items ({_ITEM_COLS}) FROM STDIN") as copy:
                    for row in items.values():
                        copy.write_row(_clean(row))
                cur.execute(_MERGE_ITEMS)
            if findings:
                cur.execute("DELETE FROM findings WHERE item_id = ANY(%s)", (sorted(_clean(tuple(findings))),))
                cur.executemany(_INSERT_FINDING, finding_table)
            if source_rows:
                cur.executemany(_UPSERT_SOURCE, source_rows)
        self._write(work)

    def _replace_findings(self, cur: psycopg.Cursor, item_id: str, findings: list[Finding]) -> None:
        cur.execute("DELETE FROM findings WHERE item_id = %s", (item_id,))
        cur.executemany(_INSERT_FINDING, [_clean(finding_params(item_id, f)) for f in findings])

    def add_findings(self, item_id: str, findings: list[Finding], verdict: str) -> None:
        def work(cur: psycopg.Cursor) -> None:
            self._replace_findings(cur, item_id, findings)
            cur.execute("UPDATE items SET verdict = %s WHERE id = %s", (verdict, item_id))
        self._write(work)

    def clear_findings(self, check: str) -> set[str]:
        """Remove one check's findings; returns the items that had any (their verdicts need a look)."""
        def work(cur: psycopg.Cursor) -> set[str]:
            cur.execute("DELETE FROM findings WHERE check_name = %s RETURNING item_id", (check,))
            return {r["item_id"] for r in cur.fetchall()}
        return self._write(work)

    def append_findings(self, findings: dict[str, list[Finding]]) -> None:
        rows = [_clean(finding_params(i, f)) for i, fs in sorted(findings.items()) for f in fs]
        if rows:
            self._write(lambda cur: cur.executemany(_INSERT_FINDING, rows))

    def findings_of(self, check: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self._stream("SELECT item_id, evidence FROM findings WHERE check_name = %s ORDER BY id", (check,)):
            yield r["item_id"], json.loads(r["evidence"] or "{}")

    def replace_findings(self, item_id: str, checks: list[str], findings: list[Finding]) -> None:
        """Swap the findings these checks made on one item for new ones."""
        def work(cur: psycopg.Cursor) -> None:
            cur.execute("DELETE FROM findings WHERE item_id = %s AND check_name = ANY(%s)", (item_id, list(checks)))
            cur.executemany(_INSERT_FINDING, [_clean(finding_params(item_id, f)) for f in findings])
        self._write(work)

    def item_ids(self, kind: str | None = None) -> list[str]:
        if kind:
            rows = self.db.execute("SELECT id FROM items WHERE kind = %s ORDER BY path, id", (kind,))
        else:
            rows = self.db.execute("SELECT id FROM items ORDER BY path, id")
        return [r["id"] for r in rows]

    def count_items(self) -> int:
        return int(self._scalar("SELECT count(*) FROM items", ()))

    def item_evidence(self, item_id: str) -> tuple[str | None, list[Finding]]:
        row = self._one("SELECT error FROM items WHERE id = %s", (item_id,))
        found = [Finding(r["check_name"], r["summary"], r["effect"], json.loads(r["evidence"] or "{}"))
                 for r in self._all("SELECT check_name, summary, effect, evidence FROM findings "
                                    "WHERE item_id = %s ORDER BY id", (item_id,))]
        return (row["error"] if row else None), found

    def item_effects(self, item_ids: list[str]) -> dict[str, tuple[str | None, set[str]]]:
        """(error, effects of its findings) of each of these items that exists: all a verdict reads."""
        out: dict[str, tuple[str | None, set[str]]] = {}
        for i in range(0, len(item_ids), 5000):
            chunk = [_clean((x,))[0] for x in item_ids[i:i + 5000]]
            for r in self._all("SELECT id, error FROM items WHERE id = ANY(%s)", (chunk,)):
                out[r["id"]] = (r["error"], set())
            for r in self._all("SELECT DISTINCT item_id, effect FROM findings WHERE item_id = ANY(%s)", (chunk,)):
                if r["item_id"] in out:
                    out[r["item_id"]][1].add(r["effect"])
        return out

    def set_verdicts(self, verdicts: dict[str, str]) -> None:
        rows = sorted((k, v) for k, v in verdicts.items())
        if rows:
            self._write(lambda cur: cur.execute(
                "UPDATE items SET verdict = v.verdict FROM unnest(%s::text[], %s::text[]) AS v(id, verdict) "
                "WHERE items.id = v.id AND items.verdict IS DISTINCT FROM v.verdict",
                ([k for k, _ in rows], [v for _, v in rows])))

    def _brief_findings(self, item_id: str, check: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT check_name, effect, evidence FROM findings WHERE item_id = %s"
        args: tuple = (item_id,)
        if check:
            sql, args = sql + " AND check_name = %s", (item_id, check)
        return [{"check": f["check_name"], "effect": f["effect"], "evidence": json.loads(f["evidence"] or "{}")}
                for f in self._all(sql + " ORDER BY id", args)]

    def items_with_metadata(self, key: str, emails: bool = True) -> Iterator[dict[str, Any]]:
        """Items whose content metadata has this top-level key, with their metadata, streamed; emails too unless
        `emails` is False (a document check need not read every message's headers)."""
        for d in self._stream("SELECT i.id, i.path, i.kind, i.sha256, i.verdict, i.parent, b.metadata FROM items i "
                              f"JOIN blobs b ON b.sha256 = i.sha256 WHERE {_json_has('b.metadata')} "
                              f"{'' if emails else AND_NOT_EMAIL}ORDER BY i.path, i.id", (_like_key(key), key)):
            d["metadata"] = json.loads(d["metadata"] or "{}")
            yield d

    def verified_items(self) -> Iterator[dict[str, Any]]:
        """Items whose verdict is verified, with their findings."""
        for d in self._stream("SELECT id, kind, sha256, path FROM items WHERE verdict = 'verified' ORDER BY path, id"):
            d["findings"] = self._brief_findings(d["id"])
            yield d

    def delivered_emails(self) -> Iterator[dict[str, Any]]:
        """Emails that passed through servers (they have Received headers), with their DKIM findings."""
        for d in self._stream(
                "SELECT i.id, b.from_addr FROM items i JOIN blobs b ON b.sha256 = i.sha256 "
                "WHERE i.kind = 'email' AND i.error IS NULL AND b.metadata LIKE '%%\"received\":%%' "
                "AND coalesce(json_typeof(b.metadata::json -> 'received' -> 0), 'null') <> 'null' "
                "ORDER BY i.path, i.id"):
            d["findings"] = self._brief_findings(d["id"], "dkim")
            yield d

    def descendants(self, item_id: str) -> list[dict[str, Any]]:
        return self._all(
            "WITH RECURSIVE d(id) AS (SELECT id FROM items WHERE parent = %s "
            "UNION SELECT i.id FROM items i JOIN d ON i.parent = d.id) "
            "SELECT i.id, i.path, i.sha256, i.kind, i.verdict FROM items i JOIN d ON d.id = i.id ORDER BY i.path",
            (item_id,))

    def replies(self) -> Iterator[dict[str, Any]]:
        """Emails that name a parent, with their text and verdict."""
        yield from self._stream(
            "SELECT i.id, i.verdict, b.in_reply_to, b.text FROM items i JOIN blobs b ON b.sha256 = i.sha256 "
            "WHERE i.kind = 'email' AND b.in_reply_to IS NOT NULL ORDER BY i.path, i.id")

    def messages_by_id(self, message_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT i.id, i.verdict, b.text FROM blobs b JOIN items i ON i.sha256 = b.sha256 "
                         "WHERE b.message_id = %s AND i.kind = 'email' ORDER BY (i.verdict = 'verified') DESC, "
                         "i.path, i.id", _clean((message_id,)))

    def text_blobs(self, min_chars: int = 1, text_chars: int = 0, email_metadata: bool = True,
                   emails: bool = True) -> Iterator[dict[str, Any]]:
        """Distinct contents with some text, streamed: sha256, kind, metadata ({} for emails unless
        `email_metadata`), whether any copy is verified, the text's signature (`minhash`), and its text: all of it
        where the item phase made no signature, else its first `text_chars` characters (None for 0). No emails
        unless `emails`."""
        meta = "b.metadata" if email_metadata else NON_EMAIL_METADATA
        for d in self._stream(
                "SELECT b.sha256, CASE WHEN b.minhash IS NULL THEN b.text WHEN %s > 0 THEN left(b.text, %s) END "
                f"AS text, b.minhash, {meta} AS metadata, i.kind, "
                "EXISTS (SELECT 1 FROM items j WHERE j.sha256 = b.sha256 AND j.verdict = 'verified') AS verified "
                "FROM blobs b JOIN items i ON i.id = b.best_item "
                f"WHERE length(b.text) >= %s {'' if emails else AND_NOT_EMAIL}ORDER BY b.sha256",
                (text_chars, text_chars, min_chars)):
            d["metadata"] = json.loads(d["metadata"]) if d["metadata"] else {}
            d["verified"] = bool(d["verified"])
            d["minhash"] = bytes(d["minhash"]) if d["minhash"] is not None else None
            yield d

    def blob_text(self, sha256: str) -> str | None:
        return self._scalar("SELECT text FROM blobs WHERE sha256 = %s", (sha256,))

    def bulk_begin(self) -> None:
        """Nothing deferred: the GIN index takes rows as they come, and other scans may be writing too."""

    def bulk_end(self) -> None:
        """See bulk_begin."""

    def collect_garbage(self) -> None:
        """Drop content no location points to any more (left by a scan that was cut short)."""
        def work(cur: psycopg.Cursor) -> None:
            # Writers pause meanwhile: a blob another scan is about to point to must not go.
            cur.execute("LOCK TABLE blobs, items IN SHARE MODE")  # in the writers' order: blobs, then items
            cur.execute("DELETE FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.sha256 = b.sha256)")
        self._write(work)

    # --- reading
    _ITEM_SELECT = (
        "SELECT i.*, b.text, b.metadata, b.from_display, b.from_addr, b.to_addrs, b.cc_addrs, b.date, "
        "b.date_utc, b.date_raw, b.subject, b.message_id, b.in_reply_to, b.refs, "
        "(SELECT count(*) FROM items j WHERE j.sha256 = i.sha256) AS copies "
        "FROM items i LEFT JOIN blobs b ON b.sha256 = i.sha256"
    )

    def _findings_by_item(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for f in self._all("SELECT item_id, check_name, summary, effect, evidence FROM findings "
                           "WHERE item_id = ANY(%s) ORDER BY id", (ids,)):
            out[f["item_id"]].append(finding_dict(f))
        return out

    def _item_dicts(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Items with their findings, fetched 500 items at a time (one query per batch, not per item)."""
        it = iter(rows)
        while batch := list(itertools.islice(it, 500)):
            found = self._findings_by_item([r["id"] for r in batch])
            for r in batch:
                yield item_dict(r, found[r["id"]])

    def item(self, item_id: str) -> dict[str, Any] | None:
        row = self._one(self._ITEM_SELECT + " WHERE i.id = %s", (item_id,))
        return next(self._item_dicts([row])) if row else None

    def raw(self, sha256: str) -> bytes | None:
        row = self._one("SELECT raw FROM blobs WHERE sha256 = %s", (sha256,))
        return zlib.decompress(row["raw"]) if row and row["raw"] is not None else None

    def children(self, item_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT id, path, kind, mime, size, verdict, error FROM items WHERE parent = %s "
                         "ORDER BY path, id", (item_id,))

    def locations(self, sha256: str) -> list[dict[str, Any]]:
        return self._all("SELECT id, path, kind, verdict FROM items WHERE sha256 = %s ORDER BY path, id", (sha256,))

    def iter_items(self) -> Iterator[dict[str, Any]]:
        # Streamed: the export of a million items never sits in memory.
        yield from self._item_dicts(self._stream(self._ITEM_SELECT + " ORDER BY i.path, i.id"))

    def search(self, query: str, kind: str | None = None, verdict: str | None = None,
               limit: int = 50, offset: int = 0) -> list[SearchHit]:
        where, args = ["b.tsv @@ q"], [query]
        if kind:
            where.append("i.kind = %s")
            args.append(kind)
        if verdict:
            where.append("i.verdict = %s")
            args.append(verdict)
        # Rank and page first, then make snippets for the page only (ts_headline re-reads each text).
        sql = (
            "WITH hits AS (SELECT i.id, i.path, i.kind, i.verdict, b.subject, b.text, q, "
            "ts_rank_cd(b.tsv, q) AS rank FROM blobs b "
            "CROSS JOIN websearch_to_tsquery('simple', %s) q JOIN items i ON i.sha256 = b.sha256 "
            f"WHERE {' AND '.join(where)} ORDER BY rank DESC, i.path, i.id LIMIT %s OFFSET %s) "
            f"SELECT id, path, kind, verdict, subject, {_headline('[', ']', 12)} AS snip FROM hits "
            "ORDER BY rank DESC, path, id"
        )
        rows = self._all(sql, _clean((*args, limit, offset)))
        return [SearchHit(r["id"], r["path"], r["kind"], r["verdict"], r["subject"], r["snip"] or "") for r in rows]

    def summary(self) -> Summary:
        s = Summary()
        s.items = self._scalar("SELECT count(*) FROM items")
        s.by_kind = {r["kind"]: r["n"] for r in self._all("SELECT kind, count(*) AS n FROM items GROUP BY kind "
                                                         "ORDER BY kind")}
        s.by_verdict = {r["verdict"]: r["n"] for r in self._all("SELECT verdict, count(*) AS n FROM items "
                                                               "GROUP BY verdict ORDER BY verdict")}
        s.errors_by_reason = {r["error_reason"]: r["n"] for r in self._all(
            "SELECT error_reason, count(*) AS n FROM items WHERE error_reason IS NOT NULL "
            "GROUP BY error_reason ORDER BY count(*) DESC, error_reason")}
        s.containers = self._scalar("SELECT count(*) FROM items WHERE is_container = 1")
        s.unique_blobs = self._scalar("SELECT count(*) FROM blobs")
        s.bytes = int(self._scalar("SELECT coalesce(sum(size), 0) FROM items WHERE depth = 0"))
        s.mismatched_containers = self._all(
            "SELECT id, path, children_expected, children_emitted, children_failed, error FROM items "
            "WHERE is_container = 1 AND children_expected IS NOT NULL "
            "AND children_expected != children_emitted + children_failed ORDER BY path, id")
        return s

    # --- reads for the web app (mirrors SQLiteStore)
    def read_mostly(self) -> None:
        """A long-lived reader (the web app): the server keeps its own cache; nothing to tune per connection."""

    def search_page(self, words: str = "", *, kind: str | None = None, verdict: str | None = None,
                    sender: str | None = None, domain: str | None = None, date_from: str | None = None,
                    date_to: str | None = None, folder: str | None = None, sort: str = "relevance",
                    limit: int = 25, offset: int = 0, count_cap: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        """One page of items matching plain words (all of them) and filters, and how many match (counted up to
        count_cap + 1: more than count_cap reads as "many"). Snippets mark matches between \\x02 and \\x03 (the
        caller escapes, then highlights)."""
        fts = _tsquery_words(words)
        where, args = _web_filters(kind, verdict, sender, domain, date_from, date_to, folder)
        if fts:
            base = "FROM blobs b CROSS JOIN to_tsquery('simple', %s) q JOIN items i ON i.sha256 = b.sha256"
            where.insert(0, "b.tsv @@ q")
            args.insert(0, fts)
        elif sender or domain or date_from or date_to:  # only items with content can match
            base = "FROM blobs b JOIN items i ON i.sha256 = b.sha256"
        else:
            base = "FROM items i LEFT JOIN blobs b ON b.sha256 = i.sha256"
        cond = f" WHERE {' AND '.join(where)}" if where else ""
        if sort == "relevance" and not fts:
            sort = "-date" if base.startswith("FROM blobs") else "path"
        order = "ts_rank_cd(b.tsv, q) DESC, i.id" if sort == "relevance" else _WEB_SORTS.get(sort, _WEB_SORTS["path"])
        args = list(_clean(tuple(args)))
        total = self._scalar(f"SELECT count(*) FROM (SELECT 1 {base}{cond} LIMIT %s) t", (*args, count_cap + 1))
        snip = _headline("\x02", "\x03", 16) if fts else "substr(text, 1, 200)"
        rows = self._all(
            "WITH hits AS (SELECT i.id, i.path, i.kind, i.verdict, i.size, b.subject, b.from_display, b.from_addr, "
            f"b.date, b.text{', q' if fts else ''}, row_number() OVER (ORDER BY {order}) AS n {base}{cond} "
            f"ORDER BY {order} LIMIT %s OFFSET %s) "
            f"SELECT id, path, kind, verdict, size, subject, from_display, from_addr, date, {snip} AS snippet "
            "FROM hits ORDER BY n", (*args, limit, offset))
        return int(total), rows

    def top_senders(self, limit: int = 10) -> list[dict[str, Any]]:
        return self._all(
            "SELECT b.from_addr AS addr, max(b.from_display) AS display, count(*) AS items FROM items i "
            "JOIN blobs b ON b.sha256 = i.sha256 WHERE i.kind = 'email' AND b.from_addr IS NOT NULL "
            "GROUP BY b.from_addr ORDER BY items DESC, addr LIMIT %s", (limit,))

    def thread_of(self, item_id: str, cap: int = 500) -> list[dict[str, Any]]:
        """The emails of this email's thread (linked by Message-ID, In-Reply-To and References), by date."""
        row = self._one("SELECT b.message_id, b.in_reply_to, b.refs FROM items i JOIN blobs b "
                        "ON b.sha256 = i.sha256 WHERE i.id = %s", (item_id,))
        if not row:
            return []
        ids = grow_thread(thread_links(row), lambda ids: self._all(
            "SELECT message_id, in_reply_to, refs FROM blobs WHERE message_id = ANY(%s) OR in_reply_to = ANY(%s)",
            (list(ids), list(ids))), cap)
        if not ids:
            return []
        return self._all(
            "SELECT i.id, i.path, i.verdict, b.subject, b.from_display, b.from_addr, b.date, b.message_id, "
            "b.in_reply_to FROM blobs b JOIN items i ON i.sha256 = b.sha256 "
            "WHERE b.message_id = ANY(%s) AND i.kind = 'email' ORDER BY b.date_utc, i.path, i.id", (sorted(ids),))

    def items_by_sender(self, addr: str, limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        total = self._scalar("SELECT count(*) FROM blobs b JOIN items i ON i.sha256 = b.sha256 "
                             "WHERE b.from_addr = %s", _clean((addr,)))
        rows = self._all(
            "SELECT i.id, i.path, i.kind, i.verdict, b.subject, b.from_display, b.date FROM blobs b "
            "JOIN items i ON i.sha256 = b.sha256 WHERE b.from_addr = %s ORDER BY b.date_utc, i.path, i.id "
            "LIMIT %s OFFSET %s", _clean((addr, limit, offset)))
        return int(total), rows

    # --- reads for the HTML report (mirrors SQLiteStore)
    def kind_verdict_counts(self) -> list[dict[str, Any]]:
        """Items per kind and verdict: kind, verdict, items."""
        return self._all("SELECT kind, verdict, count(*) AS items FROM items GROUP BY kind, verdict "
                         "ORDER BY kind, verdict")

    def messages_per_day(self) -> list[dict[str, Any]]:
        """Email locations per day (UTC) and verdict: day, verdict, items."""
        return self._all(
            "SELECT substr(b.date_utc, 1, 10) AS day, i.verdict, count(*) AS items FROM items i "
            "JOIN blobs b ON b.sha256 = i.sha256 WHERE i.kind = 'email' AND b.date_utc IS NOT NULL "
            "GROUP BY day, i.verdict ORDER BY day, i.verdict")

    def verdicts_by_folder(self) -> list[dict[str, Any]]:
        """Items (archives aside) per custodian folder, the first two components of the path, and verdict."""
        return self._all(
            "WITH p AS (SELECT path, verdict, strpos(path, '/') AS s1 FROM items WHERE kind != 'archive'), "
            "q AS (SELECT path, verdict, s1, CASE WHEN s1 = 0 THEN 0 ELSE strpos(substr(path, s1 + 1), '/') END AS s2 "
            "FROM p) "
            "SELECT CASE WHEN s1 = 0 OR s2 = 0 THEN path ELSE substr(path, 1, s1 + s2 - 1) END AS folder, verdict, "
            "count(*) AS items FROM q GROUP BY folder, verdict ORDER BY folder, verdict")

    def dkim_domain_rates(self) -> list[dict[str, Any]]:
        """Per DKIM signing domain: messages signed, whose signature verifies, that it proves, with no key."""
        return self._all(
            "WITH f AS (SELECT item_id, effect, evidence::json ->> 'domain' AS domain, "
            "evidence::json ->> 'status' AS status FROM findings WHERE check_name = 'dkim') "
            "SELECT domain, count(DISTINCT item_id) AS signed, "
            "count(DISTINCT CASE WHEN status = 'verified' THEN item_id END) AS verified, "
            "count(DISTINCT CASE WHEN effect = 'proves' THEN item_id END) AS proven, "
            "count(DISTINCT CASE WHEN status = 'no_key' THEN item_id END) AS no_key "
            "FROM f WHERE domain IS NOT NULL GROUP BY domain ORDER BY signed DESC, domain COLLATE \"C\"")

    def finding_counts(self) -> list[dict[str, Any]]:
        """Per check and effect: findings and distinct items they are on."""
        rows = self._all("SELECT check_name, effect, count(*) AS findings, count(DISTINCT item_id) AS items "
                         "FROM findings GROUP BY check_name, effect ORDER BY check_name, effect")
        return [{"check": r["check_name"], "effect": r["effect"], "findings": r["findings"], "items": r["items"]}
                for r in rows]

    def items_by_verdict(self, verdicts: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Items with these verdicts, streamed, with their email fields and findings (tampered first)."""
        rows = self._stream(
            "SELECT i.id, i.path, i.parent, i.source, i.kind, i.mime, i.sha256, i.size, i.verdict, i.error, "
            "i.error_reason, i.transforms, b.subject, b.from_display, b.date, b.message_id FROM items i "
            "LEFT JOIN blobs b ON b.sha256 = i.sha256 WHERE i.verdict = ANY(%s) "
            "ORDER BY i.verdict = 'suspicious', i.verdict, i.path, i.id", (list(verdicts),))
        while batch := list(itertools.islice(rows, 200)):
            found = self._findings_by_item([r["id"] for r in batch])
            for d in batch:
                d["transforms"] = json.loads(d["transforms"]) if d["transforms"] else []
                d["findings"] = found[d["id"]]
                yield d

    def ancestors(self, item_id: str) -> list[dict[str, Any]]:
        """The containers an item sits in, outermost first: id, path, kind, mime."""
        return self._all(
            "WITH RECURSIVE a(id, n) AS (SELECT parent, 1 FROM items WHERE id = %s AND parent IS NOT NULL "
            "UNION ALL SELECT i.parent, a.n + 1 FROM items i JOIN a ON i.id = a.id "
            "WHERE i.parent IS NOT NULL AND a.n < 64) "
            "SELECT i.id, i.path, i.kind, i.mime FROM a JOIN items i ON i.id = a.id ORDER BY a.n DESC", (item_id,))

    def close(self) -> None:
        self.db.close()


def _better(row: tuple, old: tuple | None) -> bool:
    """The blob merge rule on two blobs rows: complete over cut short, then the smaller item id."""
    return old is None or row[4] > old[4] or (row[4] == old[4] and row[3] < old[3])


def _headline(start: str, stop: str, words: int) -> str:
    """SQL for a snippet of `hits` (text, subject, q): from the text where it matches, else from the subject."""
    opts = f"StartSel={start}, StopSel={stop}, MaxWords={words}, MinWords={max(3, words // 2)}, " \
           'MaxFragments=2, FragmentDelimiter=" … "'
    head = f"left(coalesce(text, ''), {FTS_TEXT_CHARS})"
    return (f"CASE WHEN to_tsvector('simple', {head}) @@ q THEN ts_headline('simple', {head}, q, '{opts}') "
            f"ELSE ts_headline('simple', coalesce(subject, ''), q, '{opts}') END")


# --- helpers for the web app's reads
# As in sqlite.py; PostgreSQL sorts NULL last going up and first going down, SQLite the other way: say it.
_WEB_SORTS = {"date": "b.date_utc IS NULL, b.date_utc, i.id", "-date": "b.date_utc DESC NULLS LAST, i.id",
              "path": "i.path, i.id"}


def _tsquery_words(text: str) -> str:
    """Plain words to a to_tsquery text that cannot be a syntax error: every word quoted and required; a
    trailing * keeps a prefix."""
    out = []
    for word in text.replace("\x00", " ").split()[:20]:
        prefix = word.endswith("*")
        word = word.rstrip("*").replace("\\", "\\\\").replace("'", "''")
        if word.strip(" '!&|():<>-"):
            out.append(f"'{word}'" + (":*" if prefix else ""))
    return " & ".join(out)


def _web_filters(kind: str | None, verdict: str | None, sender: str | None, domain: str | None,
                 date_from: str | None, date_to: str | None, folder: str | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for cond, value in (("i.kind = %s", kind), ("i.verdict = %s", verdict),
                        ("b.from_addr = %s", sender and sender.lower()), ("b.date_utc >= %s", date_from),
                        ("b.date_utc < %s", date_to and date_to + "\uffff")):
        if value:
            where.append(cond)
            args.append(value)
    if domain:
        where.append("(b.from_addr LIKE %s OR i.id IN (SELECT item_id FROM findings WHERE "
                     "check_name = 'dkim' AND evidence::json ->> 'domain' = %s))")
        args += ["%@" + like_escape(domain.lower()), domain.lower()]
    if folder:
        where.append("i.path LIKE %s")
        args.append(like_prefix(folder.strip("/") + "/"))
    return where, args
