"""Minimal, valid office files written with zipfile: docx, xlsx, pptx (OOXML) and odt (ODF).

Each carries the metadata a forensic check reads: core.xml (creator, lastModifiedBy, revision, created,
modified), app.xml (Application, AppVersion, Company, TotalTime), custom.xml, word/settings.xml with rsids,
a font table with Calibri; for odt, meta.xml. Output is byte-for-byte reproducible: fixed zip dates and order.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
OFFICE_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # what Office writes in every entry of its zips

NS_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_ODOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_P = "http://schemas.openxmlformats.org/presentationml/2006/main"
NS_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
CT_BASE = "application/vnd.openxmlformats-officedocument"


@dataclass
class DocMeta:
    """Authoring metadata as an office suite records it."""

    title: str
    creator: str
    last_modified_by: str
    created: datetime  # aware
    modified: datetime  # aware
    company: str = "Campagne 2017"
    application: str = "Microsoft Office Word"
    app_version: str = "16.0000"
    total_time: int = 0  # minutes of editing
    revision: int = 1
    custom: dict[str, str] = field(default_factory=dict)
    rsids: list[str] = field(default_factory=list)  # Word's revision save ids, 8 hex digits each
    lang: str = "fr-FR"
    generator: str = "LibreOffice/5.3.1.2$Windows_X86_64 LibreOffice_project/e80a0e0fd1875e1696614d24c32df0f95f03deb2"


def _x(s: str) -> str:
    return escape(s)


def _w3c(when: datetime) -> str:
    """Office writes UTC with a Z and whole seconds."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def zip_bytes(entries: list[tuple[str, bytes]], date_time: tuple[int, ...] = OFFICE_ZIP_DATE,
              stored: frozenset[str] = frozenset()) -> bytes:
    """A reproducible zip: fixed dates, fixed order, deflate except for `stored` names."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def replace_part(package: bytes, name: str, data: bytes) -> bytes:
    """The same zip with one part's bytes swapped: entry order, dates and every other part unchanged."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, data if info.filename == name else src.read(info))
    return buf.getvalue()


def _rels(rels: list[tuple[str, str, str]]) -> bytes:
    body = "".join(f'<Relationship Id="{rid}" Type="{typ}" Target="{target}"/>' for rid, typ, target in rels)
    return (XML_HEAD + f'<Relationships xmlns="{NS_REL}">{body}</Relationships>').encode()


def _content_types(overrides: list[tuple[str, str]], defaults: tuple[tuple[str, str], ...] = ()) -> bytes:
    base = (("rels", "application/vnd.openxmlformats-package.relationships+xml"), ("xml", "application/xml"))
    d = "".join(f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in base + defaults)
    o = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
    return (XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f"{d}{o}</Types>").encode()


def _package_rels(main_type: str, main_target: str) -> bytes:
    return _rels([
        ("rId3", f"{NS_ODOC_REL}/extended-properties", "docProps/app.xml"),
        ("rId2", "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties",
         "docProps/core.xml"),
        ("rId1", f"{NS_ODOC_REL}/{main_type}", main_target),
        ("rId4", f"{NS_ODOC_REL}/custom-properties", "docProps/custom.xml"),
    ])


def _core(meta: DocMeta) -> bytes:
    return (XML_HEAD +
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
            ' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{_x(meta.title)}</dc:title><dc:subject></dc:subject>"
            f"<dc:creator>{_x(meta.creator)}</dc:creator><cp:keywords></cp:keywords><dc:description></dc:description>"
            f"<cp:lastModifiedBy>{_x(meta.last_modified_by)}</cp:lastModifiedBy>"
            f"<cp:revision>{meta.revision}</cp:revision>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{_w3c(meta.created)}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_w3c(meta.modified)}</dcterms:modified>'
            "</cp:coreProperties>").encode()


def _app(meta: DocMeta, extra: str = "") -> bytes:
    return (XML_HEAD +
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
            ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            f"<Template>Normal.dotm</Template><TotalTime>{meta.total_time}</TotalTime>{extra}"
            f"<Application>{_x(meta.application)}</Application><DocSecurity>0</DocSecurity>"
            f"<ScaleCrop>false</ScaleCrop><Company>{_x(meta.company)}</Company>"
            "<LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>"
            f"<HyperlinksChanged>false</HyperlinksChanged><AppVersion>{meta.app_version}</AppVersion>"
            "</Properties>").encode()


def _custom(meta: DocMeta) -> bytes:
    props = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{i}" name={quoteattr(k)}>'
        f"<vt:lpwstr>{_x(v)}</vt:lpwstr></property>" for i, (k, v) in enumerate(meta.custom.items(), start=2))
    return (XML_HEAD +
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
            f' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">{props}</Properties>'
            ).encode()


def _doc_props(meta: DocMeta, app_extra: str = "") -> list[tuple[str, bytes]]:
    return [("docProps/core.xml", _core(meta)), ("docProps/app.xml", _app(meta, app_extra)),
            ("docProps/custom.xml", _custom(meta))]


_PROPS_TYPES = [
    ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
    ("/docProps/app.xml", f"{CT_BASE}.extended-properties+xml"),
    ("/docProps/custom.xml", f"{CT_BASE}.custom-properties+xml"),
]

# --- Word ---------------------------------------------------------------------------------------------------

_FONT_TABLE = (XML_HEAD + f'<w:fonts xmlns:w="{NS_W}">'
               '<w:font w:name="Calibri"><w:panose1 w:val="020F0502020204030204"/><w:charset w:val="00"/>'
               '<w:family w:val="swiss"/><w:pitch w:val="variable"/></w:font>'
               '<w:font w:name="Times New Roman"><w:panose1 w:val="02020603050405020304"/><w:charset w:val="00"/>'
               '<w:family w:val="roman"/><w:pitch w:val="variable"/></w:font>'
               '<w:font w:name="Calibri Light"><w:panose1 w:val="020F0302020204030204"/><w:charset w:val="00"/>'
               '<w:family w:val="swiss"/><w:pitch w:val="variable"/></w:font></w:fonts>').encode()

_STYLES = (XML_HEAD + f'<w:styles xmlns:w="{NS_W}"><w:docDefaults><w:rPrDefault><w:rPr>'
           '<w:rFonts w:ascii="Calibri" w:hAnsi="Calibri" w:eastAsia="Calibri" w:cs="Times New Roman"/>'
           '<w:sz w:val="22"/><w:lang w:val="fr-FR"/></w:rPr></w:rPrDefault></w:docDefaults>'
           '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>'
           '<w:style w:type="paragraph" w:styleId="Titre"><w:name w:val="Title"/><w:basedOn w:val="Normal"/>'
           '<w:rPr><w:rFonts w:ascii="Calibri Light" w:hAnsi="Calibri Light"/><w:sz w:val="56"/></w:rPr>'
           "</w:style></w:styles>").encode()


def _settings(meta: DocMeta) -> bytes:
    rsids = ""
    if meta.rsids:
        rsids = f'<w:rsids><w:rsidRoot w:val="{meta.rsids[0]}"/>' + "".join(
            f'<w:rsid w:val="{r}"/>' for r in sorted(meta.rsids)) + "</w:rsids>"
    return (XML_HEAD + f'<w:settings xmlns:w="{NS_W}"><w:zoom w:percent="100"/>'
            '<w:defaultTabStop w:val="708"/><w:hyphenationZone w:val="425"/>'
            f'<w:characterSpacingControl w:val="doNotCompress"/>{rsids}'
            f'<w:themeFontLang w:val="{meta.lang}"/><w:compat><w:compatSetting w:name="compatibilityMode"'
            ' w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat></w:settings>').encode()


def _word_paragraph(text: str, rsid: str, style: str | None = None) -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return (f'<w:p w:rsidR="{rsid}" w:rsidRDefault="{rsid}">{ppr}'
            f'<w:r><w:t xml:space="preserve">{_x(text)}</w:t></w:r></w:p>')


def docx(meta: DocMeta, paragraphs: list[str]) -> bytes:
    rsids = meta.rsids or ["00A10000"]
    body = _word_paragraph(meta.title, rsids[0], "Titre") + "".join(
        _word_paragraph(p, rsids[i % len(rsids)]) for i, p in enumerate(paragraphs))
    document = (XML_HEAD + f'<w:document xmlns:w="{NS_W}" xmlns:r="{NS_ODOC_REL}"><w:body>{body}'
                '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1417" w:right="1417" w:bottom="1417"'
                ' w:left="1417" w:header="708" w:footer="708" w:gutter="0"/></w:sectPr></w:body></w:document>')
    words = sum(len(p.split()) for p in paragraphs)
    chars = sum(len(p.replace(" ", "")) for p in paragraphs)
    extra = (f"<Pages>1</Pages><Words>{words}</Words><Characters>{chars}</Characters>"
             f"<Lines>{len(paragraphs) * 2}</Lines><Paragraphs>{len(paragraphs)}</Paragraphs>")
    main = f"{CT_BASE}.wordprocessingml"
    return zip_bytes([
        ("[Content_Types].xml", _content_types([
            ("/word/document.xml", f"{main}.document.main+xml"), ("/word/styles.xml", f"{main}.styles+xml"),
            ("/word/settings.xml", f"{main}.settings+xml"), ("/word/fontTable.xml", f"{main}.fontTable+xml"),
        ] + _PROPS_TYPES)),
        ("_rels/.rels", _package_rels("officeDocument", "word/document.xml")),
        ("word/document.xml", document.encode()),
        ("word/_rels/document.xml.rels", _rels([
            ("rId1", f"{NS_ODOC_REL}/styles", "styles.xml"), ("rId2", f"{NS_ODOC_REL}/settings", "settings.xml"),
            ("rId3", f"{NS_ODOC_REL}/fontTable", "fontTable.xml")])),
        ("word/styles.xml", _STYLES), ("word/settings.xml", _settings(meta)), ("word/fontTable.xml", _FONT_TABLE),
    ] + _doc_props(meta, extra))


# --- Excel --------------------------------------------------------------------------------------------------

_XL_STYLES = (XML_HEAD + f'<styleSheet xmlns="{NS_S}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
              '<family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
              '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/>'
              '<top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0"'
              ' fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0"'
              ' borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0"'
              ' builtinId="0"/></cellStyles></styleSheet>').encode()


def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def xlsx(meta: DocMeta, rows: list[list[str | int | float]], sheet: str = "Feuil1") -> bytes:
    """A one-sheet workbook; the last column of numbers gets a SUM row with its cached value."""
    strings: dict[str, int] = {}
    refs = 0
    out_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{_col(c)}{r}"
            if isinstance(value, str):
                refs += 1
                idx = strings.setdefault(value, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{idx}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        out_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    numeric = [row[-1] for row in rows if row and not isinstance(row[-1], str)]
    if numeric:
        last, col = len(rows) + 1, _col(len(rows[-1]) - 1)
        out_rows.append(f'<row r="{last}"><c r="{col}{last}"><f>SUM({col}2:{col}{last - 1})</f>'
                        f"<v>{sum(numeric)}</v></c></row>")
    sheet_xml = (XML_HEAD + f'<worksheet xmlns="{NS_S}" xmlns:r="{NS_ODOC_REL}"><sheetData>{"".join(out_rows)}'
                 "</sheetData></worksheet>")
    sst = (XML_HEAD + f'<sst xmlns="{NS_S}" count="{refs}" uniqueCount="{len(strings)}">' +
           "".join(f'<si><t xml:space="preserve">{_x(s)}</t></si>' for s in strings) + "</sst>")
    workbook = (XML_HEAD + f'<workbook xmlns="{NS_S}" xmlns:r="{NS_ODOC_REL}"><sheets>'
                f'<sheet name={quoteattr(sheet)} sheetId="1" r:id="rId1"/></sheets></workbook>')
    main = f"{CT_BASE}.spreadsheetml"
    return zip_bytes([
        ("[Content_Types].xml", _content_types([
            ("/xl/workbook.xml", f"{main}.sheet.main+xml"), ("/xl/worksheets/sheet1.xml", f"{main}.worksheet+xml"),
            ("/xl/styles.xml", f"{main}.styles+xml"), ("/xl/sharedStrings.xml", f"{main}.sharedStrings+xml"),
        ] + _PROPS_TYPES)),
        ("_rels/.rels", _package_rels("officeDocument", "xl/workbook.xml")),
        ("xl/workbook.xml", workbook.encode()),
        ("xl/_rels/workbook.xml.rels", _rels([
            ("rId1", f"{NS_ODOC_REL}/worksheet", "worksheets/sheet1.xml"),
            ("rId2", f"{NS_ODOC_REL}/styles", "styles.xml"),
            ("rId3", f"{NS_ODOC_REL}/sharedStrings", "sharedStrings.xml")])),
        ("xl/worksheets/sheet1.xml", sheet_xml.encode()), ("xl/styles.xml", _XL_STYLES),
        ("xl/sharedStrings.xml", sst.encode()),
    ] + _doc_props(meta))


# --- PowerPoint ---------------------------------------------------------------------------------------------

_P_NS = f'xmlns:a="{NS_A}" xmlns:r="{NS_ODOC_REL}" xmlns:p="{NS_P}"'
_EMPTY_TREE = ('<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>'
               '<p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/>'
               '<a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>')
_CLR_MAP = ('<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2"'
            ' accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink"'
            ' folHlink="folHlink"/>')


def _theme() -> bytes:
    colors = [("dk1", '<a:sysClr val="windowText" lastClr="000000"/>'),
              ("lt1", '<a:sysClr val="window" lastClr="FFFFFF"/>'), ("dk2", '<a:srgbClr val="44546A"/>'),
              ("lt2", '<a:srgbClr val="E7E6E6"/>'), ("accent1", '<a:srgbClr val="4472C4"/>'),
              ("accent2", '<a:srgbClr val="ED7D31"/>'), ("accent3", '<a:srgbClr val="A5A5A5"/>'),
              ("accent4", '<a:srgbClr val="FFC000"/>'), ("accent5", '<a:srgbClr val="5B9BD5"/>'),
              ("accent6", '<a:srgbClr val="70AD47"/>'), ("hlink", '<a:srgbClr val="0563C1"/>'),
              ("folHlink", '<a:srgbClr val="954F72"/>')]
    scheme = "".join(f"<a:{n}>{v}</a:{n}>" for n, v in colors)
    fill = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
    line = '<a:ln w="6350"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln>'
    effect = "<a:effectStyle><a:effectLst/></a:effectStyle>"
    return (XML_HEAD + f'<a:theme xmlns:a="{NS_A}" name="Thème Office"><a:themeElements>'
            f'<a:clrScheme name="Office">{scheme}</a:clrScheme>'
            '<a:fontScheme name="Office"><a:majorFont><a:latin typeface="Calibri Light"/><a:ea typeface=""/>'
            '<a:cs typeface=""/></a:majorFont><a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/>'
            '<a:cs typeface=""/></a:minorFont></a:fontScheme>'
            f'<a:fmtScheme name="Office"><a:fillStyleLst>{fill * 3}</a:fillStyleLst>'
            f"<a:lnStyleLst>{line * 3}</a:lnStyleLst><a:effectStyleLst>{effect * 3}</a:effectStyleLst>"
            f"<a:bgFillStyleLst>{fill * 3}</a:bgFillStyleLst></a:fmtScheme></a:themeElements></a:theme>").encode()


def _text_box(shape_id: int, name: str, y: int, height: int, lines: list[str], size: int) -> str:
    paras = "".join(f'<a:p><a:r><a:rPr lang="fr-FR" sz="{size}" dirty="0"/><a:t>{_x(t)}</a:t></a:r></a:p>'
                    for t in lines)
    return (f'<p:sp><p:nvSpPr><p:cNvPr id="{shape_id}" name="{name}"/><p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr>'
            f'<p:spPr><a:xfrm><a:off x="838200" y="{y}"/><a:ext cx="10515600" cy="{height}"/></a:xfrm>'
            '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>'
            f'<p:txBody><a:bodyPr wrap="square"/><a:lstStyle/>{paras}</p:txBody></p:sp>')


def _slide(title: str, bullets: list[str]) -> bytes:
    shapes = (_text_box(2, "ZoneTexte 1", 365125, 1325563, [title], 4400) +
              _text_box(3, "ZoneTexte 2", 1825625, 4351338, bullets, 2400))
    return (XML_HEAD + f"<p:sld {_P_NS}><p:cSld><p:spTree>{_EMPTY_TREE}{shapes}</p:spTree></p:cSld>"
            "<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>").encode()


def pptx(meta: DocMeta, slides: list[tuple[str, list[str]]]) -> bytes:
    n = len(slides)
    pres = (XML_HEAD + f'<p:presentation {_P_NS} saveSubsetFonts="1"><p:sldMasterIdLst>'
            '<p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst><p:sldIdLst>' +
            "".join(f'<p:sldId id="{256 + i}" r:id="rId{i + 2}"/>' for i in range(n)) +
            '</p:sldIdLst><p:sldSz cx="12192000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/>'
            "</p:presentation>")
    master = (XML_HEAD + f"<p:sldMaster {_P_NS}><p:cSld><p:spTree>{_EMPTY_TREE}</p:spTree></p:cSld>{_CLR_MAP}"
              '<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst></p:sldMaster>')
    layout = (XML_HEAD + f'<p:sldLayout {_P_NS} type="blank" preserve="1"><p:cSld name="Vide"><p:spTree>'
              f"{_EMPTY_TREE}</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>")
    main = f"{CT_BASE}.presentationml"
    slide_rel = _rels([("rId1", f"{NS_ODOC_REL}/slideLayout", "../slideLayouts/slideLayout1.xml")])
    entries = [
        ("[Content_Types].xml", _content_types([
            ("/ppt/presentation.xml", f"{main}.presentation.main+xml"),
            ("/ppt/slideMasters/slideMaster1.xml", f"{main}.slideMaster+xml"),
            ("/ppt/slideLayouts/slideLayout1.xml", f"{main}.slideLayout+xml"),
            ("/ppt/theme/theme1.xml", f"{CT_BASE}.theme+xml"),
        ] + [(f"/ppt/slides/slide{i + 1}.xml", f"{main}.slide+xml") for i in range(n)] + _PROPS_TYPES)),
        ("_rels/.rels", _package_rels("officeDocument", "ppt/presentation.xml")),
        ("ppt/presentation.xml", pres.encode()),
        ("ppt/_rels/presentation.xml.rels", _rels(
            [("rId1", f"{NS_ODOC_REL}/slideMaster", "slideMasters/slideMaster1.xml")] +
            [(f"rId{i + 2}", f"{NS_ODOC_REL}/slide", f"slides/slide{i + 1}.xml") for i in range(n)] +
            [(f"rId{n + 2}", f"{NS_ODOC_REL}/theme", "theme/theme1.xml")])),
        ("ppt/slideMasters/slideMaster1.xml", master.encode()),
        ("ppt/slideMasters/_rels/slideMaster1.xml.rels", _rels([
            ("rId1", f"{NS_ODOC_REL}/slideLayout", "../slideLayouts/slideLayout1.xml"),
            ("rId2", f"{NS_ODOC_REL}/theme", "../theme/theme1.xml")])),
        ("ppt/slideLayouts/slideLayout1.xml", layout.encode()),
        ("ppt/slideLayouts/_rels/slideLayout1.xml.rels", _rels([
            ("rId1", f"{NS_ODOC_REL}/slideMaster", "../slideMasters/slideMaster1.xml")])),
        ("ppt/theme/theme1.xml", _theme()),
    ]
    for i, (title, bullets) in enumerate(slides, start=1):
        entries.append((f"ppt/slides/slide{i}.xml", _slide(title, bullets)))
        entries.append((f"ppt/slides/_rels/slide{i}.xml.rels", slide_rel))
    extra = f"<PresentationFormat>Grand écran</PresentationFormat><Slides>{n}</Slides>"
    return zip_bytes(entries + _doc_props(meta, extra))


# --- OpenDocument -------------------------------------------------------------------------------------------

_ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
           ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
           ' xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
           ' xmlns:dc="http://purl.org/dc/elements/1.1/"')
ODT_MIME = "application/vnd.oasis.opendocument.text"


def _odf_time(when: datetime) -> str:
    """LibreOffice writes local wall-clock time without an offset."""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + ".000000000"


def odt(meta: DocMeta, paragraphs: list[str]) -> bytes:
    text = f'<text:h text:outline-level="1">{_x(meta.title)}</text:h>' + "".join(
        f"<text:p>{_x(p)}</text:p>" for p in paragraphs)
    content = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_ODF_NS} office:version="1.2">'
               f"<office:body><office:text>{text}</office:text></office:body></office:document-content>")
    styles = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-styles {_ODF_NS} office:version="1.2">'
              "<office:font-face-decls/><office:styles/></office:document-styles>")
    hours, minutes = divmod(meta.total_time, 60)
    user = "".join(f"<meta:user-defined meta:name={quoteattr(k)}>{_x(v)}</meta:user-defined>"
                   for k, v in meta.custom.items())
    words = sum(len(p.split()) for p in paragraphs)
    meta_xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta {_ODF_NS} office:version="1.2">'
                f"<office:meta><meta:initial-creator>{_x(meta.creator)}</meta:initial-creator>"
                f"<meta:creation-date>{_odf_time(meta.created)}</meta:creation-date>"
                f"<dc:creator>{_x(meta.last_modified_by)}</dc:creator><dc:date>{_odf_time(meta.modified)}</dc:date>"
                f"<meta:editing-cycles>{meta.revision}</meta:editing-cycles>"
                f"<meta:editing-duration>PT{hours}H{minutes}M0S</meta:editing-duration>"
                f"<meta:generator>{_x(meta.generator)}</meta:generator><dc:title>{_x(meta.title)}</dc:title>"
                f"<dc:language>{meta.lang}</dc:language>{user}"
                f'<meta:document-statistic meta:page-count="1" meta:paragraph-count="{len(paragraphs) + 1}"'
                f' meta:word-count="{words}"/></office:meta></office:document-meta>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest'
                ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                f'<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="{ODT_MIME}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>'
                '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    stamp = meta.modified.timetuple()[:6]  # LibreOffice stamps entries with the save time
    return zip_bytes([("mimetype", ODT_MIME.encode()), ("content.xml", content.encode()),
                      ("styles.xml", styles.encode()), ("meta.xml", meta_xml.encode()),
                      ("META-INF/manifest.xml", manifest.encode())], date_time=stamp, stored=frozenset({"mimetype"}))
