"""OOXML zip entry times against the claimed writer."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.zipdates import ZipDatesCheck
from leaksift.model import ItemRecord


def _doc(app: str, *times: str) -> ItemRecord:
    rec = ItemRecord(id="d", path="a.docx", parent=None, source="a.docx", depth=0, kind="document",
                     mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     sha256="0" * 64, size=1)
    rec.metadata = {"app": {"Application": app}, "parts": [{"name": f"p{i}", "date_time": t}
                                                            for i, t in enumerate(times)]}
    return rec


def test_office_file_repacked_later_is_reported_with_the_time() -> None:
    found = ZipDatesCheck().run(_doc("Microsoft Office Word", "1980-01-01T00:00:00", "2017-05-05T23:12:00"),
                                CheckContext())
    assert [f.effect for f in found] == ["info"] and found[0].evidence["repacked_at"] == "2017-05-05T23:12:00"


def test_genuine_office_and_other_writers_are_quiet() -> None:
    assert ZipDatesCheck().run(_doc("Microsoft Office Word", "1980-01-01T00:00:00"), CheckContext()) == []
    assert ZipDatesCheck().run(_doc("LibreOffice/6.4", "2017-05-01T10:00:00"), CheckContext()) == []
