"""Document dates check: each finding fires on a built forgery and stays quiet on its genuine counterpart."""

from __future__ import annotations

import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
from pikepdf import Dictionary, Name

from conftest import shared_corpus
from leaksift.checks.base import CheckContext
from leaksift.checks.docdates import CHECKS, DocDatesCheck, app_releases, font_release, parse_date, releases
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry
from leaksift.model import ItemRecord

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument."
LEAK = datetime(2024, 6, 1, tzinfo=timezone.utc)


# --- builders ---------------------------------------------------------------------------------------------------

def docx(path: Path, created: str, modified: str, app: str = "Microsoft Office Word", version: str = "16.0000",
         total_minutes: int = 30, fonts: tuple[str, ...] = ("Calibri", "Times New Roman")) -> Path:
    core = ('<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Alice</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{modified}</dcterms:modified></cp:coreProperties>')
    appxml = ('<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
              f'<TotalTime>{total_minutes}</TotalTime><Application>{app}</Application>'
              f'<AppVersion>{version}</AppVersion></Properties>')
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/>'
            f'<Relationship Id="rId2" Type="{REL}/metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{REL}/extended-properties" Target="docProps/app.xml"/></Relationships>')
    types = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             f'<Override PartName="/word/document.xml" ContentType="{CT}wordprocessingml.document.main+xml"/>'
             f'<Override PartName="/word/fontTable.xml" ContentType="{CT}wordprocessingml.fontTable+xml"/>'
             '<Override PartName="/docProps/core.xml" '
             'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
             f'<Override PartName="/docProps/app.xml" ContentType="{CT}extended-properties+xml"/></Types>')
    parts = {
        "[Content_Types].xml": types, "_rels/.rels": rels, "docProps/core.xml": core, "docProps/app.xml": appxml,
        "word/document.xml": f"<w:document {W}><w:body><w:p><w:r><w:t>Budget</w:t></w:r></w:p></w:body></w:document>",
        "word/fontTable.xml": f"<w:fonts {W}>" + "".join(f'<w:font w:name="{f}"/>' for f in fonts) + "</w:fonts>",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def pdf(path: Path, created: str, modified: str, producer: str, font: str = "Helvetica") -> Path:
    doc = pikepdf.new()
    f = doc.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.TrueType, BaseFont=Name("/" + font)))
    content = doc.make_stream(b"BT /F1 24 Tf 72 720 Td (Budget) Tj ET")
    page = Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792], Contents=content,
                      Resources=Dictionary(Font=Dictionary(F1=f)))
    doc.pages.append(pikepdf.Page(doc.make_indirect(page)))
    doc.trailer.Info = doc.make_indirect(Dictionary(Producer=producer, Creator=producer,
                                                    CreationDate=created, ModDate=modified))
    doc.save(path)
    return path


def top(path: Path, tmp_path: Path) -> ItemRecord:
    recs = list(Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp").ingest_file(path.parent, path.name))
    return recs[-1]


def findings(rec: ItemRecord, leaked_at: datetime | None = LEAK) -> list[tuple[str, str]]:
    check = DocDatesCheck()
    assert check.applies(rec), rec.metadata
    return [(f.effect, f.summary) for f in check.run(rec, CheckContext(leaked_at=leaked_at))]


def record(metadata: dict) -> ItemRecord:
    return ItemRecord(id="x", path="doc", parent=None, source="doc", depth=0, kind="document",
                      mime="application/vnd.oasis.opendocument.text", sha256="0", size=1, metadata=metadata)


# --- parsing and the table --------------------------------------------------------------------------------------

def test_dates_parse_in_every_recorded_form() -> None:
    assert parse_date("D:20170415065653+02'00'") == (datetime(2017, 4, 15, 4, 56, 53, tzinfo=timezone.utc), True)
    assert parse_date("2017-02-13T06:08:00.000000000") == (datetime(2017, 2, 13, 6, 8, tzinfo=timezone.utc), False)
    assert parse_date("2017:04:17 08:28:02")[0] == datetime(2017, 4, 17, 8, 28, 2, tzinfo=timezone.utc)
    assert parse_date("2017-04-12T11:17:00Z") == (datetime(2017, 4, 12, 11, 17, tzinfo=timezone.utc), True)
    assert parse_date("1601-01-01T00:00:00Z") is None  # an unset FILETIME, not a claim
    assert parse_date("garbage") is None


def test_release_table_is_sourced_and_matches_writers() -> None:
    rows = releases()
    assert len(rows) > 60 and all(r.source for r in rows)
    assert {(r.kind, r.version) for r in app_releases("Microsoft Office Word 16.0000")} == {("office", "16")}
    assert [r.version for r in app_releases("macOS Version 10.14.6 (Build 18G103) Quartz PDFContext")] == ["10.14"]
    assert [r.version for r in app_releases("LibreOffice/5.3.1.2$Windows_X86_64 LibreOffice_project/e80")] == ["5.3"]
    assert [r.version for r in app_releases("Microsoft® Word for Microsoft 365")] == ["Microsoft 365"]
    assert [r.version for r in app_releases("Acrobat Distiller 9.0.0 (Windows)")] == ["9"]
    assert font_release("ABCDEF+Calibri-Light").version == "Calibri Light"
    assert font_release("Calibri,Bold").version == "Calibri"
    assert font_release("Arial") is None and font_release("Calibrix") is None


# --- each finding: forgery fires, genuine stays quiet -----------------------------------------------------------

def test_genuine_docx_is_quiet(tmp_path: Path) -> None:
    rec = top(docx(tmp_path / "ok.docx", "2017-04-12T11:17:00Z", "2017-04-15T19:10:00Z"), tmp_path)
    assert rec.metadata["core"]["created"] == "2017-04-12T11:17:00Z"
    assert findings(rec) == []


def test_modified_before_created(tmp_path: Path) -> None:
    rec = top(docx(tmp_path / "bad.docx", "2017-04-15T19:10:00Z", "2017-04-12T11:17:00Z"), tmp_path)
    (effect, summary), = findings(rec)
    assert effect == "weakens" and "3.3 days before its created" in summary
    slip = top(docx(tmp_path / "slip.docx", "2017-04-12T11:17:00Z", "2017-04-12T08:17:00Z"), tmp_path)
    assert [e for e, _ in findings(slip)] == ["info"]  # three hours: a time-zone slip, only a note


def test_date_after_the_leak_contradicts(tmp_path: Path) -> None:
    rec = top(docx(tmp_path / "late.docx", "2024-05-30T09:00:00Z", "2024-06-03T09:00:00Z"), tmp_path)
    assert [e for e, _ in findings(rec)] == ["contradicts"]
    assert findings(rec, leaked_at=datetime(2024, 6, 5, tzinfo=timezone.utc)) == []
    day_after = top(docx(tmp_path / "edge.docx", "2024-05-30T09:00:00Z", "2024-06-01T20:00:00Z"), tmp_path)
    assert findings(day_after) == []  # within a day of the leak: zones and clocks


def test_dated_before_the_office_version_that_wrote_it(tmp_path: Path) -> None:
    forged = top(docx(tmp_path / "old.docx", "2013-03-01T09:00:00Z", "2013-03-02T09:00:00Z"), tmp_path)
    (effect, summary), = findings(forged)
    assert effect == "weakens" and "16.0000" in summary
    genuine = top(docx(tmp_path / "ok.docx", "2013-03-01T09:00:00Z", "2013-03-02T09:00:00Z", version="15.0000"),
                  tmp_path)
    assert findings(genuine) == []
    converted = top(docx(tmp_path / "conv.docx", "1998-03-01T09:00:00Z", "2016-03-02T09:00:00Z"), tmp_path)
    assert findings(converted) == []  # an old created date kept through a conversion is normal


def test_pdf_producer_newer_than_its_dates(tmp_path: Path) -> None:
    forged = top(pdf(tmp_path / "f.pdf", "D:20180301090000+01'00'", "D:20180301091000+01'00'",
                     "Microsoft® Word for Microsoft 365"), tmp_path)
    assert forged.metadata["info"]["Producer"] == "Microsoft® Word for Microsoft 365"
    assert [e for e, _ in findings(forged)] == ["weakens"]
    genuine = top(pdf(tmp_path / "g.pdf", "D:20210301090000+01'00'", "D:20210301091000+01'00'",
                      "Microsoft® Word for Microsoft 365"), tmp_path)
    assert findings(genuine) == []


def test_pdf_modified_before_created_beyond_zone_slack(tmp_path: Path) -> None:
    forged = top(pdf(tmp_path / "f.pdf", "D:20210305090000Z", "D:20210301090000Z", "LibreOffice 7.0"), tmp_path)
    assert [e for e, _ in findings(forged)] == ["weakens"]
    zones = top(pdf(tmp_path / "g.pdf", "D:20210301090000+09'00'", "D:20210301080000-04'00'", "LibreOffice 7.0"),
                tmp_path)
    assert findings(zones) == []  # later in UTC once the offsets are applied


def test_fonts_newer_than_the_document(tmp_path: Path) -> None:
    forged = top(docx(tmp_path / "f.docx", "2019-01-01T09:00:00Z", "2019-01-02T09:00:00Z", fonts=("Aptos",)),
                 tmp_path)
    (effect, summary), = findings(forged)
    assert effect == "weakens" and "Aptos" in summary
    genuine = top(docx(tmp_path / "g.docx", "2024-01-01T09:00:00Z", "2024-01-02T09:00:00Z", fonts=("Aptos",)),
                  tmp_path)
    assert findings(genuine) == []
    old = top(pdf(tmp_path / "old.pdf", "D:20040301090000Z", "D:20040301090000Z", "Acrobat Distiller 6.0 (Windows)",
                  font="ABCDEF+Calibri,Bold"), tmp_path)
    assert [e for e, s in findings(old) if "Calibri" in s] == ["weakens"]


def test_editing_time_longer_than_the_span(tmp_path: Path) -> None:
    forged = top(docx(tmp_path / "f.docx", "2017-04-12T09:00:00Z", "2017-04-12T10:00:00Z", total_minutes=600),
                 tmp_path)
    (effect, summary), = findings(forged)
    assert effect == "weakens" and "editing time (10.0 hours)" in summary
    genuine = top(docx(tmp_path / "g.docx", "2017-04-12T09:00:00Z", "2017-04-12T10:00:00Z", total_minutes=70),
                  tmp_path)
    assert findings(genuine) == []


def test_odf_editing_duration_and_generator() -> None:
    meta = {"format": "odf", "meta": {"meta:creation-date": "2017-02-12T01:51:00.000000000",
                                      "dc:date": "2017-02-13T06:08:00.000000000",
                                      "meta:editing-duration": "PT3H20M0S",
                                      "meta:generator": "LibreOffice/5.3.1.2$Windows_X86_64 LibreOffice_project/e8"}}
    assert findings(record(meta)) == []
    forged = {**meta, "meta": {**meta["meta"], "meta:editing-duration": "P2DT1H"}}
    assert [e for e, _ in findings(record(forged))] == ["weakens"]
    converted = {**meta, "meta": {**meta["meta"], "meta:generator": "LibreOffice/7.6.4.1$Linux_X86_64"}}
    assert [e for e, _ in findings(record(converted))] == ["info"]  # headless conversion keeps the dates


def test_ole_summary_and_exif() -> None:
    ole = {"summary": {"created": "2002-12-02T23:48:02Z", "last_saved": "2003-01-10T10:00:00Z",
                       "edit_time_seconds": 3600, "app_name": "Microsoft Excel"},
           "doc_summary": {"app_version_text": "11.0512"}}
    assert findings(record(ole)) == []  # an Office 2003 beta build: inside the table's slack
    forged = {**ole, "doc_summary": {"app_version_text": "12.0000"}}
    assert [e for e, _ in findings(record(forged))] == ["weakens"]
    exif = {"exif": {"exif": {"DateTimeOriginal": "2017:04:17 08:28:02"},
                     "ifd0": {"DateTime": "2017:04:14 08:28:02", "Software": "Firmware Version 1.0.2"}}}
    assert [e for e, _ in findings(record(exif))] == ["weakens"]
    exif["exif"]["ifd0"]["DateTime"] = "2017:04:17 09:00:00"
    assert findings(record(exif)) == []


def test_module_exposes_the_check() -> None:
    assert CHECKS == [DocDatesCheck] and DocDatesCheck.name == "docdates"


# --- genuine files of the reference corpus ----------------------------------------------------------------------

DOC_SUFFIXES = {".doc", ".docx", ".docm", ".xls", ".xlsx", ".xlsm", ".ppt", ".pptx", ".odt", ".ods", ".odp", ".pdf"}


def test_corpus_documents_are_rarely_flagged(tmp_path: Path) -> None:
    check, ctx = DocDatesCheck(), CheckContext()
    checked, flagged = 0, []
    for root in (shared_corpus("office"), shared_corpus("pdf")):
        for f in sorted(root.rglob("*")):
            if not f.is_file() or f.suffix.lower() not in DOC_SUFFIXES or f.stat().st_size > 2_000_000:
                continue
            engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp")
            for rec in engine.ingest_file(f.parent, f.name):
                if check.applies(rec):
                    checked += 1
                    bad = [x for x in check.run(rec, ctx) if x.effect in ("weakens", "contradicts")]
                    if bad:
                        flagged.append((rec.path, [x.summary for x in bad]))
    assert checked > 300
    assert len(flagged) < checked / 100, flagged
