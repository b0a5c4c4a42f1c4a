"""Text readers: charsets, HTML, XML/SVG (defused), JSON, RTF, CSV, iCalendar/vCard, and bounded memory."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import shared_corpus
from leaksift.ingest import text as textmod
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry
from leaksift.ingest.support.rtf import RtfText
from leaksift.ingest.support.xmp import xmp_properties


def ingest(path: Path, limits: Limits | None = None):
    return list(Engine(default_registry(), limits or Limits()).ingest_file(path.parent, path.name))[-1]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- charsets -------------------------------------------------------------------------------------

def test_utf16_with_bom(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "memo.txt", codecs.BOM_UTF16_LE + "Geheim: Überweisung €500\n".encode("utf-16-le")))
    assert rec.mime == "text/plain" and rec.metadata["charset"] == "utf-16"
    assert rec.text == "Geheim: Überweisung €500\n"


def test_utf8_bom_and_plain_utf8(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "a.txt", codecs.BOM_UTF8 + "naïve café".encode()))
    assert rec.metadata["charset"] == "utf-8-sig" and rec.text == "naïve café"
    rec = ingest(write(tmp_path, "b.txt", "naïve café".encode()))
    assert rec.metadata["charset"] == "utf-8" and rec.text == "naïve café"


def test_cp1252_fallback(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "old.txt", b"Gr\xfc\xdfe aus K\xf6ln \x80 100 \x93quoted\x94\n"))
    assert rec.metadata["charset"] == "cp1252"
    assert rec.text == "Grüße aus Köln € 100 \u201cquoted\u201d\n"


def test_charset_detection_order() -> None:
    assert textmod.detect_charset(codecs.BOM_UTF32_LE + b"a\x00\x00\x00", True) == "utf-32"
    assert textmod.detect_charset("é".encode() + b"\xc3", complete=False) == "utf-8"  # cut mid-character
    assert textmod.detect_charset(b'<meta charset="koi8-r">\xf0\xd2', True, html=True) == "koi8-r"
    assert textmod.detect_charset(b'<meta charset="koi8-r">\xf0\xd2', True, html=False) == "cp1252"
    assert textmod.detect_charset(b'<meta charset="bogus">\xff', True, html=True) == "cp1252"


# --- HTML -----------------------------------------------------------------------------------------

def test_html_meta_charset_visible_text_title_meta(tmp_path: Path) -> None:
    html = ('<!DOCTYPE html><html lang="ru"><head><meta http-equiv="Content-Type" content="text/html; '
            'charset=windows-1251"><title>Отчёт 2017</title><meta name="author" content="Иван">'
            '<meta name="generator" content="Microsoft Word 15"><meta property="og:title" content="Report">'
            '<style>p { color: red }</style><script>var secret = "not text";</script></head>'
            '<body><p>Бюджет</p><p>1 < 2 &amp; 3 &gt; 2</p><table><tr><td>a</td><td>b</td></tr></table>'
            '</body></html>').encode("cp1251")
    rec = ingest(write(tmp_path, "page.html", html))
    md = rec.metadata
    assert rec.mime == "text/html" and md["charset"] == "cp1251"
    assert md["title"] == "Отчёт 2017"
    assert md["meta"]["author"] == "Иван" and md["meta"]["generator"] == "Microsoft Word 15"
    assert md["meta"]["og:title"] == "Report" and md["meta"]["html:lang"] == "ru"
    assert "Бюджет" in rec.text and "1 < 2 & 3 > 2" in rec.text and "a\tb" in rec.text
    assert "secret" not in rec.text and "color" not in rec.text and "Отчёт" not in rec.text


def test_html_stray_angle_brackets_stay_fast(tmp_path: Path) -> None:
    """html.parser hands a '<' that opens no tag over one character at a time; we keep that linear."""
    page = write(tmp_path, "lt.html", b"<html><body>" + b"< " * 500_000 + b"<b>end</b></body></html>")
    started = time.monotonic()
    rec = ingest(page)
    assert time.monotonic() - started < 5
    assert rec.text.startswith("< < <") and rec.text.endswith("end")


# --- XML and SVG ----------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "bomb.xml", BILLION_LAUGHS))
    assert rec.mime == "application/xml"
    assert rec.error_reason == "xml_entities" and rec.text is None


def test_external_entity_is_refused(tmp_path: Path) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    rec = ingest(write(tmp_path, "xxe.xml", xxe))
    assert rec.error_reason == "xml_entities"
    assert "root:" not in (rec.text or "")


def test_svg_with_doctype_comments_and_script(tmp_path: Path) -> None:
    svg = (b'<?xml version="1.0" encoding="iso-8859-1"?>\n'
           b'<!-- Generator: Adobe Illustrator 24.0.0, SVG Export Plug-In -->\n'
           b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
           b'<svg xmlns="http://www.w3.org/2000/svg"><title>Org chart</title>'
           b'<text x="1" y="2">Caf\xe9 budget</text><script>alert("x")</script><style>.a{}</style></svg>')
    rec = ingest(write(tmp_path, "chart.svg", svg))
    md = rec.metadata
    assert rec.error is None and rec.mime == "image/svg+xml"
    assert md["xml_root"] == "svg" and md["xml_encoding"] == "iso-8859-1" and md["charset"] == "iso8859-1"
    assert md["comments"] == ["Generator: Adobe Illustrator 24.0.0, SVG Export Plug-In"]
    assert md["doctype"]["system_id"] == "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"
    assert md["title"] == "Org chart" and md["scripts"] == 1
    assert rec.text == "Org chart\nCafé budget"


def test_malformed_xml_keeps_its_words(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "bad.xml", b'<?xml version="1.0"?><a><b>first</b><c>second</a>'))
    assert rec.error is None and "xml_error" in rec.metadata
    assert "first" in rec.text


# --- JSON, RTF, CSV, calendar ---------------------------------------------------------------------

def test_json_text_as_is(tmp_path: Path) -> None:
    data = '{"from": "alice@example.org", "amount": 500, "note": "für Bob"}'
    rec = ingest(write(tmp_path, "wire.json", data.encode()))
    assert rec.mime == "application/json" and rec.text == data
    assert rec.metadata["json_valid"] is True and rec.metadata["json_keys"] == ["from", "amount", "note"]
    rec = ingest(write(tmp_path, "deep.json", b"[" * 100_000 + b"]" * 100_000))
    assert rec.error is None and rec.metadata["json_valid"] is False


RTF = rb"""{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red255\green0\blue0;}
{\*\generator Riched20 10.0.19041}{\info{\title Secret plan}{\author Alice Example}{\operator Bob}
{\company ACME Corp}{\creatim\yr2017\mo5\dy4\hr12\min0}{\revtim\yr2017\mo5\dy5\hr9\min30\sec12}
{\version2}{\edmins15}{\nofpages1}}{\*\userprops {\propname Client}\proptype30{\staticval Big Corp}}
\pard Hello \b world\b0 , caf\'e9 \u8364? and na\u239\'efve\par
{\*\unknowndest skip me}Line two\tab end\par{\pict\wmetafile8 0102030405}{\field{\*\fldinst HYPERLINK "x"}
{\fldrslt link text}}\par}"""


def test_rtf_text_and_info(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "plan.rtf", RTF))
    md = rec.metadata
    assert rec.mime == "application/rtf" and rec.error is None
    assert rec.text == "Hello world, café € and naïve\nLine two\tend\nlink text"
    assert md["charset"] == "cp1252" and md["generator"] == "Riched20 10.0.19041"
    info = md["info"]
    assert (info["title"], info["author"], info["operator"], info["company"]) == (
        "Secret plan", "Alice Example", "Bob", "ACME Corp")
    assert info["creatim"] == "2017-05-04T12:00" and info["creatim_raw"] == "\\yr2017\\mo5\\dy4\\hr12\\min0"
    assert info["revtim"] == "2017-05-05T09:30:12"
    assert (info["version"], info["edmins"], info["nofpages"]) == (2, 15, 1)
    assert md["userprops"] == {"Client": "Big Corp"}


def test_rtf_is_streamed_across_chunks() -> None:
    """A control word cut by a chunk boundary, and deep nesting: no recursion, same text."""
    doc = b"{\\rtf1 " + b"{" * 5000 + b"deep" + b"}" * 5000 + b" \\par " + b"x" * 10 + b"}"
    machine = RtfText(1000)
    carry = b""
    for i in range(0, len(doc), 7):
        buf = carry + doc[i:i + 7]
        carry = buf[machine.feed(buf, final=False):]
    machine.feed(carry, final=True)
    assert machine.text() == "deep\nxxxxxxxxxx"


def test_csv_dialect_header_rows(tmp_path: Path) -> None:
    rows = ["name;amount;date"] + [f"person {i};{i * 10};2017-05-{i % 28 + 1:02d}" for i in range(500)]
    rec = ingest(write(tmp_path, "payments.csv", "\n".join(rows).encode()))
    md = rec.metadata
    assert rec.mime == "text/csv"
    assert md["delimiter"] == ";" and md["header"] == ["name", "amount", "date"] and md["columns"] == 3
    assert md["rows"] == 501 and md["columns_max"] == 3 and md["has_header"] is True
    assert rec.text.startswith("name;amount;date")


def test_csv_hostile_field_is_recorded(tmp_path: Path) -> None:
    data = b'a,b\n1,"' + b"x" * 300_000 + b'"\n2,3\n'
    rec = ingest(write(tmp_path, "wide.csv", data))
    assert rec.error is None and "field larger than field limit" in rec.metadata["csv_error"]
    assert rec.metadata["rows"] == 1


def test_calendar_and_vcard(tmp_path: Path) -> None:
    ics = (b"BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\nBEGIN:VEVENT\r\n"
           b"ORGANIZER;CN=Alice:mailto:alice@example.org\r\nSUMMARY:Budget\r\n  meeting\r\n"
           b"DTSTART;TZID=Europe/Berlin:20170504T120000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    md = ingest(write(tmp_path, "invite.ics", ics)).metadata
    assert md["components"] == {"VCALENDAR": 1, "VEVENT": 1}
    assert md["properties"]["SUMMARY"] == "Budget meeting"
    assert md["properties"]["PRODID"] == "-//Microsoft Corporation//Outlook 16.0//EN"
    assert md["properties"]["DTSTART"] == "20170504T120000"
    vcf = b"BEGIN:VCARD\nVERSION:2.1\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller\nEND:VCARD\n"
    md = ingest(write(tmp_path, "card.vcf", vcf)).metadata
    assert md["properties"]["FN"] == "Müller"


# --- bounded memory and the corpus ----------------------------------------------------------------

def test_truncation_is_recorded(tmp_path: Path) -> None:
    rec = ingest(write(tmp_path, "long.txt", b"abcdefghij" * 1000), Limits(max_text_chars=100))
    assert len(rec.text) == 100 and rec.metadata["text_truncated"] is True


def test_300mb_text_file_reads_a_bounded_prefix(tmp_path: Path) -> None:
    """A huge log costs a few MB: measured in a fresh process (ru_maxrss) so nothing else counts."""
    path = tmp_path / "huge.txt"
    line = b"2017-05-04 12:00:00 INFO transfer of 500 EUR to account 0123456789 approved\n"
    block = line * (1024 * 1024 // len(line))
    with open(path, "wb") as f:
        while f.tell() < 300 * 1024 * 1024:
            f.write(block)
    script = textwrap.dedent("""
        import json, resource, sys
        from pathlib import Path
        from leaksift.ingest.base import Limits
        from leaksift.ingest.engine import Engine
        from leaksift.ingest.registry import default_registry
        engine = Engine(default_registry(), Limits())
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rec = list(engine.ingest_file(Path(sys.argv[1]), "huge.txt"))[-1]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"growth_kb": peak - base, "chars": len(rec.text), "mime": rec.mime,
                          "md": rec.metadata, "error": rec.error}))
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout)
    path.unlink()
    assert result["mime"] == "text/plain" and result["error"] is None
    assert result["chars"] == Limits().max_text_chars
    assert result["md"] == {"charset": "utf-8", "text_truncated": True}
    assert result["growth_kb"] < 80 * 1024  # the file is 300 MB; the prefix read is 8 MB


MY_TEXT_MIMES = {"text/plain", "text/csv", "text/html", "application/xml", "application/json",
                 "application/rtf", "text/calendar", "text/vcard", "image/svg+xml"}


def test_corpus_text_files() -> None:
    root = shared_corpus("ingest")
    engine = Engine(default_registry(), Limits())
    got = {}
    for path in sorted(root.iterdir()):
        rec = list(engine.ingest_file(root, path.name))[-1]
        if rec.mime in MY_TEXT_MIMES:
            assert rec.error_reason != "parse_error", (path.name, rec.error)
            got[path.name] = rec
    assert got["non_utf.txt"].metadata["charset"] == "cp1252"
    assert "Großbritanniens" in got["non_utf.txt"].text
    assert got["countries.csv"].metadata["rows"] == 256 and got["countries.csv"].metadata["columns"] == 9
    assert got["doc.html"].metadata["title"] == "Ingestors Title"
    assert got["doc.html"].metadata["meta"]["keywords"] == "ingestors, key, words"
    assert got["image.svg"].metadata["xml_root"] == "svg"
    assert got["john-doe.vcf"].metadata["properties"]["FN"] == "John Doe"
    assert got["multiline_quoted_printable.vcf"].metadata["properties"]["FN"] == "Max Müüüüüller"
    assert got["event.ical"].metadata["properties"]["SUMMARY"] == "Abraham Lincoln"
    assert got["example_2.json"].metadata["json_keys"] == ["quiz"]


@pytest.mark.parametrize("packet, key, value", [
    (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     b'<rdf:Description xmlns:my="http://example.org/my/" my:Tool="T1"/></rdf:RDF></x:xmpmeta>', "my:Tool", "T1"),
    (b'<?xpacket begin="" id="x"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>a</rdf:li>'
     b'<rdf:li>b</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF>\x00\x00', "dc:subject", ["a", "b"]),
])
def test_xmp_properties(packet: bytes, key: str, value: object) -> None:
    props, err = xmp_properties(packet)
    assert err is None and props[key] == value


def test_xmp_entity_bomb_is_an_error_not_a_hang() -> None:
    props, err = xmp_properties(BILLION_LAUGHS)
    assert props == {} and "EntitiesForbidden" in err
