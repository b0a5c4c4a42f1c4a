"""ZIP entry times of an OOXML file against the program it claims wrote it.

Microsoft Office writes every part of a docx/xlsx/pptx with the DOS epoch (1980-01-01 00:00) as its zip time;
LibreOffice and most libraries write the real local time. An Office-claimed file whose parts carry real times was
re-packed after Office saved it, and those times say when. This is info: document systems, mail gateways and
test-case builders re-pack files innocently (44 of 313 Office-claimed files of Apache POI's test corpus are so).
"""

from __future__ import annotations

from typing import ClassVar

from ..model import Finding, ItemRecord
from .base import CheckContext

DOS_EPOCH = "1980-01-01T00:00:00"


class ZipDatesCheck:
    name: ClassVar[str] = "zipdates"

    def applies(self, rec: ItemRecord) -> bool:
        return isinstance(rec.metadata.get("parts"), list) and isinstance(rec.metadata.get("app"), dict)

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        app = str(rec.metadata["app"].get("Application") or "")
        if "Microsoft" not in app:
            return []
        times = sorted({str(p.get("date_time")) for p in rec.metadata["parts"]
                        if isinstance(p, dict) and p.get("date_time") and str(p.get("date_time")) != DOS_EPOCH})
        if not times:
            return []
        return [Finding(
            "zipdates", f"Claims to be saved by {app}, which dates every zip entry 1980-01-01, but parts carry real "
                        f"times ({times[0]}" + (f" to {times[-1]}" if len(times) > 1 else "") +
                        "): another program re-packed it then.",
            "info", {"application": app, "entry_times": times[:20], "repacked_at": times[-1]})]


CHECKS = [ZipDatesCheck]
