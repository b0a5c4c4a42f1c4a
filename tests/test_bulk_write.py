"""The write path of a scan: rows packed in the workers, words indexed once at the end of a SQLite bulk write."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path

from test_store_backends import _email

from leaksift.model import Finding
from leaksift.store import SQLiteStore
from leaksift.store.rows import BLOB_COLUMNS, ITEM_COLUMNS, pack


def _rows(path: Path) -> tuple[list, list, list]:
    db = sqlite3.connect(path)
    try:
        return (db.execute(f"SELECT {', '.join(BLOB_COLUMNS)} FROM blobs ORDER BY sha256").fetchall(),
                db.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY id").fetchall(),
                db.execute("SELECT item_id, check_name, summary, effect, evidence FROM findings "
                           "ORDER BY item_id, id").fetchall())
    finally:
        db.close()


def _triggers(store: SQLiteStore) -> set[str]:
    return {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def test_packed_records_store_the_same_rows(tmp_path: Path) -> None:
    records = [_email(n) for n in range(1, 6)]
    records[2].findings = [Finding("dkim", "body hash differs", "contradicts", {"domain": "campaign.example"})]
    packed = [pack(copy.deepcopy(r)) for r in records]
    assert all(p.packed and p.raw is p.text is p.email is None and not p.metadata and not p.findings
               for p in packed)  # the rows carry them, once
    for name, recs in (("plain.db", records), ("packed.db", packed)):
        s = SQLiteStore(tmp_path / name)
        s.write_items(recs)
        s.close()
    plain, done = _rows(tmp_path / "plain.db"), _rows(tmp_path / "packed.db")
    assert plain == done
    assert len(done[2]) == 1 and done[0][0][BLOB_COLUMNS.index("raw")]  # raw kept, compressed


def test_bulk_write_indexes_words_once_at_the_end(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "case.db")
    s.write_items([_email(1)])  # before a bulk: indexed row by row
    assert len(s.search("offshore")) == 1
    s.bulk_begin()
    s.write_items([_email(n) for n in range(2, 5)])
    assert _triggers(s) == set() and s.get_meta("fts_pending") == "1"
    assert len(s.search("offshore")) == 1  # not yet indexed
    # The same bytes at a location that wins the merge rule: the blob row is updated during the bulk.
    s.write_items([_email(2, text="texte remplacé", id="id0000a")])
    s.bulk_end()
    assert _triggers(s) == {"blobs_ai", "blobs_ad", "blobs_au"} and s.get_meta("fts_pending") is None
    assert sorted(h.id for h in s.search("offshore")) == ["id0001", "id0003", "id0004"]
    assert {h.id for h in s.search("remplacé")} == {"id0000a", "id0002"}
    s.write_items([_email(9)])  # row by row again afterwards
    assert len(s.search("offshore")) == 4
    assert s.db.execute("INSERT INTO blobs_fts(blobs_fts) VALUES ('integrity-check')") is not None
    s.close()


def test_a_cut_short_bulk_is_indexed_by_the_next_one(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "case.db")
    s.bulk_begin()
    s.write_items([_email(n) for n in range(1, 4)])
    s.db.close()  # killed: bulk_end never ran
    again = SQLiteStore(tmp_path / "case.db")  # another opener must not bring the row triggers back meanwhile
    assert _triggers(again) == set() and again.get_meta("fts_pending") == "1"
    again.bulk_begin()
    again.bulk_end()
    assert len(again.search("offshore")) == 3
    again.close()


def test_a_scan_leaves_the_index_whole(tmp_path: Path) -> None:
    from conftest import scan_dump, write_eml

    dump = tmp_path / "dump"
    for n in range(3):
        write_eml(dump / f"m{n}.eml", n, body="le virement offshore")
    db = tmp_path / "case.db"
    scan_dump(dump, db)
    s = SQLiteStore(db)
    try:
        assert len(s.search("offshore")) == 3 and s.get_meta("fts_pending") is None
        assert _triggers(s) == {"blobs_ai", "blobs_ad", "blobs_au"}
    finally:
        s.close()
