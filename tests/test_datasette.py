"""The case database opens in Datasette as it is: `datasette case.db`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import scan_dump, write_eml
from datasette.app import Datasette

from leaksift.store import open_store


FTS_METADATA = {"databases": {"case": {"tables": {"blobs": {"fts_table": "blobs_fts", "fts_pk": "rowid"}}}}}


def _get_json(ds: Datasette, path: str) -> tuple[int, object]:
    async def go() -> tuple[int, object]:
        r = await ds.client.get(path)
        return r.status_code, r.json()

    return asyncio.run(go())


def test_case_db_opens_in_datasette(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    write_eml(dump / "a.eml", 1, body="Le virement vers Nassau est parti.\r\n")
    write_eml(dump / "sub" / "b.eml", 2)
    db = tmp_path / "case.db"
    scan_dump(dump, db)
    store = open_store(db)
    try:
        expected = {r["path"]: r for r in store.iter_items()}
    finally:
        store.close()

    ds = Datasette([str(db)])
    status, rows = _get_json(ds, "/case/items.json?_shape=array&_sort=path")
    assert status == 200
    assert [r["path"] for r in rows] == sorted(expected) == ["a.eml", "sub/b.eml"]
    assert rows[0]["id"] == expected["a.eml"]["id"] and rows[0]["kind"] == "email"
    assert rows[0]["sha256"] == expected["a.eml"]["sha256"]

    # The joins people write, and the full-text index Datasette finds by itself.
    status, rows = _get_json(ds, "/case.json?_shape=array&sql=" + "select+i.path,+b.subject+from+items+i+join+"
                                 "blobs+b+on+b.sha256+=+i.sha256+where+i.path+=+'sub/b.eml'")
    assert status == 200 and rows == [{"path": "sub/b.eml", "subject": "Note 2 on the budget"}]
    status, rows = _get_json(ds, "/case/items.json?_facet=kind&_facet=verdict&_size=0")
    assert status == 200 and {f["value"]: f["count"] for f in rows["facet_results"]["kind"]["results"]} == {"email": 2}

    # Datasette finds FTS tables declared with content="..." only; the case's is content='blobs', so the
    # documented metadata names it (docs/export.md).
    ds = Datasette([str(db)], metadata=FTS_METADATA)
    status, rows = _get_json(ds, "/case/blobs.json?_shape=array&_search=Nassau&_col=subject")
    assert status == 200 and [r["subject"] for r in rows] == ["Note 1 on the budget"]
