"""SQLite case store: one file, WAL, FTS5 over subjects and text. Schema: docs/case-db.md."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..keys import KeyRecord
from ..model import Finding, ItemRecord
from .base import SearchHit, SourceState, Summary
from .rows import BLOB_COLUMNS, ITEM_COLUMNS, blob_params, finding_dict, finding_params, finding_rows, item_dict
from .rows import AND_NOT_EMAIL, NON_EMAIL_METADATA, item_params
from .rows import dumps as _dumps
from .rows import like_prefix as _like_prefix
from .rows import now as _now

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS scans (
  id INTEGER PRIMARY KEY, dump TEXT, options TEXT, started_at TEXT, finished_at TEXT, stats TEXT);
CREATE TABLE IF NOT EXISTS key_files (
  sha256 TEXT PRIMARY KEY, path TEXT, added_at TEXT, content BLOB);
CREATE TABLE IF NOT EXISTS keys (
  id INTEGER PRIMARY KEY, domain TEXT NOT NULL, selector TEXT NOT NULL, record BLOB NOT NULL, source TEXT NOT NULL,
  first_seen TEXT, last_seen TEXT, fetched_at TEXT, added_at TEXT, UNIQUE (domain, selector, record, source));
CREATE TABLE IF NOT EXISTS sources (
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, status TEXT, finished_at TEXT);
-- Content, stored once per distinct bytes.
CREATE TABLE IF NOT EXISTS blobs (
  sha256 TEXT PRIMARY KEY, size INTEGER, mime TEXT, best_item TEXT, complete INTEGER,
  text TEXT, metadata TEXT, raw BLOB,
  from_display TEXT, from_addr TEXT, to_addrs TEXT, cc_addrs TEXT, date TEXT, date_utc TEXT,
  date_raw TEXT, subject TEXT, message_id TEXT, in_reply_to TEXT, refs TEXT, minhash BLOB);
CREATE INDEX IF NOT EXISTS blobs_message_id ON blobs(message_id);
CREATE INDEX IF NOT EXISTS blobs_from_addr ON blobs(from_addr);
CREATE INDEX IF NOT EXISTS blobs_date_utc ON blobs(date_utc);
-- Locations: one row per place an item sits in the dump.
CREATE TABLE IF NOT EXISTS items (
  id TEXT PRIMARY KEY, path TEXT NOT NULL, parent TEXT, source TEXT NOT NULL, depth INTEGER,
  kind TEXT NOT NULL, mime TEXT, sha256 TEXT, size INTEGER, transforms TEXT, location TEXT,
  error_reason TEXT, error TEXT, is_container INTEGER, children_expected INTEGER,
  children_emitted INTEGER, children_failed INTEGER, verdict TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_sha256 ON items(sha256);
CREATE INDEX IF NOT EXISTS items_parent ON items(parent);
CREATE INDEX IF NOT EXISTS items_source ON items(source);
CREATE INDEX IF NOT EXISTS items_path ON items(path);
CREATE INDEX IF NOT EXISTS items_kind_verdict ON items(kind, verdict);
CREATE INDEX IF NOT EXISTS items_sha256_cover ON items(sha256, id, kind, verdict); -- search joins, no row read
CREATE TABLE IF NOT EXISTS findings (
  id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, check_name TEXT NOT NULL, summary TEXT NOT NULL,
  effect TEXT NOT NULL, evidence TEXT);
CREATE INDEX IF NOT EXISTS findings_item ON findings(item_id);
CREATE INDEX IF NOT EXISTS findings_check_item ON findings(check_name, item_id); -- a check's clear, without a full read
CREATE VIRTUAL TABLE IF NOT EXISTS blobs_fts USING fts5(
  subject, text, content='blobs', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
"""

# Keep the word index up to date row by row; a scan drops them while it writes (bulk_begin) and indexes once.
FTS_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS blobs_ai AFTER INSERT ON blobs BEGIN\n"
    "  INSERT INTO blobs_fts(rowid, subject, text) VALUES (new.rowid, new.subject, new.text);\n"
    "END;\n"
    "CREATE TRIGGER IF NOT EXISTS blobs_ad AFTER DELETE ON blobs BEGIN\n"
    "  INSERT INTO blobs_fts(blobs_fts, rowid, subject, text) VALUES ('delete', old.rowid, old.subject, old.text);\n"
    "END;\n"
    "CREATE TRIGGER IF NOT EXISTS blobs_au AFTER UPDATE OF subject, text ON blobs BEGIN\n"
    "  INSERT INTO blobs_fts(blobs_fts, rowid, subject, text) VALUES ('delete', old.rowid, old.subject, old.text);\n"
    "  INSERT INTO blobs_fts(rowid, subject, text) VALUES (new.rowid, new.subject, new.text);\n"
    "END;\n"
)

# A blob seen at several locations keeps the content read at its best location: one read without
# error wins over one cut short, and among equals the smallest item id, so any scan order gives
# the same case.
_UPSERT_BLOB = (
    f"INSERT INTO blobs ({', '.join(BLOB_COLUMNS)}) VALUES ({', '.join('?' * len(BLOB_COLUMNS))}) "
    "ON CONFLICT(sha256) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in BLOB_COLUMNS if c != "sha256")
    + " WHERE excluded.complete > blobs.complete "
    "OR (excluded.complete = blobs.complete AND excluded.best_item < blobs.best_item)"
)
_UPSERT_ITEM = (
    f"INSERT OR REPLACE INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))})"
)


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self.db.executescript(SCHEMA)
        self._bulk = False  # a scan is writing: words are indexed at its end
        self._ensure_triggers()
        if "minhash" not in {r[1] for r in self.db.execute("PRAGMA table_info(blobs)")}:  # a case from before it
            self.db.execute("ALTER TABLE blobs ADD COLUMN minhash BLOB")
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)

    @property
    def url(self) -> str:
        """What open_store takes to open this case again (another process's own connection)."""
        return str(self.path)

    # --- bookkeeping
    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def add_key_file(self, path: str, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        self.db.execute("INSERT OR IGNORE INTO key_files(sha256, path, added_at, content) VALUES (?, ?, ?, ?)",
                        (digest, path, _now(), content))

    def key_files(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT sha256, path, added_at, length(content) AS size FROM key_files ORDER BY path")
        return [dict(r) for r in rows]

    def add_keys(self, records: Iterable[KeyRecord]) -> int:
        """Keep key records in the case with their source; returns how many were new."""
        with self._tx():
            before = self.db.total_changes
            self.db.executemany(
                "INSERT OR IGNORE INTO keys(domain, selector, record, source, first_seen, last_seen, fetched_at, "
                "added_at) VALUES (?,?,?,?,?,?,?,?)",
                [(r.domain, r.selector, r.record, r.source, r.first_seen, r.last_seen, r.fetched_at, _now())
                 for r in records])
            return self.db.total_changes - before

    def keys(self) -> list[KeyRecord]:
        rows = self.db.execute("SELECT domain, selector, record, source, first_seen, last_seen, fetched_at "
                               "FROM keys ORDER BY domain, selector, id")
        return [KeyRecord(r["domain"], r["selector"], bytes(r["record"]), r["source"], r["first_seen"],
                          r["last_seen"], r["fetched_at"]) for r in rows]

    def begin_scan(self, dump: str, options: dict[str, Any]) -> int:
        cur = self.db.execute("INSERT INTO scans(dump, options, started_at) VALUES (?, ?, ?)",
                              (dump, _dumps(options), _now()))
        return int(cur.lastrowid or 0)

    def end_scan(self, scan_id: int, stats: dict[str, Any]) -> None:
        self.db.execute("UPDATE scans SET finished_at = ?, stats = ? WHERE id = ?", (_now(), _dumps(stats), scan_id))

    def sources(self) -> dict[str, SourceState]:
        rows = self.db.execute("SELECT path, size, mtime_ns, status FROM sources")
        return {r["path"]: SourceState(r["path"], r["size"], r["mtime_ns"], r["status"]) for r in rows}

    def source_state(self, path: str) -> SourceState | None:
        r = self.db.execute("SELECT path, size, mtime_ns, status FROM sources WHERE path = ?", (path,)).fetchone()
        return SourceState(r["path"], r["size"], r["mtime_ns"], r["status"]) if r else None

    def has_items(self, source: str) -> bool:
        return self.db.execute("SELECT 1 FROM items WHERE source = ? LIMIT 1", (source,)).fetchone() is not None

    def clear_source(self, path: str) -> None:
        """Forget what a scan cut short wrote for this source, so it can be read again cleanly."""
        with self._tx():
            self.db.execute("DELETE FROM findings WHERE item_id IN (SELECT id FROM items WHERE source = ?)", (path,))
            self.db.execute("DELETE FROM items WHERE source = ?", (path,))
            self.db.execute("DELETE FROM sources WHERE path = ?", (path,))

    # --- writing
    def _tx(self) -> "_Tx":
        return _Tx(self.db)

    def bulk_begin(self) -> None:
        """Many items are about to be written: index their words once, at bulk_end. A full rebuild costs about
        an eighth of keeping the index row by row; meanwhile search misses the new items. An interrupted scan
        leaves `fts_pending` in meta, and the next scan's bulk_end (or `leaksift check`) does the indexing."""
        self._bulk = True

    def bulk_end(self) -> None:
        self._bulk = False
        if self.get_meta("fts_pending") is None:
            return
        with self._tx():
            self.db.execute("INSERT INTO blobs_fts(blobs_fts) VALUES ('rebuild')")
            self._create_triggers()
            self.db.execute("DELETE FROM meta WHERE key = 'fts_pending'")

    def _ensure_triggers(self) -> None:
        """Make the index triggers of a new case, or of one from before they could be dropped; never while a
        scan's words wait to be indexed (a trigger's delete of a row never indexed would damage the index)."""
        have = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
                               "('blobs_ai', 'blobs_ad', 'blobs_au')").fetchone()[0]
        if have == 3 or self.get_meta("fts_pending") is not None:
            return
        with self._tx():
            if self.get_meta("fts_pending") is None:
                self._create_triggers()

    def _create_triggers(self) -> None:
        for statement in FTS_TRIGGERS.split("END;")[:-1]:
            self.db.execute(statement + "END;")

    def write_items(self, records: list[ItemRecord], done: list[SourceState] | None = None) -> None:
        with self._tx():
            if self._bulk and self.get_meta("fts_pending") is None:  # first write of a bulk: index at its end
                for name in ("blobs_ai", "blobs_ad", "blobs_au"):
                    self.db.execute(f"DROP TRIGGER IF EXISTS {name}")
                self.set_meta("fts_pending", "1")
            for rec in records:
                self._write_item(rec)
            for src in done or []:
                self.db.execute(
                    "INSERT OR REPLACE INTO sources(path, size, mtime_ns, status, finished_at) VALUES (?,?,?,?,?)",
                    (src.path, src.size, src.mtime_ns, src.status, _now()))

    def _write_item(self, rec: ItemRecord) -> None:
        if rec.sha256 is not None:
            self.db.execute(_UPSERT_BLOB, blob_params(rec))
        self.db.execute(_UPSERT_ITEM, item_params(rec))
        rows = finding_rows(rec)
        if rows:
            self._replace_finding_rows(rec.id, rows)

    def _replace_findings(self, item_id: str, findings: list[Finding]) -> None:
        self._replace_finding_rows(item_id, [finding_params(item_id, f) for f in findings])

    def _replace_finding_rows(self, item_id: str, rows: list[tuple]) -> None:
        self.db.execute("DELETE FROM findings WHERE item_id = ?", (item_id,))
        self.db.executemany(
            "INSERT INTO findings(item_id, check_name, summary, effect, evidence) VALUES (?,?,?,?,?)", rows)

    def add_findings(self, item_id: str, findings: list[Finding], verdict: str) -> None:
        with self._tx():
            self._replace_findings(item_id, findings)
            self.db.execute("UPDATE items SET verdict = ? WHERE id = ?", (verdict, item_id))

    def clear_findings(self, check: str) -> set[str]:
        """Remove one check's findings; returns the items that had any (their verdicts need a look)."""
        with self._tx():
            ids = {r[0] for r in self.db.execute("SELECT DISTINCT item_id FROM findings WHERE check_name = ?",
                                                 (check,))}
            self.db.execute("DELETE FROM findings WHERE check_name = ?", (check,))
        return ids

    def append_findings(self, findings: dict[str, list[Finding]]) -> None:
        with self._tx():
            self.db.executemany(
                "INSERT INTO findings(item_id, check_name, summary, effect, evidence) VALUES (?,?,?,?,?)",
                [finding_params(item_id, f) for item_id, fs in sorted(findings.items()) for f in fs])

    def findings_of(self, check: str) -> Iterator[tuple[str, dict[str, Any]]]:
        cur = self.db.cursor()
        cur.execute("SELECT item_id, evidence FROM findings WHERE check_name = ? ORDER BY id", (check,))
        while rows := cur.fetchmany(500):
            for r in rows:
                yield r["item_id"], json.loads(r["evidence"] or "{}")

    def replace_findings(self, item_id: str, checks: list[str], findings: list[Finding]) -> None:
        """Swap the findings these checks made on one item for new ones."""
        with self._tx():
            self.db.execute(f"DELETE FROM findings WHERE item_id = ? AND check_name IN ({','.join('?' * len(checks))})",
                            (item_id, *checks))
            self.db.executemany(
                "INSERT INTO findings(item_id, check_name, summary, effect, evidence) VALUES (?,?,?,?,?)",
                [finding_params(item_id, f) for f in findings])

    def item_ids(self, kind: str | None = None) -> list[str]:
        if kind:
            return [r[0] for r in self.db.execute("SELECT id FROM items WHERE kind = ? ORDER BY path, id", (kind,))]
        return [r[0] for r in self.db.execute("SELECT id FROM items ORDER BY path, id")]

    def count_items(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM items").fetchone()[0])

    def item_evidence(self, item_id: str) -> tuple[str | None, list[Finding]]:
        row = self.db.execute("SELECT error FROM items WHERE id = ?", (item_id,)).fetchone()
        found = [Finding(r["check_name"], r["summary"], r["effect"], json.loads(r["evidence"] or "{}"))
                 for r in self.db.execute("SELECT check_name, summary, effect, evidence FROM findings "
                                          "WHERE item_id = ? ORDER BY id", (item_id,))]
        return (row["error"] if row else None), found

    def item_effects(self, item_ids: list[str]) -> dict[str, tuple[str | None, set[str]]]:
        """(error, effects of its findings) of each of these items that exists: all a verdict reads."""
        out: dict[str, tuple[str | None, set[str]]] = {}
        for i in range(0, len(item_ids), 500):
            chunk = item_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.db.execute(f"SELECT id, error FROM items WHERE id IN ({marks})", chunk):
                out[r[0]] = (r[1], set())
            for r in self.db.execute(f"SELECT DISTINCT item_id, effect FROM findings WHERE item_id IN ({marks})",
                                     chunk):
                if r[0] in out:
                    out[r[0]][1].add(r[1])
        return out

    def set_verdicts(self, verdicts: dict[str, str]) -> None:
        # Only rows whose verdict changes: an update rewrites the two indexes holding verdict even to the same value,
        # and a case check's info findings leave most verdicts as they were.
        with self._tx():
            self.db.executemany("UPDATE items SET verdict = ? WHERE id = ? AND verdict <> ?",
                                [(v, k, v) for k, v in verdicts.items()])

    def _brief_findings(self, item_id: str, check: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT check_name, effect, evidence FROM findings WHERE item_id = ?"
        args: tuple = (item_id,)
        if check:
            sql, args = sql + " AND check_name = ?", (item_id, check)
        return [{"check": f["check_name"], "effect": f["effect"], "evidence": json.loads(f["evidence"] or "{}")}
                for f in self.db.execute(sql + " ORDER BY id", args)]

    def items_with_metadata(self, key: str, emails: bool = True) -> Iterator[dict[str, Any]]:
        """Items whose content metadata has this top-level key, with their metadata, streamed; emails too unless
        `emails` is False (a document check need not read every message's headers)."""
        cur = self.db.cursor()
        cur.execute("SELECT i.id, i.path, i.kind, i.sha256, i.verdict, i.parent, b.metadata FROM items i "
                    "JOIN blobs b ON b.sha256 = i.sha256 WHERE json_extract(b.metadata, ?) IS NOT NULL "
                    f"{'' if emails else AND_NOT_EMAIL}ORDER BY i.path, i.id", (f"$.{key}",))
        while rows := cur.fetchmany(500):
            for r in rows:
                d = dict(r)
                d["metadata"] = json.loads(d["metadata"] or "{}")
                yield d

    def verified_items(self) -> Iterator[dict[str, Any]]:
        """Items whose verdict is verified, with their findings."""
        cur = self.db.cursor()
        cur.execute("SELECT id, kind, sha256, path FROM items WHERE verdict = 'verified' ORDER BY path, id")
        while rows := cur.fetchmany(500):
            for r in rows:
                d = dict(r)
                d["findings"] = self._brief_findings(d["id"])
                yield d

    def delivered_emails(self) -> Iterator[dict[str, Any]]:
        """Emails that passed through servers (they have Received headers), with their DKIM findings."""
        cur = self.db.cursor()
        cur.execute("SELECT i.id, b.from_addr FROM items i JOIN blobs b ON b.sha256 = i.sha256 "
                    "WHERE i.kind = 'email' AND i.error IS NULL "
                    "AND json_extract(b.metadata, '$.received[0]') IS NOT NULL ORDER BY i.path, i.id")
        while rows := cur.fetchmany(500):
            for r in rows:
                d = dict(r)
                d["findings"] = self._brief_findings(d["id"], "dkim")
                yield d

    def descendants(self, item_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "WITH RECURSIVE d(id) AS (SELECT id FROM items WHERE parent = ? "
            "UNION SELECT i.id FROM items i JOIN d ON i.parent = d.id) "
            "SELECT i.id, i.path, i.sha256, i.kind, i.verdict FROM items i JOIN d ON d.id = i.id ORDER BY i.path",
            (item_id,))
        return [dict(r) for r in rows]

    def replies(self) -> Iterator[dict[str, Any]]:
        """Emails that name a parent, with their text and verdict."""
        cur = self.db.cursor()
        cur.execute("SELECT i.id, i.verdict, b.in_reply_to, b.text FROM items i JOIN blobs b ON b.sha256 = i.sha256 "
                    "WHERE i.kind = 'email' AND b.in_reply_to IS NOT NULL ORDER BY i.path, i.id")
        while rows := cur.fetchmany(500):
            yield from (dict(r) for r in rows)

    def messages_by_id(self, message_id: str) -> list[dict[str, Any]]:
        # CROSS JOIN keeps SQLite on the message_id index (else it may scan every email per lookup).
        rows = self.db.execute("SELECT i.id, i.verdict, b.text FROM blobs b CROSS JOIN items i ON i.sha256 = b.sha256 "
                               "WHERE b.message_id = ? AND i.kind = 'email' ORDER BY (i.verdict = 'verified') DESC, "
                               "i.path, i.id", (message_id,))
        return [dict(r) for r in rows]

    def text_blobs(self, min_chars: int = 1, text_chars: int = 0, email_metadata: bool = True,
                   emails: bool = True) -> Iterator[dict[str, Any]]:
        """Distinct contents with some text, streamed: sha256, kind, metadata ({} for emails unless
        `email_metadata`), whether any copy is verified, the text's signature (`minhash`), and its text: all of it
        where the item phase made no signature, else its first `text_chars` characters (None for 0). No emails
        unless `emails`."""
        cur = self.db.cursor()
        meta = "b.metadata" if email_metadata else NON_EMAIL_METADATA
        cur.execute("SELECT b.sha256, CASE WHEN b.minhash IS NULL THEN b.text WHEN ? > 0 THEN substr(b.text, 1, ?) "
                    f"END AS text, b.minhash, {meta} AS metadata, i.kind, "
                    "EXISTS (SELECT 1 FROM items j WHERE j.sha256 = b.sha256 AND j.verdict = 'verified') AS verified "
                    "FROM blobs b JOIN items i ON i.id = b.best_item "
                    f"WHERE length(b.text) >= ? {'' if emails else AND_NOT_EMAIL}ORDER BY b.sha256",
                    (text_chars, text_chars, min_chars))
        while rows := cur.fetchmany(500):
            for r in rows:
                d = dict(r)
                d["metadata"] = json.loads(d["metadata"]) if d["metadata"] else {}
                d["verified"] = bool(d["verified"])
                yield d

    def blob_text(self, sha256: str) -> str | None:
        row = self.db.execute("SELECT text FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return row[0] if row else None

    def collect_garbage(self) -> None:
        """Drop content no location points to any more (left by a scan that was cut short)."""
        with self._tx():
            self.db.execute("DELETE FROM blobs WHERE sha256 NOT IN "
                            "(SELECT sha256 FROM items WHERE sha256 IS NOT NULL)")

    # --- reading
    _ITEM_SELECT = (
        "SELECT i.*, b.text, b.metadata, b.from_display, b.from_addr, b.to_addrs, b.cc_addrs, b.date, "
        "b.date_utc, b.date_raw, b.subject, b.message_id, b.in_reply_to, b.refs, "
        "(SELECT count(*) FROM items j WHERE j.sha256 = i.sha256) AS copies "
        "FROM items i LEFT JOIN blobs b ON b.sha256 = i.sha256"
    )

    def _item_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        findings = [finding_dict(f) for f in self.db.execute(
            "SELECT check_name, summary, effect, evidence FROM findings WHERE item_id = ? ORDER BY id", (row["id"],))]
        return item_dict(row, findings)

    def item(self, item_id: str) -> dict[str, Any] | None:
        row = self.db.execute(self._ITEM_SELECT + " WHERE i.id = ?", (item_id,)).fetchone()
        return self._item_dict(row) if row else None

    def raw(self, sha256: str) -> bytes | None:
        row = self.db.execute("SELECT raw FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return zlib.decompress(row[0]) if row and row[0] is not None else None

    def children(self, item_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, path, kind, mime, size, verdict, error FROM items WHERE parent = ? "
                               "ORDER BY path, id", (item_id,))
        return [dict(r) for r in rows]

    def locations(self, sha256: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, path, kind, verdict FROM items WHERE sha256 = ? ORDER BY path, id",
                               (sha256,))
        return [dict(r) for r in rows]

    def iter_items(self) -> Iterator[dict[str, Any]]:
        # A separate cursor, streamed: the export of a million items never sits in memory.
        cur = self.db.cursor()
        cur.execute(self._ITEM_SELECT + " ORDER BY i.path, i.id")
        while rows := cur.fetchmany(500):
            for row in rows:
                yield self._item_dict(row)

    def search(self, query: str, kind: str | None = None, verdict: str | None = None,
               limit: int = 50, offset: int = 0) -> list[SearchHit]:
        where = ["blobs_fts MATCH ?"]
        args: list[Any] = [query]
        if kind:
            where.append("i.kind = ?")
            args.append(kind)
        if verdict:
            where.append("i.verdict = ?")
            args.append(verdict)
        sql = (
            "SELECT i.id, i.path, i.kind, i.verdict, b.subject, "
            "snippet(blobs_fts, -1, '[', ']', ' … ', 12) AS snip "
            "FROM blobs_fts JOIN blobs b ON b.rowid = blobs_fts.rowid JOIN items i ON i.sha256 = b.sha256 "
            f"WHERE {' AND '.join(where)} ORDER BY blobs_fts.rank, i.path, i.id LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(sql, (*args, limit, offset))
        return [SearchHit(r["id"], r["path"], r["kind"], r["verdict"], r["subject"], r["snip"] or "") for r in rows]

    def summary(self) -> Summary:
        s = Summary()
        q = self.db.execute
        s.items = q("SELECT count(*) FROM items").fetchone()[0]
        s.by_kind = dict(q("SELECT kind, count(*) FROM items GROUP BY kind ORDER BY kind").fetchall())
        s.by_verdict = dict(q("SELECT verdict, count(*) FROM items GROUP BY verdict ORDER BY verdict").fetchall())
        s.errors_by_reason = dict(q("SELECT error_reason, count(*) FROM items WHERE error_reason IS NOT NULL "
                                    "GROUP BY error_reason ORDER BY count(*) DESC, error_reason").fetchall())
        s.containers = q("SELECT count(*) FROM items WHERE is_container = 1").fetchone()[0]
        s.unique_blobs = q("SELECT count(*) FROM blobs").fetchone()[0]
        s.bytes = q("SELECT coalesce(sum(size), 0) FROM items WHERE depth = 0").fetchone()[0]
        rows = q("SELECT id, path, children_expected, children_emitted, children_failed, error FROM items "
                 "WHERE is_container = 1 AND children_expected IS NOT NULL "
                 "AND children_expected != children_emitted + children_failed ORDER BY path, id")
        s.mismatched_containers = [dict(r) for r in rows]
        return s

    # --- reads for the web app
    def read_mostly(self) -> None:
        """Tune this connection for a long-lived reader (the web app): map the case file and keep a bigger cache,
        so searches that touch thousands of rows read memory instead of calling read() for each page."""
        self.db.execute("PRAGMA mmap_size = 1073741824")
        self.db.execute("PRAGMA cache_size = -32768")

    def search_page(self, words: str = "", *, kind: str | None = None, verdict: str | None = None,
                    sender: str | None = None, domain: str | None = None, date_from: str | None = None,
                    date_to: str | None = None, folder: str | None = None, sort: str = "relevance",
                    limit: int = 25, offset: int = 0, count_cap: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        """One page of items matching plain words (all of them) and filters, and how many match (counted up to
        count_cap + 1: more than count_cap reads as "many"). Snippets mark matches between \\x02 and \\x03 (the
        caller escapes, then highlights)."""
        fts = _fts_words(words)
        where, args = _web_filters(kind, verdict, sender, domain, date_from, date_to, folder)
        if fts:
            # CROSS JOIN keeps SQLite on the full-text index first; left free it may walk every email of a kind
            # and test each against the MATCH (seconds on 50,000 items).
            base = ("FROM blobs_fts CROSS JOIN blobs b ON b.rowid = blobs_fts.rowid "
                    "CROSS JOIN items i ON i.sha256 = b.sha256")
            where.insert(0, "blobs_fts MATCH ?")
            args.insert(0, fts)
        elif sender or domain or date_from or date_to:  # only items with content can match: start from it
            base = "FROM blobs b CROSS JOIN items i ON i.sha256 = b.sha256"
        else:
            base = "FROM items i LEFT JOIN blobs b ON b.sha256 = i.sha256"
        cond = f" WHERE {' AND '.join(where)}" if where else ""
        if sort == "relevance" and not fts:
            sort = "-date" if base.startswith("FROM blobs") else "path"
        order = "blobs_fts.rank, i.id" if sort == "relevance" else _WEB_SORTS.get(sort, _WEB_SORTS["path"])
        total: int | None = None
        ids: list[str] | None = None
        if fts and len(where) == 1:  # words alone: a content matches at one location at least, so count contents
            total = self.db.execute("SELECT count(*) FROM (SELECT 1 FROM blobs_fts WHERE blobs_fts MATCH ? LIMIT ?)",
                                    (fts, count_cap + 1)).fetchone()[0]
            if sort == "relevance":
                ids, every = self._ranked_ids(fts, limit, offset)
                if every is not None:  # every match was read: its length is the count the join would give
                    total = min(every, count_cap + 1)
        elif fts and (verdict or sender or domain or date_from or date_to):
            # Selective filters: the sort visits every match anyway, so count them in the same pass (a separate
            # count would join them all a second time to find a few).
            rows = self.db.execute(f"SELECT i.id, count(*) OVER () {base}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
                                   (*args, limit, offset)).fetchall()
            ids = [r[0] for r in rows]
            if rows:
                total = min(rows[0][1], count_cap + 1)
        if total is None or (total <= count_cap and ids is None):
            total = self.db.execute(f"SELECT count(*) FROM (SELECT 1 {base}{cond} LIMIT ?)",
                                    (*args, count_cap + 1)).fetchone()[0]
        if ids is None and fts and sort == "-date" and total > count_cap:
            ids = self._newest_ids(where, args, limit, offset, count_cap)
        if ids is None:
            # Sort on narrow rows first; snippets and columns only for the page (the sorter would carry them all).
            ids = [r[0] for r in self.db.execute(f"SELECT i.id {base}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
                                                 (*args, limit, offset))]
        if not ids:
            return total, []
        return total, self._page_rows(ids, fts)

    def _page_rows(self, ids: list[str], fts: str) -> list[dict[str, Any]]:
        """The page's items in the order of ids; with words, only those whose content they match, with snippets."""
        marks = ",".join("?" * len(ids))
        if not fts:
            rows = self.db.execute(f"SELECT {_PAGE_COLUMNS}, substr(b.text, 1, 200) AS snippet FROM items i "
                                   f"LEFT JOIN blobs b ON b.sha256 = i.sha256 WHERE i.id IN ({marks})", ids)
            by_id = {r["id"]: dict(r) for r in rows}
        else:
            rows = self.db.execute(f"SELECT {_PAGE_COLUMNS}, b.rowid AS blob FROM items i "
                                   f"CROSS JOIN blobs b ON b.sha256 = i.sha256 WHERE i.id IN ({marks})", ids).fetchall()
            snippets = self._snippets(fts, [r["blob"] for r in rows])
            by_id = {}
            for r in rows:
                if r["blob"] in snippets:
                    row = dict(r)
                    row["snippet"] = snippets[row.pop("blob")]
                    by_id[row["id"]] = row
        return [by_id[i] for i in ids if i in by_id]

    def _snippets(self, fts: str, rowids: list[int]) -> dict[int, str]:
        """Snippets (matches between \\x02 and \\x03) of the blobs among rowids that the words match, from one pass
        of the index over their rowid range: given `rowid = ?`, FTS5 opens the query again for each row (40 µs
        and more a row on common words), one pass costs well under a µs a match. The + keeps the IN list from
        FTS5, which would take it as one `rowid = ?` per value."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        return dict(self.db.execute(
            "SELECT rowid, snippet(blobs_fts, -1, char(2), char(3), ' … ', 16) FROM blobs_fts "
            f"WHERE blobs_fts MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN ({marks})",
            (fts, min(rowids), max(rowids), *rowids)).fetchall())

    def _newest_ids(self, where: list[str], args: list[Any], limit: int, offset: int, cap: int) -> list[str] | None:
        """A page newest first for words with more than cap matches: walk the date index from the newest blob,
        testing each against the set of matches (read from the word index once, unranked), instead of joining
        and sorting every match. The walk is bounded to the newest blobs where twice the page would be found
        were the matches spread evenly; a page not filled there (matches mostly old or undated) gives None and
        the caller sorts. Exact: every match dated at or after the bound is seen, and all come first."""
        blobs = self.db.execute("SELECT max(rowid) FROM blobs").fetchone()[0] or 0
        reach = 2 * (offset + limit) * blobs // (cap + 1) + offset + limit
        bound = self.db.execute("SELECT date_utc FROM blobs INDEXED BY blobs_date_utc WHERE date_utc IS NOT NULL "
                                "ORDER BY date_utc DESC LIMIT 1 OFFSET ?", (reach,)).fetchone()
        conds = ["b.rowid IN (SELECT rowid FROM blobs_fts WHERE blobs_fts MATCH ?)", *where[1:]]  # where[0]: MATCH
        if bound is not None:
            conds.append("b.date_utc >= ?")
        rows = self.db.execute(
            "SELECT i.id FROM blobs b INDEXED BY blobs_date_utc CROSS JOIN items i ON i.sha256 = b.sha256 "
            f"WHERE {' AND '.join(conds)} ORDER BY b.date_utc DESC, i.id LIMIT ? OFFSET ?",
            (*args, *(bound or ()), limit, offset)).fetchall()
        if bound is not None and len(rows) < limit:  # the page runs past the bound
            return None
        return [r[0] for r in rows]

    def _ranked_ids(self, fts: str, limit: int, offset: int) -> tuple[list[str], int | None]:
        """A page of items by (rank, id) for words alone, ranked by FTS5 on its own table before any join: only
        the blobs up to the page are joined to their items, not every match. Exact: the items of blobs ranked
        strictly before the last blob read are all known, so once they fill the page, later blobs cannot enter
        it; ties on the last rank are read again with a bigger window. Also gives the number of matching items
        when every match was read (else None)."""
        need = offset + limit
        window = need + 32
        while True:
            ranked = self.db.execute("SELECT rowid, rank FROM blobs_fts WHERE blobs_fts MATCH ? ORDER BY rank LIMIT ?",
                                     (fts, window)).fetchall()
            rank_of = {r[0]: r[1] for r in ranked}
            hits: list[tuple[float, str]] = []
            for start in range(0, len(ranked), 500):  # a bound on bound parameters
                chunk = [r[0] for r in ranked[start:start + 500]]
                hits += [(rank_of[r[0]], r[1]) for r in self.db.execute(
                    "SELECT b.rowid, i.id FROM blobs b CROSS JOIN items i ON i.sha256 = b.sha256 "
                    f"WHERE b.rowid IN ({','.join('?' * len(chunk))})", chunk)]
            if len(ranked) < window:  # every match read
                hits.sort()
                return [h[1] for h in hits[offset:need]], len(hits)
            last = ranked[-1][1]
            sure = sorted(h for h in hits if h[0] < last)
            if len(sure) >= need:
                return [h[1] for h in sure[offset:need]], None
            window *= 4

    def top_senders(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT b.from_addr AS addr, max(b.from_display) AS display, count(*) AS items FROM items i "
            "JOIN blobs b ON b.sha256 = i.sha256 WHERE i.kind = 'email' AND b.from_addr IS NOT NULL "
            "GROUP BY b.from_addr ORDER BY items DESC, addr LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def thread_of(self, item_id: str, cap: int = 500) -> list[dict[str, Any]]:
        """The emails of this email's thread (linked by Message-ID, In-Reply-To and References), by date."""
        row = self.db.execute("SELECT b.message_id, b.in_reply_to, b.refs FROM items i JOIN blobs b "
                              "ON b.sha256 = i.sha256 WHERE i.id = ?", (item_id,)).fetchone()
        if not row:
            return []
        ids = {x for x in (row["message_id"], row["in_reply_to"], *json.loads(row["refs"] or "[]")) if x}
        for _ in range(6):  # a few rounds reach the whole thread; a cap keeps a hostile web of links bounded
            if not ids or len(ids) > cap:
                break
            marks = ",".join("?" * len(ids))
            found = self.db.execute(f"SELECT message_id, in_reply_to, refs FROM blobs WHERE message_id IN ({marks}) "
                                    f"OR in_reply_to IN ({marks})", (*ids, *ids)).fetchall()
            grown = set(ids)
            for r in found:
                grown.update(x for x in (r["message_id"], r["in_reply_to"], *json.loads(r["refs"] or "[]")) if x)
            if grown == ids:
                break
            ids = grown
        ids = set(sorted(ids)[:cap])
        if not ids:
            return []
        rows = self.db.execute(
            "SELECT i.id, i.path, i.verdict, b.subject, b.from_display, b.from_addr, b.date, b.message_id, "
            "b.in_reply_to FROM blobs b CROSS JOIN items i ON i.sha256 = b.sha256 "
            f"WHERE b.message_id IN ({','.join('?' * len(ids))}) AND i.kind = 'email' "
            "ORDER BY b.date_utc, i.path, i.id", tuple(ids))
        return [dict(r) for r in rows]

    def items_by_sender(self, addr: str, limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        total = self.db.execute("SELECT count(*) FROM blobs b JOIN items i ON i.sha256 = b.sha256 "
                                "WHERE b.from_addr = ?", (addr,)).fetchone()[0]
        rows = self.db.execute(
            "SELECT i.id, i.path, i.kind, i.verdict, b.subject, b.from_display, b.date FROM blobs b "
            "CROSS JOIN items i ON i.sha256 = b.sha256 WHERE b.from_addr = ? ORDER BY b.date_utc, i.path, i.id "
            "LIMIT ? OFFSET ?", (addr, limit, offset))
        return total, [dict(r) for r in rows]

    # --- reads for the HTML report
    def kind_verdict_counts(self) -> list[dict[str, Any]]:
        """Items per kind and verdict: kind, verdict, items."""
        rows = self.db.execute("SELECT kind, verdict, count(*) AS items FROM items GROUP BY kind, verdict "
                               "ORDER BY kind, verdict")
        return [dict(r) for r in rows]

    def messages_per_day(self) -> list[dict[str, Any]]:
        """Email locations per day (UTC) and verdict: day, verdict, items."""
        rows = self.db.execute(
            "SELECT substr(b.date_utc, 1, 10) AS day, i.verdict, count(*) AS items FROM items i "
            "JOIN blobs b ON b.sha256 = i.sha256 WHERE i.kind = 'email' AND b.date_utc IS NOT NULL "
            "GROUP BY day, i.verdict ORDER BY day, i.verdict")
        return [dict(r) for r in rows]

    def verdicts_by_folder(self) -> list[dict[str, Any]]:
        """Items (archives aside) per custodian folder, the first two components of the path, and verdict."""
        rows = self.db.execute(
            "WITH p AS (SELECT path, verdict, instr(path, '/') AS s1 FROM items WHERE kind != 'archive'), "
            "q AS (SELECT path, verdict, s1, CASE WHEN s1 = 0 THEN 0 ELSE instr(substr(path, s1 + 1), '/') END AS s2 "
            "FROM p) "
            "SELECT CASE WHEN s1 = 0 OR s2 = 0 THEN path ELSE substr(path, 1, s1 + s2 - 1) END AS folder, verdict, "
            "count(*) AS items FROM q GROUP BY folder, verdict ORDER BY folder, verdict")
        return [dict(r) for r in rows]

    def dkim_domain_rates(self) -> list[dict[str, Any]]:
        """Per DKIM signing domain: messages signed, whose signature verifies, that it proves, with no key."""
        rows = self.db.execute(
            "SELECT json_extract(evidence, '$.domain') AS domain, count(DISTINCT item_id) AS signed, "
            "count(DISTINCT CASE WHEN json_extract(evidence, '$.status') = 'verified' THEN item_id END) AS verified, "
            "count(DISTINCT CASE WHEN effect = 'proves' THEN item_id END) AS proven, "
            "count(DISTINCT CASE WHEN json_extract(evidence, '$.status') = 'no_key' THEN item_id END) AS no_key "
            "FROM findings WHERE check_name = 'dkim' AND json_extract(evidence, '$.domain') IS NOT NULL "
            "GROUP BY domain ORDER BY signed DESC, domain")
        return [dict(r) for r in rows]

    def finding_counts(self) -> list[dict[str, Any]]:
        """Per check and effect: findings and distinct items they are on."""
        rows = self.db.execute(
            "SELECT check_name AS check_, effect, count(*) AS findings, count(DISTINCT item_id) AS items "
            "FROM findings GROUP BY check_name, effect ORDER BY check_name, effect")
        return [{"check": r["check_"], "effect": r["effect"], "findings": r["findings"], "items": r["items"]}
                for r in rows]

    def items_by_verdict(self, verdicts: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Items with these verdicts, streamed, with their email fields and findings (tampered first)."""
        cur = self.db.cursor()
        marks = ",".join("?" * len(verdicts))
        cur.execute(
            "SELECT i.id, i.path, i.parent, i.source, i.kind, i.mime, i.sha256, i.size, i.verdict, i.error, "
            "i.error_reason, i.transforms, b.subject, b.from_display, b.date, b.message_id FROM items i "
            f"LEFT JOIN blobs b ON b.sha256 = i.sha256 WHERE i.verdict IN ({marks}) "
            "ORDER BY i.verdict = 'suspicious', i.verdict, i.path, i.id", verdicts)
        while rows := cur.fetchmany(200):
            for r in rows:
                d = dict(r)
                d["transforms"] = json.loads(d["transforms"]) if d["transforms"] else []
                d["findings"] = [
                    {"check": f["check_name"], "summary": f["summary"], "effect": f["effect"],
                     "evidence": json.loads(f["evidence"]) if f["evidence"] else {}}
                    for f in self.db.execute("SELECT check_name, summary, effect, evidence FROM findings "
                                             "WHERE item_id = ? ORDER BY id", (d["id"],))]
                yield d

    def ancestors(self, item_id: str) -> list[dict[str, Any]]:
        """The containers an item sits in, outermost first: id, path, kind, mime."""
        rows = self.db.execute(
            "WITH RECURSIVE a(id, n) AS (SELECT parent, 1 FROM items WHERE id = ? AND parent IS NOT NULL "
            "UNION ALL SELECT i.parent, a.n + 1 FROM items i JOIN a ON i.id = a.id "
            "WHERE i.parent IS NOT NULL AND a.n < 64) "
            "SELECT i.id, i.path, i.kind, i.mime FROM a JOIN items i ON i.id = a.id ORDER BY a.n DESC", (item_id,))
        return [dict(r) for r in rows]

    def close(self) -> None:
        self.db.close()


# --- helpers for the web app's reads
# Undated items last either way (SQLite sorts NULL first, so DESC needs no help and keeps the date index usable).
_PAGE_COLUMNS = "i.id, i.path, i.kind, i.verdict, i.size, b.subject, b.from_display, b.from_addr, b.date"
_WEB_SORTS = {"date": "b.date_utc IS NULL, b.date_utc, i.id", "-date": "b.date_utc DESC, i.id",
              "path": "i.path, i.id"}


def _fts_words(text: str) -> str:
    """Plain words to an FTS5 query that cannot be a syntax error: each word quoted; a trailing * keeps a prefix."""
    out = []
    for word in text.split()[:20]:
        prefix = word.endswith("*")
        word = word.rstrip("*").replace('"', '""')
        if word:
            out.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(out)


def _web_filters(kind: str | None, verdict: str | None, sender: str | None, domain: str | None,
                 date_from: str | None, date_to: str | None, folder: str | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for cond, value in (("i.kind = ?", kind), ("i.verdict = ?", verdict), ("b.from_addr = ?", sender and sender.lower()),
                        ("b.date_utc >= ?", date_from), ("b.date_utc < ?", date_to and date_to + "\uffff")):
        if value:
            where.append(cond)
            args.append(value)
    if domain:
        where.append("(b.from_addr LIKE ? ESCAPE '\\' OR i.id IN (SELECT item_id FROM findings WHERE "
                     "check_name = 'dkim' AND json_extract(evidence, '$.domain') = ?))")
        args += ["%@" + _like_prefix(domain.lower())[:-1], domain.lower()]
    if folder:
        where.append("i.path LIKE ? ESCAPE '\\'")
        args.append(_like_prefix(folder.strip("/") + "/"))
    return where, args


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
