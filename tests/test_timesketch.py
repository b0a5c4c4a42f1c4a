"""`leaksift export --format timesketch`: one row per dated event, in the CSV shape Timesketch imports."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leaksift.cli import app
from leaksift.report.timesketch import COLUMNS, microseconds, write_timesketch
from leaksift.sample import build_sample
from leaksift.store import open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    base = tmp_path_factory.mktemp("ts")
    build_sample(base / "leak", keys_out=base / "keys.zone", emails=60, documents=24)
    db = base / "case.db"
    res = runner.invoke(app, ["scan", str(base / "leak"), "--db", str(db), "--keys", str(base / "keys.zone"),
                              "--leaked-at", "2017-05-05T22:00:00+02:00", "-j", "2", "-q"])
    assert res.exit_code == 0, res.output
    out = base / "timeline.csv"
    res = runner.invoke(app, ["export", "--db", str(db), "--format", "timesketch", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "timeline events" in res.output
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return db, rows


def _utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def test_columns_exact_and_every_row_well_formed(case) -> None:
    db, rows = case
    header = list(rows[0].keys())
    assert header == list(COLUMNS)
    assert header[:4] == ["message", "datetime", "timestamp", "timestamp_desc"]
    for r in rows:
        when = datetime.fromisoformat(r["datetime"])
        assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0
        assert int(r["timestamp"]) == microseconds(when)  # microseconds since the epoch, as Timesketch reads it
        assert r["message"] and r["timestamp_desc"] and len(r["item_id"]) == 16


def test_sent_and_received_rows_match_the_message_headers(case) -> None:
    db, rows = case
    store = open_store(db)
    try:
        email_ids = store.item_ids("email")
        item = next(d for d in map(store.item, email_ids)
                    if d["path"].endswith(".eml") and (d["metadata"] or {}).get("received"))
        raw = store.raw(item["sha256"])
    finally:
        store.close()
    # An independent parse of the stored bytes gives the expected instants.
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    sent = parsedate_to_datetime(msg["Date"])
    hops = [parsedate_to_datetime(v.rsplit(";", 1)[1].strip()) for v in msg.get_all("Received")]
    mine = [r for r in rows if r["item_id"] == item["id"]]
    sent_rows = [r for r in mine if r["timestamp_desc"] == "Email sent"]
    assert [r["datetime"] for r in sent_rows] == [_utc(sent)]
    assert sent_rows[0]["subject"] == item["subject"] and sent_rows[0]["sender"] == item["from_display"]
    received = sorted(r["datetime"] for r in mine if r["timestamp_desc"] == "Email received")
    assert received == sorted(_utc(h) for h in hops) and len(received) == len(hops) >= 1
    # Hop 1 is the first server: the bottom Received field.
    hop1 = next(r for r in mine if r["date_source"] == "Received header (hop 1)")
    assert hop1["datetime"] == _utc(hops[-1])


def test_document_created_modified_and_pdf_revisions(case) -> None:
    db, rows = case
    docx = [r for r in rows if r["path"].endswith(".docx") and r["date_source"] == "OOXML core created"]
    assert docx
    store = open_store(db)
    try:
        meta = store.item(docx[0]["item_id"])["metadata"]
        assert docx[0]["datetime"] == _utc(datetime.fromisoformat(meta["core"]["created"].replace("Z", "+00:00")))
        assert docx[0]["timestamp_desc"] == "Document created"
        revised = {r["item_id"] for r in rows if r["timestamp_desc"] == "PDF revision saved"}
        assert revised
        pdf = store.item(sorted(revised)[0])["metadata"]
    finally:
        store.close()
    expected = sorted(_utc(datetime.fromisoformat(rev["info_dates"]["ModDate"])) for rev in pdf["revision_texts"])
    got = sorted(r["datetime"] for r in rows
                 if r["item_id"] == sorted(revised)[0] and r["timestamp_desc"] == "PDF revision saved")
    assert got == expected and len(got) >= 2 and got[0] != got[1]
    assert any(r["timestamp_desc"] == "Document modified" for r in rows)
    assert any(r["timestamp_desc"] == "Photo taken" for r in rows)


def test_unreadable_dates_are_skipped_and_counted() -> None:
    items = [
        {"id": "a" * 16, "path": "x.eml", "kind": "email", "verdict": "consistent", "sha256": "0" * 64,
         "date": None, "date_raw": "not a date", "subject": "s\x00", "from_display": "=cmd|' /C calc'!A0",
         "metadata": {"received": ["from a by b; garbage", "from c by d; Tue, 07 Feb 2017 21:16:33 +0100"]}},
        {"id": "b" * 16, "path": "d.docx", "kind": "document", "verdict": "consistent", "sha256": "1" * 64,
         "metadata": {"core": {"created": "yesterday", "modified": "2017-04-15T19:10:00Z"}}},
    ]
    out = io.StringIO()
    stats = write_timesketch(items, out)
    assert (stats.items, stats.events, stats.skipped) == (2, 2, 3)
    assert stats.skipped_by_source == {"Date header": 1, "Received header (hop 2)": 1, "OOXML core created": 1}
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["datetime"] for r in rows] == ["2017-02-07T20:16:33+00:00", "2017-04-15T19:10:00+00:00"]
    assert "\x00" not in out.getvalue()


def test_other_formats_unchanged(case) -> None:
    db, _ = case
    res = runner.invoke(app, ["export", "--db", str(db), "--format", "csv"])
    assert res.exit_code == 0 and res.output.startswith("id,path,kind,mime,sha256")
    res = runner.invoke(app, ["export", "--db", str(db), "--format", "xml"])
    assert res.exit_code != 0
