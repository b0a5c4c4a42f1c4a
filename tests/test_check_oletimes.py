"""oletimes: OLE directory times against SummaryInformation, on compound files built by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from conftest import shared_corpus
from test_ingest_ole import compound_file, ingest, summary_stream

from leaksift.checks.base import CheckContext
from leaksift.checks.oletimes import OleTimesCheck

CREATED, SAVED = datetime(2016, 3, 1, 9, 0), datetime(2016, 3, 2, 17, 30)


def findings(tmp_path: Path, created: datetime, saved: datetime, root: tuple, entry: tuple = (None, None)):
    data = compound_file([("\x05SummaryInformation", summary_stream(created, saved), entry)], root_times=root)
    (tmp_path / "f.doc").write_bytes(data)
    rec = ingest(tmp_path / "f.doc")
    check = OleTimesCheck()
    assert check.applies(rec)
    return {f.evidence["finding"]: f for f in check.run(rec, CheckContext())}


def test_genuine_word_save_is_quiet(tmp_path: Path) -> None:
    # Word: root modified some seconds after last_saved (rounded down to the minute), root created unset
    assert findings(tmp_path, CREATED, SAVED, (None, SAVED + timedelta(seconds=41))) == {}
    # Excel: root and stream times equal to the save; a 13-hour local-time slip stays quiet too
    assert findings(tmp_path, CREATED, SAVED, (CREATED, SAVED - timedelta(hours=13)), (None, CREATED)) == {}


def test_properties_moved_after_the_last_write(tmp_path: Path) -> None:
    got = findings(tmp_path, CREATED, SAVED + timedelta(days=30), (None, SAVED))
    f = got["properties_after_storage"]
    assert f.effect == "weakens" and f.evidence["gap_seconds"] == 30 * 86400
    assert f.evidence["root_modified"] == "2016-03-02T17:30:00Z"


def test_claimed_creation_after_the_last_write(tmp_path: Path) -> None:
    got = findings(tmp_path, datetime(2017, 1, 1), datetime(2017, 1, 2), (None, SAVED))
    assert set(got) == {"storage_before_created"} and got["storage_before_created"].effect == "weakens"


def test_rewritten_later_and_born_earlier_are_info(tmp_path: Path) -> None:
    got = findings(tmp_path, CREATED, SAVED, (CREATED - timedelta(days=200), SAVED + timedelta(days=400)))
    assert {k: f.effect for k, f in got.items()} == {"saved_after_properties": "info",
                                                     "storage_born_earlier": "info"}
    assert got["saved_after_properties"].evidence["gap_seconds"] == 400 * 86400


def test_writer_garbage_times_are_ignored(tmp_path: Path) -> None:
    assert findings(tmp_path, CREATED, SAVED, (datetime(1601, 1, 2), datetime(1611, 9, 15))) == {}


def test_corpus_is_never_weakened() -> None:
    root = shared_corpus("office")
    check, applied, flagged = OleTimesCheck(), 0, []
    for path in sorted(root.rglob("*.xls"))[:60] + sorted(root.rglob("*.ppt"))[:30]:
        rec = ingest(path)
        if check.applies(rec):
            applied += 1
            flagged += [path.name for f in check.run(rec, CheckContext()) if f.effect != "info"]
    assert applied > 50 and flagged == []
