"""OOXML and ODF readers: every metadata field back as written, text, and hostile parts."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest
from conftest import shared_corpus

from leaksift.ingest import office, sniff
from leaksift.ingest.base import Budget, BytesBlob, Context, IngestError, Limits, Parsed
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import Registry, default_registry

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT_W = "application/vnd.openxmlformats-officedocument.wordprocessingml."

CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:title>Quarterly report</dc:title><dc:subject>Budget</dc:subject><dc:creator>Alice Example</dc:creator>
<cp:keywords>q3 budget</cp:keywords><dc:description>draft</dc:description>
<cp:lastModifiedBy>Bob Example</cp:lastModifiedBy><cp:revision>7</cp:revision>
<cp:lastPrinted>2020-01-02T03:04:05Z</cp:lastPrinted>
<dcterms:created xsi:type="dcterms:W3CDTF">2021-03-04T05:06:07+02:00</dcterms:created>
<dcterms:modified xsi:type="dcterms:W3CDTF">2021-03-05T10:00:00Z</dcterms:modified>
<cp:category>Finance</cp:category><cp:contentStatus>Final</cp:contentStatus>
<dc:language>en-GB</dc:language><dc:identifier>ID-42</dc:identifier><cp:version>1.2</cp:version>
</cp:coreProperties>"""

APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
 xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">
<Template>Normal.dotm</Template><TotalTime>42</TotalTime><Pages>3</Pages><Words>120</Words>
<Characters>700</Characters><Application>Microsoft Office Word</Application><DocSecurity>0</DocSecurity>
<Lines>10</Lines><Paragraphs>4</Paragraphs><ScaleCrop>false</ScaleCrop>
<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Title</vt:lpstr></vt:variant>
<vt:variant><vt:i4>1</vt:i4></vt:variant></vt:vector></HeadingPairs>
<TitlesOfParts><vt:vector size="1" baseType="lpstr"><vt:lpstr>Quarterly report</vt:lpstr></vt:vector></TitlesOfParts>
<Company>ACME Corp</Company><LinksUpToDate>false</LinksUpToDate><CharactersWithSpaces>810</CharactersWithSpaces>
<SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged><AppVersion>16.0000</AppVersion>
</Properties>"""

CUSTOM = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
 xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">
<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Project"><vt:lpwstr>Falcon</vt:lpwstr></property>
<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="3" name="Reviewed"><vt:bool>true</vt:bool></property>
<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="4" name="Due"><vt:filetime>2021-04-01T00:00:00Z</vt:filetime></property>
<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="5" name="Budget"><vt:i4>1500</vt:i4></property>
</Properties>"""

SETTINGS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings {W} {R} xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml">
<w:writeProtection w:recommended="1"/>
<w:documentProtection w:edit="readOnly" w:enforcement="1"/><w:trackRevisions/>
<w:attachedTemplate r:id="rId1"/>
<w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat>
<w:docVars><w:docVar w:name="client" w:val="Globex"/></w:docVars>
<w:rsids><w:rsidRoot w:val="00A1B2C3"/><w:rsid w:val="00112233"/><w:rsid w:val="00A1B2C3"/><w:rsid w:val="00FFEE11"/></w:rsids>
<w14:docId w14:val="1A2B3C4D"/>
</w:settings>"""

DOCUMENT = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document {W} {R}><w:body>
<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
<w:r><w:t>Hello</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">tabbed </w:t></w:r><w:r><w:br/><w:t>next line</w:t></w:r></w:p>
<w:p><w:ins w:id="1" w:author="Carol" w:date="2021-03-05T09:00:00Z"><w:r><w:t>inserted words</w:t></w:r></w:ins>
<w:del w:id="2" w:author="Dave" w:date="2021-03-05T09:30:00+01:00"><w:r><w:delText>deleted words</w:delText></w:r></w:del></w:p>
<w:p><w:hyperlink r:id="rId9"><w:r><w:t>a link</w:t></w:r></w:hyperlink></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>cell B</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
</w:body></w:document>"""


def content_types(overrides: dict[str, str], defaults: dict[str, str] | None = None) -> str:
    defaults = {"rels": "application/vnd.openxmlformats-package.relationships+xml", "xml": "application/xml",
                **(defaults or {})}
    parts = [f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults.items()]
    parts += [f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides.items()]
    return ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types">' + "".join(parts) + "</Types>")


def rels(items: list[tuple[str, str, str, bool]]) -> str:
    body = "".join(f'<Relationship Id="{i}" Type="{REL}/{t}" Target="{target}"'
                   + (' TargetMode="External"' if ext else "") + "/>" for i, t, target, ext in items)
    return ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships">' + body + "</Relationships>")


PKG_RELS = rels([("rId1", "officeDocument", "word/document.xml", False),
                 ("rId2", "metadata/core-properties", "docProps/core.xml", False),
                 ("rId3", "extended-properties", "docProps/app.xml", False),
                 ("rId4", "custom-properties", "docProps/custom.xml", False)])
PROPS_TYPES = {
    "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
    "docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-properties+xml",
    "docProps/custom.xml": "application/vnd.openxmlformats-officedocument.custom-properties+xml",
}


def write_zip(path: Path, parts: dict[str, str | bytes], when: tuple[int, ...] = (2021, 3, 5, 10, 0, 0)) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data, zipfile.ZIP_DEFLATED)
    return path


def docx_parts(**replace: str | bytes) -> dict[str, str | bytes]:
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types({
            "word/document.xml": CT_W + "document.main+xml", "word/settings.xml": CT_W + "settings+xml",
            "word/fontTable.xml": CT_W + "fontTable+xml", "word/comments.xml": CT_W + "comments+xml",
            "word/header1.xml": CT_W + "header+xml", "word/footnotes.xml": CT_W + "footnotes+xml",
            **PROPS_TYPES}, {"bin": "application/vnd.ms-office.vbaProject"}),
        "_rels/.rels": PKG_RELS,
        "docProps/core.xml": CORE,
        "docProps/app.xml": APP,
        "docProps/custom.xml": CUSTOM,
        "word/document.xml": DOCUMENT,
        "word/_rels/document.xml.rels": rels([("rId9", "hyperlink", "https://evil.example/track?id=1", True),
                                              ("rId5", "oleObject", "embeddings/oleObject1.bin", False)]),
        "word/settings.xml": SETTINGS,
        "word/_rels/settings.xml.rels": rels([("rId1", "attachedTemplate",
                                               "file:///C:\\Users\\alice\\Templates\\Memo.dotm", True)]),
        "word/fontTable.xml": f'<w:fonts {W}><w:font w:name="Calibri"/><w:font w:name="Cambria Math"/></w:fonts>',
        "word/comments.xml": (f'<w:comments {W}><w:comment w:id="0" w:author="Eve" w:date="2021-03-05T11:00:00Z" '
                              'w:initials="E"><w:p><w:r><w:t>check this figure</w:t></w:r></w:p></w:comment>'
                              "</w:comments>"),
        "word/header1.xml": f'<w:hdr {W}><w:p><w:r><w:t>CONFIDENTIAL header</w:t></w:r></w:p></w:hdr>',
        "word/footnotes.xml": f'<w:footnotes {W}><w:footnote w:id="1"><w:p><w:r><w:t>a footnote</w:t></w:r></w:p>'
                              "</w:footnote></w:footnotes>",
        "word/vbaProject.bin": b"\xd0\xcf\x11\xe0 not really vba",
        "word/embeddings/oleObject1.bin": b"\x00" * 64,
    }
    parts.update(replace)
    return parts


def office_registry() -> Registry:
    reg = Registry()
    for cls in office.READERS:
        reg.register(cls())
    return reg


def ingest(path: Path, limits: Limits | None = None, registry: Registry | None = None):
    eng = Engine(registry or office_registry(), limits or Limits(), tmp_dir=path.parent / "tmp")
    return list(eng.ingest_file(path.parent, path.name))


def top(path: Path, limits: Limits | None = None):
    rec = ingest(path, limits)[-1]
    json.dumps(rec.metadata, allow_nan=False)  # metadata must stay JSON-able
    return rec


# --- OOXML ------------------------------------------------------------------------------------

def test_docx_metadata_every_field(tmp_path: Path) -> None:
    rec = top(write_zip(tmp_path / "report.docm", docx_parts()))
    assert rec.error is None, rec.error
    assert rec.mime == sniff.DOCX and not rec.is_container
    md = rec.metadata
    assert md["core"] == {
        "title": "Quarterly report", "subject": "Budget", "creator": "Alice Example", "keywords": "q3 budget",
        "description": "draft", "lastModifiedBy": "Bob Example", "revision": "7",
        "lastPrinted": "2020-01-02T03:04:05Z", "created": "2021-03-04T05:06:07+02:00",
        "modified": "2021-03-05T10:00:00Z", "category": "Finance", "contentStatus": "Final",
        "language": "en-GB", "identifier": "ID-42", "version": "1.2"}
    assert md["core_types"] == {"created": "dcterms:W3CDTF", "modified": "dcterms:W3CDTF"}
    app = md["app"]
    assert (app["Application"], app["AppVersion"], app["Company"], app["TotalTime"], app["Template"]) == (
        "Microsoft Office Word", "16.0000", "ACME Corp", "42", "Normal.dotm")
    assert app["HeadingPairs"] == ["Title", "1"] and app["TitlesOfParts"] == ["Quarterly report"]
    assert app["DocSecurity"] == "0" and app["CharactersWithSpaces"] == "810"
    assert md["custom"] == {
        "Project": {"type": "lpwstr", "value": "Falcon", "pid": "2"},
        "Reviewed": {"type": "bool", "value": "true", "pid": "3"},
        "Due": {"type": "filetime", "value": "2021-04-01T00:00:00Z", "pid": "4"},
        "Budget": {"type": "i4", "value": "1500", "pid": "5"}}
    assert md["rsid_root"] == "00A1B2C3"
    assert md["rsids"] == ["00112233", "00A1B2C3", "00FFEE11"]
    st = md["settings"]
    assert st["documentProtection"] == {"edit": "readOnly", "enforcement": "1"}
    assert st["trackRevisions"] is True and st["writeProtection"] == {"recommended": "1"}
    assert st["attachedTemplate"]["target"] == "file:///C:\\Users\\alice\\Templates\\Memo.dotm"
    assert st["compatibilityMode"] == "15" and st["docVars"] == {"client": "Globex"}
    assert st["docId_w14"] == "1A2B3C4D"
    assert md["fonts"] == ["Calibri", "Cambria Math"]
    assert md["counts"]["pages"] == 3 and md["counts"]["words"] == 120 and md["counts"]["total_time"] == 42
    parts = {p["name"]: p for p in md["parts"]}
    assert parts["word/document.xml"]["date_time"] == "2021-03-05T10:00:00"
    assert md["parts_count"] == len(docx_parts())
    assert md["tracked_changes"] == [
        {"type": "ins", "author": "Carol", "date": "2021-03-05T09:00:00Z", "part": "word/document.xml"},
        {"type": "del", "author": "Dave", "date": "2021-03-05T09:30:00+01:00", "part": "word/document.xml"}]
    assert md["tracked_changes_count"] == 2
    assert md["has_comments"] is True
    assert md["comments"][0] == {"author": "Eve", "date": "2021-03-05T11:00:00Z", "initials": "E", "id": "0"}
    assert md["has_macros"] is True and md["macros"] == ["word/vbaProject.bin"]
    assert md["has_embedded"] is True and md["embedded"][0]["name"] == "word/embeddings/oleObject1.bin"
    ext = {(e["type"], e["target"]) for e in md["external_relationships"]}
    assert ("hyperlink", "https://evil.example/track?id=1") in ext
    assert ("attachedTemplate", "file:///C:\\Users\\alice\\Templates\\Memo.dotm") in ext


def test_docx_text(tmp_path: Path) -> None:
    text = top(write_zip(tmp_path / "t.docx", docx_parts())).text
    assert "Hello\ttabbed\nnext line" in text
    assert "inserted words" in text and "deleted words" not in text
    assert "a link" in text and "cell A\tcell B\n" in text
    for extra in ("CONFIDENTIAL header", "a footnote", "check this figure"):
        assert extra in text


def test_multiple_core_parts_keep_the_related_one(tmp_path: Path) -> None:
    other = CORE.replace("Alice Example", "Mallory").replace("2021-03-04T05:06:07+02:00", "1999-01-01T00:00:00Z")
    parts = docx_parts(**{"docProps/core2.xml": other})
    parts["[Content_Types].xml"] = content_types({
        "word/document.xml": CT_W + "document.main+xml", "docProps/core2.xml": PROPS_TYPES["docProps/core.xml"],
        **PROPS_TYPES})
    md = top(write_zip(tmp_path / "two.docx", parts)).metadata
    assert md["core"]["creator"] == "Alice Example"
    assert md["core_other"]["docProps/core2.xml"]["creator"] == "Mallory"


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
"""


@pytest.mark.parametrize("part, body", [
    ("docProps/core.xml", BOMB + '<cp:coreProperties xmlns:cp="x"><dc:title xmlns:dc="y">&lol9;</dc:title>'
                                 "</cp:coreProperties>"),
    ("word/document.xml", BOMB + f"<w:document {W}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
                                 "</w:body></w:document>"),
])
def test_entity_bomb_is_xml_entities_fast(tmp_path: Path, part: str, body: str) -> None:
    path = write_zip(tmp_path / "bomb.docx", docx_parts(**{part: body}))
    t0 = time.monotonic()
    rec = top(path)
    assert time.monotonic() - t0 < 2
    assert rec.error_reason == "xml_entities", rec.error
    assert part in rec.metadata["part_errors"]
    # the other parts were still read: evidence survives a hostile part
    assert rec.metadata["app"]["Company"] == "ACME Corp"
    assert "lol" not in (rec.text or "")


def test_part_over_the_xml_cap_is_a_bomb(tmp_path: Path) -> None:
    huge = f"<w:document {W}><w:body><w:p><w:r><w:t>" + "a" * 8_000_000 + "</w:t></w:r></w:p></w:body></w:document>"
    path = write_zip(tmp_path / "zbomb.docx", docx_parts(**{"word/document.xml": huge}))
    assert path.stat().st_size < 100_000
    rec = top(path, Limits(max_xml_bytes=2_000_000))
    assert rec.error_reason == "bomb", rec.error
    assert "word/document.xml" in rec.metadata["part_errors"]
    assert rec.metadata["core"]["creator"] == "Alice Example"
    # without a telling ratio, a part over the cap is too large
    plain = f"<w:document {W}><w:body>" + "".join(f"<w:p><w:r><w:t>{i}</w:t></w:r></w:p>" for i in range(9000))
    path = write_zip(tmp_path / "big.docx", docx_parts(**{"word/document.xml": plain + "</w:body></w:document>"}))
    assert top(path, Limits(max_xml_bytes=50_000)).error_reason == "too_large"


def test_deeply_nested_part_is_too_deep(tmp_path: Path) -> None:
    deep = f"<w:document {W}>" + "<w:b>" * 200_000 + "</w:b>" * 200_000 + "</w:document>"
    t0 = time.monotonic()
    rec = top(write_zip(tmp_path / "deep.docx", docx_parts(**{"word/document.xml": deep})))
    assert rec.error_reason == "too_deep" and "word/document.xml" in rec.error
    assert time.monotonic() - t0 < 3


def test_malformed_part_is_corrupt_but_rest_is_read(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bad.docx", docx_parts(**{"word/settings.xml": "<w:settings><unclosed>"}))
    rec = top(path)
    assert rec.error_reason == "corrupt" and "word/settings.xml" in rec.metadata["part_errors"]
    assert "Hello" in rec.text and rec.metadata["core"]["title"] == "Quarterly report"


def test_broken_zip_is_corrupt(tmp_path: Path) -> None:
    data = write_zip(tmp_path / "ok.docx", docx_parts()).read_bytes()
    ctx = Context(limits=Limits(), out=Parsed(), budget=Budget(10**9))
    with pytest.raises(IngestError) as err:  # the central directory is gone: no zip at all
        list(office.OoxmlReader().read(BytesBlob(data[: len(data) // 2]), ctx))
    assert err.value.reason == "corrupt"


def xlsx_parts() -> dict[str, str | bytes]:
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml."
    return {
        "[Content_Types].xml": content_types({
            "xl/workbook.xml": ct + "sheet.main+xml", "xl/worksheets/sheet1.xml": ct + "worksheet+xml",
            "xl/worksheets/sheet2.xml": ct + "worksheet+xml", "xl/sharedStrings.xml": ct + "sharedStrings+xml",
            "xl/styles.xml": ct + "styles+xml", "xl/comments1.xml": ct + "comments+xml", **PROPS_TYPES}),
        "_rels/.rels": rels([("rId1", "officeDocument", "xl/workbook.xml", False),
                             ("rId2", "metadata/core-properties", "docProps/core.xml", False)]),
        "docProps/core.xml": CORE,
        "xl/workbook.xml": (
            f'<workbook {S} {R}><fileVersion appName="xl" lastEdited="7" rupBuild="22228"/>'
            '<workbookPr date1904="false"/><sheets><sheet name="Payroll" sheetId="1" r:id="rId1"/>'
            '<sheet name="Secret" sheetId="2" state="hidden" r:id="rId2"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": rels([("rId1", "worksheet", "worksheets/sheet1.xml", False),
                                            ("rId2", "worksheet", "worksheets/sheet2.xml", False)]),
        "xl/sharedStrings.xml": (f'<sst {S} count="3" uniqueCount="3"><si><t>Name</t></si><si><t>Salary</t></si>'
                                 '<si><r><t>Jo</t></r><r><t>hn</t></r><rPh><t>jon</t></rPh></si></sst>'),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet {S}><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>5000.5</v></c><c r="C2" t="b"><v>1</v></c></row>'
            "</sheetData></worksheet>"),
        "xl/worksheets/sheet2.xml": (f'<worksheet {S}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>hidden '
                                     "note</t></is></c></row></sheetData></worksheet>"),
        "xl/styles.xml": (f'<styleSheet {S}><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
                          '<font><name val="Arial Narrow"/></font></fonts></styleSheet>'),
        "xl/comments1.xml": (f'<comments {S}><authors><author>Frank</author></authors><commentList>'
                             '<comment ref="A1" authorId="0"><text><r><t>why so high?</t></r></text></comment>'
                             "</commentList></comments>"),
    }


def test_xlsx(tmp_path: Path) -> None:
    rec = top(write_zip(tmp_path / "pay.xlsx", xlsx_parts()))
    assert rec.error is None, rec.error
    md = rec.metadata
    assert md["sheet_names"] == ["Payroll", "Secret"] and md["hidden_sheets"] == {"Secret": "hidden"}
    assert md["fonts"] == ["Calibri", "Arial Narrow"]
    assert md["settings"]["fileVersion"] == {"appName": "xl", "lastEdited": "7", "rupBuild": "22228"}
    assert md["counts"]["sheets"] == 2 and md["shared_strings_count"] == 3
    assert md["comment_authors"] == ["Frank"] and md["has_comments"] is True
    assert md["core"]["creator"] == "Alice Example"
    assert "Payroll\nName\tSalary\nJohn\t5000.5\tTRUE" in rec.text
    assert "Secret\nhidden note" in rec.text and "why so high?" in rec.text and "jon" not in rec.text


def test_pptx_slides_in_order_with_notes_and_theme_fonts(tmp_path: Path) -> None:
    ct = "application/vnd.openxmlformats-officedocument.presentationml."
    slides = {f"ppt/slides/slide{n}.xml": (f"<p:sld {P} {A}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r>"
                                          f"<a:t>slide {n} title</a:t></a:r></a:p></p:txBody></p:sp></p:spTree>"
                                          "</p:cSld></p:sld>") for n in (1, 2, 10)}
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types({
            "ppt/presentation.xml": ct + "presentation.main+xml",
            **{k: ct + "slide+xml" for k in slides},
            "ppt/notesSlides/notesSlide1.xml": ct + "notesSlide+xml",
            "ppt/theme/theme1.xml": "application/vnd.openxmlformats-officedocument.theme+xml",
            **PROPS_TYPES}),
        "_rels/.rels": rels([("rId1", "officeDocument", "ppt/presentation.xml", False)]),
        "ppt/presentation.xml": f"<p:presentation {P}/>",
        "docProps/app.xml": APP.replace("<Pages>3</Pages>", "<Slides>3</Slides><Notes>1</Notes>"),
        **slides,
        "ppt/notesSlides/notesSlide1.xml": (f"<p:notes {P} {A}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r>"
                                            "<a:t>speaker says hi</a:t></a:r></a:p></p:txBody></p:sp></p:spTree>"
                                            "</p:cSld></p:notes>"),
        "ppt/theme/theme1.xml": (f'<a:theme {A}><a:themeElements><a:fontScheme name="Office"><a:majorFont>'
                                 '<a:latin typeface="Calibri Light"/><a:ea typeface=""/></a:majorFont><a:minorFont>'
                                 '<a:latin typeface="Calibri"/><a:font script="Jpan" typeface="Yu Gothic"/>'
                                 "</a:minorFont></a:fontScheme></a:themeElements></a:theme>"),
    }
    rec = top(write_zip(tmp_path / "deck.pptx", parts))
    assert rec.error is None, rec.error
    assert rec.mime == sniff.PPTX
    text = rec.text
    assert text.index("slide 1 title") < text.index("slide 2 title") < text.index("slide 10 title")
    assert "speaker says hi" in text
    md = rec.metadata
    assert md["fonts"] == ["Calibri Light", "Calibri", "Yu Gothic"] == md["theme_fonts"]
    assert md["counts"]["slides"] == 3 and md["counts"]["slide_parts"] == 3 and md["counts"]["notes"] == 1


# --- ODF -------------------------------------------------------------------------------------

ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xlink="http://www.w3.org/1999/xlink" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
          'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0" '
          'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"')

ODF_META = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta {ODF_NS} office:version="1.3"><office:meta>
<meta:generator>LibreOffice/7.5.2.2$Linux_X86_64 LibreOffice_project/53bb9681a964705cf672590721dbc85eb4d0c3a2</meta:generator>
<dc:title>Minutes</dc:title><dc:creator>Grace Hopper</dc:creator><meta:initial-creator>Ada L</meta:initial-creator>
<meta:creation-date>2022-05-01T09:15:30.123456789</meta:creation-date><dc:date>2022-05-02T18:00:00+02:00</dc:date>
<meta:editing-cycles>12</meta:editing-cycles><meta:editing-duration>PT2H3M4S</meta:editing-duration>
<meta:print-date>2022-05-02T17:00:00</meta:print-date><meta:printed-by>Printer Person</meta:printed-by>
<dc:language>de-DE</dc:language><meta:keyword>alpha</meta:keyword><meta:keyword>beta</meta:keyword>
<meta:template xlink:type="simple" xlink:href="../Templates/board.ott" xlink:title="Board" meta:date="2020-01-01T00:00:00"/>
<meta:document-statistic meta:page-count="2" meta:paragraph-count="5" meta:word-count="40" meta:character-count="250"/>
<meta:user-defined meta:name="Case">A-17</meta:user-defined>
<meta:user-defined meta:name="Amount" meta:value-type="float">12.5</meta:user-defined>
<meta:user-defined meta:name="Signed" meta:value-type="boolean">true</meta:user-defined>
</office:meta></office:document-meta>"""

ODF_CONTENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content {ODF_NS} office:version="1.3">
<office:font-face-decls><style:font-face style:name="Liberation Serif" svg:font-family="'Liberation Serif'"/>
<style:font-face style:name="Noto Sans" svg:font-family="'Noto Sans'"/></office:font-face-decls>
<office:body><office:text>
<text:tracked-changes><text:changed-region text:id="ct1"><text:deletion><office:change-info>
<dc:creator>Heidi</dc:creator><dc:date>2022-05-02T10:00:00</dc:date></office:change-info>
<text:p>removed sentence</text:p></text:deletion></text:changed-region></text:tracked-changes>
<text:h text:outline-level="1">Agenda</text:h>
<text:p>One<text:s text:c="3"/>two<text:tab/>three<text:line-break/>four <text:span>span text</text:span> tail
<office:annotation><dc:creator>Ivan</dc:creator><dc:date>2022-05-02T11:00:00</dc:date><text:p>a remark</text:p></office:annotation>end.</text:p>
<text:p>See <text:a xlink:href="https://leak.example/doc">the link</text:a>.</text:p>
<table:table table:name="Budget"><table:table-row><table:table-cell><text:p>c1</text:p></table:table-cell>
<table:table-cell><text:p>c2</text:p></table:table-cell></table:table-row></table:table>
</office:text></office:body></office:document-content>"""

ODF_SETTINGS = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-settings {ODF_NS}><office:settings><config:config-item-set config:name="ooo:configuration-settings">
<config:config-item config:name="PrinterName" config:type="string">HP LaserJet 4 (Room 12)</config:config-item>
<config:config-item config:name="RsidRoot" config:type="int">937255</config:config-item>
<config:config-item config:name="Rsid" config:type="int">983277</config:config-item>
<config:config-item config:name="ZoomFactor" config:type="short">100</config:config-item>
</config:config-item-set></office:settings></office:document-settings>"""


def manifest(encrypted: bool = False) -> str:
    enc = ("<manifest:encryption-data manifest:checksum-type=\"SHA1/1K\" manifest:checksum=\"xx\">"
           '<manifest:algorithm manifest:algorithm-name="Blowfish CFB" manifest:initialisation-vector="yy"/>'
           '<manifest:key-derivation manifest:key-derivation-name="PBKDF2" manifest:iteration-count="1024" '
           'manifest:salt="zz"/></manifest:encryption-data>') if encrypted else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest {ODF_NS} manifest:version="1.3">'
            '<manifest:file-entry manifest:full-path="/" manifest:version="1.3" '
            'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
            f"{enc}</manifest:file-entry>"
            '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>")


def odt_parts(encrypted: bool = False) -> dict[str, str | bytes]:
    return {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "META-INF/manifest.xml": manifest(encrypted),
        "meta.xml": ODF_META,
        "settings.xml": ODF_SETTINGS,
        "content.xml": b"\x8f\x01 encrypted bytes" if encrypted else ODF_CONTENT,
        "styles.xml": (f'<office:document-styles {ODF_NS}><office:font-face-decls><style:font-face '
                       'style:name="DejaVu Sans" svg:font-family="\'DejaVu Sans\'"/></office:font-face-decls>'
                       "</office:document-styles>"),
    }


def write_odf(path: Path, parts: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2022, 5, 2, 18, 0, 2))
            zf.writestr(info, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return path


def test_odt_metadata_every_field(tmp_path: Path) -> None:
    rec = top(write_odf(tmp_path / "minutes.odt", odt_parts()))
    assert rec.error is None, rec.error
    assert rec.mime == "application/vnd.oasis.opendocument.text"
    md = rec.metadata
    meta = md["meta"]
    assert meta["meta:generator"].startswith("LibreOffice/7.5.2.2$Linux_X86_64")
    assert (meta["dc:creator"], meta["meta:initial-creator"], meta["dc:title"]) == ("Grace Hopper", "Ada L", "Minutes")
    assert meta["meta:creation-date"] == "2022-05-01T09:15:30.123456789"
    assert meta["dc:date"] == "2022-05-02T18:00:00+02:00"
    assert (meta["meta:editing-cycles"], meta["meta:editing-duration"]) == ("12", "PT2H3M4S")
    assert meta["meta:print-date"] == "2022-05-02T17:00:00" and meta["meta:printed-by"] == "Printer Person"
    assert meta["dc:language"] == "de-DE" and meta["meta:keyword"] == ["alpha", "beta"]
    assert meta["meta:template"] == {"xlink:type": "simple", "xlink:href": "../Templates/board.ott",
                                     "xlink:title": "Board", "meta:date": "2020-01-01T00:00:00"}
    assert meta["meta:document-statistic"]["meta:word-count"] == "40"
    assert md["counts"] == {"pages": 2, "paragraphs": 5, "words": 40, "characters": 250}
    assert md["user_defined"] == {"Case": {"type": "string", "value": "A-17"},
                                  "Amount": {"type": "float", "value": "12.5"},
                                  "Signed": {"type": "boolean", "value": "true"}}
    assert md["odf_version"] == "1.3"
    assert md["settings"] == {"PrinterName": "HP LaserJet 4 (Room 12)", "RsidRoot": "937255", "Rsid": "983277"}
    assert md["fonts"] == ["DejaVu Sans", "Liberation Serif", "Noto Sans"]
    assert md["mimetype"] == "application/vnd.oasis.opendocument.text" and md["mimetype_first"] is True
    assert md["parts"][0] == {"name": "mimetype", "date_time": "2022-05-02T18:00:02", "size": 39}
    assert md["tracked_changes"] == [{"id": "ct1", "type": "deletion", "author": "Heidi",
                                      "date": "2022-05-02T10:00:00"}]
    assert md["comments"] == [{"author": "Ivan", "date": "2022-05-02T11:00:00", "text": "a remark"}]
    assert md["external_links"] == ["https://leak.example/doc"]
    assert "sheet_names" not in md  # a table in a text is no sheet


def test_odt_text(tmp_path: Path) -> None:
    text = top(write_odf(tmp_path / "minutes.odt", odt_parts())).text
    assert "Agenda\nOne   two\tthree\nfour span text tail\nend." in text
    assert "See the link." in text and "c1\tc2" in text and "a remark" in text
    assert "removed sentence" not in text


def test_encrypted_odt_keeps_readable_metadata(tmp_path: Path) -> None:
    rec = top(write_odf(tmp_path / "locked.odt", odt_parts(encrypted=True)))
    assert rec.error_reason == "encrypted"
    assert "Blowfish CFB" in rec.error
    md = rec.metadata
    assert md["meta"]["dc:creator"] == "Grace Hopper"  # meta.xml is not encrypted
    assert md["encryption"]["algorithm"] == "Blowfish CFB" and md["encryption"]["iteration-count"] == "1024"
    assert md["encrypted_parts"] == ["content.xml"]
    assert not rec.text


def test_ods_sheet_names(tmp_path: Path) -> None:
    parts = odt_parts()
    parts["mimetype"] = "application/vnd.oasis.opendocument.spreadsheet"
    rec = top(write_odf(tmp_path / "book.ods", parts))
    assert rec.mime == "application/vnd.oasis.opendocument.spreadsheet"
    assert rec.metadata["sheet_names"] == ["Budget"] and rec.metadata["counts"]["sheets"] == 1


# --- the shared corpus ----------------------------------------------------------------------

def test_ingest_corpus_documents(tmp_path: Path) -> None:
    root = shared_corpus("ingest")
    docx = ingest(root / "hello world word.docx")[-1]
    assert docx.text == "Hello world, Word!" and docx.metadata["core"]["creator"] == "Dzmitry Lahoda"
    assert docx.metadata["core"]["created"] == "2015-09-07T10:57:00Z" and docx.metadata["rsid_root"] == "00877BD1"
    staff = ingest(root / "staff_list.xlsx")[-1]
    assert staff.metadata["custom"]["Author"]["value"] == "Eric Barrett"
    assert staff.metadata["sheet_names"] == ["list_01", "list_02", "list_03"] and "Strozyk" in staff.text
    plan = ingest(root / "Plan.odt")[-1]
    assert plan.metadata["user_defined"]["Owner"]["value"] == "Dzmitry.Lahoda"
    assert plan.metadata["meta"]["meta:creation-date"] == "2017-02-21T01:31:21.535000000"
    assert "graffiti" in plan.text
    enc = ingest(root / "encypted_by_libreoffice.odt")[-1]
    assert enc.error_reason == "encrypted" and enc.metadata["encryption"]["key-derivation-name"] == "PBKDF2"
    ods = ingest(root / "rom.ods")[-1]
    assert ods.metadata["sheet_names"] == ["Лист1", "Лист2", "Лист3"] and ods.error is None
    xlsx = ingest(root / "file.xlsx")[-1]
    assert xlsx.error is None and xlsx.text


OUR_MIMES = sniff.OOXML_TYPES | {sniff.DOC, sniff.XLS, sniff.PPT, sniff.OLE}


def ours(mime: str) -> bool:
    return mime in OUR_MIMES or mime.startswith(sniff.ODF_PREFIX)


def test_every_office_corpus_file_through_the_engine(tmp_path: Path) -> None:
    """Each file of the office corpus ends as items or a meaningful error: never a parse_error or crash."""
    root = shared_corpus("office")
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) > 500
    reasons: dict[str, int] = {}
    mine = 0
    t0 = time.monotonic()
    for path in files:
        for rec in engine.ingest_file(root, str(path.relative_to(root))):
            if not ours(rec.mime):
                continue
            mine += 1
            json.dumps(rec.metadata, allow_nan=False)
            assert rec.error_reason != "parse_error", f"{rec.path}: {rec.error}"
            assert rec.error_reason in (None, "encrypted", "corrupt", "xml_entities", "bomb", "too_large",
                                        "too_deep"), (
                f"{rec.path}: {rec.error}")
            if rec.error_reason:
                reasons[rec.error_reason] = reasons.get(rec.error_reason, 0) + 1
            else:
                assert rec.metadata.get("format") in ("ooxml", "odf", "ole"), rec.path
    elapsed = time.monotonic() - t0
    print(f"office corpus: {len(files)} files, {mine} items of ours, errors {reasons}, {elapsed:.1f}s")
    assert mine > 500
    assert reasons.get("encrypted", 0) >= 10  # POI's password-protected samples
    assert elapsed < 60
