"""Legacy OLE documents: property sets with their code pages, the OLE directory, text, encryption."""

from __future__ import annotations

import json
import struct
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from conftest import shared_corpus

from leaksift.ingest import ole, sniff
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.ole.propset import (DOC_SUMMARY_NAMES, FMTID_DOC_SUMMARY, FMTID_SUMMARY, FMTID_USER,
                                         SUMMARY_NAMES, PropertyError, PropertySetParser, Section,
                                         named_section, user_section)
from leaksift.ingest.ole.word import clean_doc_text
from leaksift.ingest.registry import Registry


def ole_registry() -> Registry:
    reg = Registry()
    for cls in ole.READERS:
        reg.register(cls())
    return reg


def ingest(path: Path):
    rec = list(Engine(ole_registry(), Limits()).ingest_file(path.parent, path.name))[-1]
    json.dumps(rec.metadata, allow_nan=False)  # metadata must stay JSON-able
    return rec


# --- a property set written by hand (MS-OLEPS) ------------------------------------------------

def pad4(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def i2(v: int) -> bytes:
    return struct.pack("<HHh2x", 2, 0, v)


def i4(v: int) -> bytes:
    return struct.pack("<HHi", 3, 0, v)


def lpstr(raw: bytes) -> bytes:
    return struct.pack("<HHI", 30, 0, len(raw) + 1) + pad4(raw + b"\x00")


def lpwstr(s: str) -> bytes:
    return struct.pack("<HHI", 31, 0, len(s) + 1) + pad4((s + "\x00").encode("utf-16-le"))


def filetime(dt: datetime) -> bytes:
    ticks = int((dt - datetime(1601, 1, 1)).total_seconds()) * 10_000_000
    return struct.pack("<HHQ", 64, 0, ticks)


def dictionary(names: dict[int, bytes], wide: bool = False) -> bytes:
    out = struct.pack("<I", len(names))
    for pid, name in names.items():
        n = len(name) // 2 if wide else len(name)
        out += struct.pack("<II", pid, n) + (pad4(name) if wide else name)
    return pad4(out)


def section(props: list[tuple[int, bytes]]) -> bytes:
    head = 8 + 8 * len(props)
    body = b""
    entries = b""
    for pid, value in props:
        entries += struct.pack("<II", pid, head + len(body))
        body += value
    return struct.pack("<II", head + len(body), len(props)) + entries + body


def property_set(sections: list[tuple[str, bytes]]) -> bytes:
    header = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, b"\x00" * 16, len(sections))
    offset = len(header) + 20 * len(sections)
    table, blob = b"", b""
    for fmtid, data in sections:
        table += uuid.UUID(fmtid).bytes_le + struct.pack("<I", offset + len(blob))
        blob += data
    return header + table + blob


def parse(data: bytes) -> list[Section]:
    return PropertySetParser(data).sections()[1]


def test_both_sections_decoded_with_their_code_page() -> None:
    first = section([(1, i2(1251)), (2, lpstr("Бухгалтерия".encode("cp1251"))),
                     (15, lpstr("ООО Ромашка".encode("cp1251")))])
    user = section([(1, i2(1251)), (0, dictionary({2: "Отдел".encode("cp1251") + b"\x00",
                                                   3: "Срок".encode("cp1251") + b"\x00"})),
                    (2, lpstr("Закупки".encode("cp1251"))), (3, filetime(datetime(2019, 12, 31, 23, 59, 58)))])
    doc, custom = parse(property_set([(FMTID_DOC_SUMMARY, first), (FMTID_USER, user)]))
    assert named_section(doc, DOC_SUMMARY_NAMES) == {"code_page": 1251, "category": "Бухгалтерия",
                                                     "company": "ООО Ромашка"}
    assert user_section(custom) == {
        "Отдел": {"type": "lpstr", "value": "Закупки", "pid": 2},
        "Срок": {"type": "filetime", "value": "2019-12-31T23:59:58Z", "pid": 3}}


def test_unicode_code_page_and_a_user_section_without_its_own() -> None:
    # with code page 1200 a VT_LPSTR holds UTF-16 (its size counts bytes); the user section has no code page
    manager = struct.pack("<HHI", 30, 0, 8) + "Zoë\x00".encode("utf-16-le")
    first = section([(1, i2(1200)), (14, manager)])
    user = section([(0, dictionary({5: "Ключ\x00".encode("utf-16-le")}, wide=True)),
                    (5, lpwstr("значение"))])
    doc, custom = parse(property_set([(FMTID_DOC_SUMMARY, first), (FMTID_USER, user)]))
    assert named_section(doc, DOC_SUMMARY_NAMES)["manager"] == "Zoë"
    assert user_section(custom) == {"Ключ": {"type": "lpwstr", "value": "значение", "pid": 5}}


def test_edit_time_is_a_span_and_vectors_of_variants() -> None:
    span = struct.pack("<HHQ", 64, 0, 754 * 10_000_000)
    heading = struct.pack("<HHI", 0x100C, 0, 2) + lpstr(b"Title")[:] + i4(1)
    sec = section([(1, i2(1252)), (10, span), (12, filetime(datetime(2001, 2, 3, 4, 5, 6)))])
    doc_sec = section([(1, i2(1252)), (12, heading)])
    summary, doc = parse(property_set([(FMTID_SUMMARY, sec), (FMTID_DOC_SUMMARY, doc_sec)]))
    assert named_section(summary, SUMMARY_NAMES) == {"code_page": 1252, "edit_time_seconds": 754,
                                                     "created": "2001-02-03T04:05:06Z"}
    assert named_section(doc, DOC_SUMMARY_NAMES)["heading_pairs"] == ["Title", 1]


def test_hostile_property_sets_are_bounded() -> None:
    huge_count = struct.pack("<II", 100, 0x3FFFFFFF)
    with pytest.raises(PropertyError):
        parse(property_set([(FMTID_SUMMARY, huge_count)]))
    far = section([(2, b"")])[:8] + struct.pack("<II", 2, 0x7FFFFFF0)
    sec = parse(property_set([(FMTID_SUMMARY, far)]))[0]
    assert not sec.props and "past the end" in sec.errors[0]
    vector = section([(2, struct.pack("<HHI", 0x101E, 0, 0xFFFFFFF))])
    assert "vector of" in parse(property_set([(FMTID_SUMMARY, vector)]))[0].errors[0]
    nested = section([(2, struct.pack("<HHI", 0x100C, 0, 1) + struct.pack("<HHI", 0x100C, 0, 1) * 50)])
    assert "nested" in parse(property_set([(FMTID_SUMMARY, nested)]))[0].errors[0]
    with pytest.raises(PropertyError):
        parse(b"\xfe\xff" + b"\x00" * 10)


def test_doc_text_cleans_fields() -> None:
    s = 'See \x13 HYPERLINK "http://x" \x14the site\x15 now\rnext\x07cell\x0bline'
    assert clean_doc_text(s) == "See the site now\nnext\tcell\nline"


# --- the corpus ---------------------------------------------------------------------------------

def test_hpsf_code_pages_and_custom_properties() -> None:
    root = shared_corpus("office", "hpsf")
    chinese = ingest(root / "TestChineseProperties.doc")
    assert chinese.error is None and chinese.mime == sniff.DOC
    md = chinese.metadata
    assert md["code_page"] == 65001
    s = md["summary"]
    assert (s["title"], s["subject"], s["author"], s["keywords"], s["comments"]) == (
        "參考資料", "新聞與媒體", "雅虎", "中文", "雅虎網站分類")
    assert (s["template"], s["last_author"], s["revision"], s["app_name"]) == (
        "Normal.dot", "CA User", "7", "Microsoft Word 10.0")
    assert (s["created"], s["last_saved"], s["edit_time_seconds"]) == (
        "2003-11-07T16:14:00Z", "2003-11-10T17:26:00Z", 180)
    assert (s["pages"], s["words"], s["chars"], s["security"]) == (1, 345, 1968, 0)
    d = md["doc_summary"]
    assert (d["category"], d["manager"], d["company"]) == ("科學", "雅虎", "Computer Associates Intl.")
    assert d["app_version_text"] == "10.4219" and d["titles_of_parts"] == ["參考資料"]
    # Word's own copy of the dates is local time: the writer was five hours behind UTC
    assert md["dop"]["created"] == "2003-11-07T11:14" and md["dop"]["revision"] == 7
    assert md["saved_by"] == [{"author": "CA User", "path": ""}]
    assert "Chinese characters support in POI" in chinese.text and "世界雅虎" in chinese.text

    german = ingest(root / "TestGermanWord90.doc").metadata
    assert german["summary"]["keywords"] == "Test (Stichwörter)"
    assert german["doc_summary"]["manager"] == "Rainer Klute (Manager)"
    assert german["custom"]["Test-Text"] == {"type": "lpstr", "value": "This is some text.", "pid": 3}
    assert german["custom"]["Test-Datum"] == {"type": "filetime", "value": "2002-07-16T22:00:00Z", "pid": 4}
    assert german["custom"]["Test-Zahl"]["value"] == 27 and german["custom"]["Test-JaNein"]["value"] is True

    unicode_xls = ingest(root / "TestUnicode.xls")
    assert unicode_xls.metadata["summary"]["title"] == "Titel: Äh, was ?"
    assert unicode_xls.metadata["custom"]["_AuthorEmail"]["value"] == "petrovitsch@schreiner-online.de"
    assert "Der große  Überschriften Test" in unicode_xls.text

    non4 = ingest(root / "TestNon4ByteBoundary.doc").metadata
    assert non4["summary"]["code_page"] == 1200 and non4["summary"]["last_author"] == "sdd"
    assert non4["doc_summary"]["titles_of_parts"][2].startswith("Observations :")
    assert not non4.get("property_set_errors")


def test_doc_xls_ppt_directory_and_text() -> None:
    root = shared_corpus("ingest")
    doc = ingest(root / "doc.doc")
    md = doc.metadata
    assert md["ole"]["root_clsid"] == "00020906-0000-0000-C000-000000000046"
    assert md["ole"]["root_modified"] == "2010-11-12T16:22:01.880000Z"
    names = {e["name"]: e for e in md["directory"]}
    assert names["WordDocument"] == {"name": "WordDocument", "type": "stream", "size": 7731,
                                     "created": None, "modified": None}
    assert md["summary"]["author"] == "Keith Bennett" and md["summary"]["edit_time_seconds"] == 60
    assert md["fib"]["nFib"] == 193 and md["fib"]["fEncrypted"] is False
    assert doc.text.startswith("Sample Word Document Title\nAnd now for a subtitle")
    assert "This is the footer for our document" in doc.text

    xls = ingest(root / "rom.xls")
    assert xls.error is None and xls.mime == sniff.XLS
    assert xls.metadata["sheet_names"] == ["Лист1", "Лист2", "Лист3"]
    assert xls.metadata["write_access_user"] == "Microsoft Office User"
    assert xls.metadata["biff"]["version"] == "0x0600"
    assert "Tip procedură\tTip document" in xls.text and "2011-01-13T00:00:00" in xls.text

    ppt = ingest(root / "slides.ppt")
    assert ppt.error is None and ppt.mime == sniff.PPT
    assert ppt.metadata["current_user"]["user_name"] == "Allison, Tim"
    assert ppt.metadata["summary"]["author"] == "Albert Law 2" and ppt.metadata["doc_summary"]["slides"] == 1
    assert "Now" in ppt.text.split("\n")


def test_word6_text() -> None:
    rec = ingest(shared_corpus("office", "document") / "Word6_sections.doc")
    assert rec.error is None and rec.metadata["fib"]["word6"] is True
    assert rec.text == "This is a test.\n\n\nThis is a new section."


@pytest.mark.parametrize("folder, name, kind", [
    ("ingest", "password_protected.xls", "rc4_cryptoapi"),
    ("ingest", "password_protected.xlsx", "agile"),
    ("office/poifs", "protect.xlsx", "standard"),
    ("office/document", "password_password_cryptoapi.doc", "rc4_cryptoapi"),
    ("office/slideshow", "Password_Protected-np-hello.ppt", "rc4_cryptoapi"),
    ("office/spreadsheet", "60284.xls", "xor"),
])
def test_encrypted_files_keep_what_is_readable(folder: str, name: str, kind: str) -> None:
    rec = ingest(shared_corpus(*folder.split("/")) / name)
    assert rec.error_reason == "encrypted", rec.error
    assert rec.metadata["encryption"]["type"] == kind
    assert rec.metadata["directory"]
    if name.endswith("x"):  # encrypted OOXML: no property sets, the package is an OLE stream
        assert "password-protected OOXML" in rec.error
        assert {"EncryptionInfo", "EncryptedPackage"} <= {e["name"] for e in rec.metadata["directory"]}
    else:
        assert rec.metadata["summary"]["last_saved"].endswith("Z")
    if name.endswith(".ppt"):
        assert rec.metadata["current_user"]["encrypted"] is True


def test_corrupt_ole(tmp_path: Path) -> None:
    path = tmp_path / "broken.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x07" * 3000)
    t0 = time.monotonic()
    rec = ingest(path)
    assert rec.mime == sniff.OLE and rec.error_reason == "corrupt"
    assert time.monotonic() - t0 < 2


# --- a compound file written by hand (MS-CFB v3), with directory times --------------------------

FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def ticks(dt: datetime | None) -> int:
    return int((dt - datetime(1601, 1, 1)).total_seconds()) * 10_000_000 if dt else 0


def dir_entry(name: str, kind: int, child: int, right: int, start: int, size: int,
              times: tuple[datetime | None, datetime | None]) -> bytes:
    raw = (name + "\x00").encode("utf-16-le")
    return (raw.ljust(64, b"\x00") + struct.pack("<HBBIII16sI", len(raw), kind, 1, NOSTREAM, right, child,
                                                 b"\x00" * 16, 0)
            + struct.pack("<QQIII", ticks(times[0]), ticks(times[1]), start, size, 0))


def compound_file(streams: list[tuple[str, bytes, tuple[datetime | None, datetime | None]]],
                  root_times: tuple[datetime | None, datetime | None] = (None, None)) -> bytes:
    """A v3 compound file whose streams are padded to 4096 bytes (no mini stream); entry i+1 is stream i,
    chained as right siblings under the root. Times are (created, modified), naive UTC."""
    sectors: list[bytes] = []
    fat = [FATSECT, END]  # sector 0: the FAT, sector 1: the directory
    starts = []
    for _, data, _ in streams:
        data = data.ljust(4096, b"\x00")
        n = -(-len(data) // 512)
        starts.append(len(fat))
        fat += [len(fat) + i + 1 for i in range(n - 1)] + [END]
        sectors += [data[i * 512:(i + 1) * 512].ljust(512, b"\x00") for i in range(n)]
    assert len(fat) <= 128 and len(streams) <= 3
    entries = dir_entry("Root Entry", 5, 1 if streams else NOSTREAM, NOSTREAM, END, 0, root_times)
    for i, (name, data, times) in enumerate(streams):
        right = i + 2 if i + 1 < len(streams) else NOSTREAM
        entries += dir_entry(name, 2, NOSTREAM, right, starts[i], len(data.ljust(4096, b"\x00")), times)
    entries = entries.ljust(512, b"\x00")
    difat = [0] + [FREE] * 108
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 16
              + struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, 1, 1, 0, 4096, END, 0, END, 0)
              + struct.pack("<109I", *difat))
    fat_sector = struct.pack("<128I", *(fat + [FREE] * (128 - len(fat))))
    return header + fat_sector + entries + b"".join(sectors)


def summary_stream(created: datetime, saved: datetime, app: str = "Microsoft Office Word") -> bytes:
    props = [(1, i2(1252)), (18, lpstr(app.encode())), (12, filetime(created)), (13, filetime(saved))]
    return property_set([(FMTID_SUMMARY, section(props))])


def test_directory_times_recorded_compactly(tmp_path: Path) -> None:
    created, saved = datetime(2016, 3, 1, 9, 0), datetime(2016, 3, 2, 17, 30)
    data = compound_file([("\x05SummaryInformation", summary_stream(created, saved), (None, None)),
                          ("Data", b"x" * 10, (datetime(2016, 3, 1, 9, 1), datetime(2016, 3, 5, 8, 0)))],
                         root_times=(datetime(2016, 3, 1, 9, 0, 5), datetime(2016, 3, 2, 17, 30, 41)))
    (tmp_path / "f.doc").write_bytes(data)
    md = ingest(tmp_path / "f.doc").metadata
    assert md["summary"]["created"] == "2016-03-01T09:00:00Z" and md["summary"]["last_saved"] == "2016-03-02T17:30:00Z"
    assert md["ole"]["root_created"] == "2016-03-01T09:00:05Z"
    assert md["ole"]["root_modified"] == "2016-03-02T17:30:41Z"
    assert md["ole"]["entries_dated"] == 1
    assert (md["ole"]["entries_earliest"], md["ole"]["entries_latest"]) == ("2016-03-01T09:01:00Z",
                                                                            "2016-03-05T08:00:00Z")
