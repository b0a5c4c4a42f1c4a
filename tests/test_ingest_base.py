"""The reader contract's shared parts: capped extraction, spilling, sniffing, ids, kinds."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from leaksift.ingest import sniff as S
from leaksift.ingest.base import (Budget, BytesBlob, Context, IngestError, Limits, Parsed, SpooledBlob,
                                  sha256_of)
from leaksift.ingest.engine import decide_kind, display_name, item_id


def _ctx(tmp_path: Path | None, **limits: int) -> Context:
    lim = Limits(**limits)
    return Context(limits=lim, out=Parsed(), budget=Budget(lim.expansion_floor), tmp_dir=tmp_path)


def test_small_member_stays_in_memory(tmp_path: Path) -> None:
    blob = _ctx(tmp_path).blob_from_stream(io.BytesIO(b"x" * 1000), 1000, 10)
    assert isinstance(blob, BytesBlob) and blob.size == 1000
    assert not (tmp_path).exists() or not any(tmp_path.iterdir())


def test_large_member_spills_inside_the_case_tmp_dir_and_reads_back(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB
    tmp = tmp_path / "case.db.tmp"
    blob = _ctx(tmp, memory_member_bytes=1 << 20).blob_from_stream(io.BytesIO(data), len(data), len(data))
    assert isinstance(blob, SpooledBlob) and blob.size == len(data)
    with blob.open() as a, blob.open() as b:  # independent positions
        assert a.read(10) == data[:10]
        assert b.read() == data
    assert sha256_of(blob) == sha256_of(BytesBlob(data))
    assert tmp.is_dir()  # the spill file is anonymous, inside the case tmp dir
    blob.close()


def test_spill_without_tmp_dir_is_an_error() -> None:
    with pytest.raises(IngestError) as e:
        _ctx(None, memory_member_bytes=1000).blob_from_stream(io.BytesIO(b"y" * 5000), 5000, 5000)
    assert e.value.reason == "too_large"


def test_ratio_cap_stops_a_bomb_without_reading_it_all(tmp_path: Path) -> None:
    class Endless(io.RawIOBase):
        reads = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            Endless.reads += 1
            return b"\0" * (n if n and n > 0 else 1 << 20)

    with pytest.raises(IngestError) as e:
        _ctx(tmp_path, ratio_min_bytes=1 << 20, max_ratio=100).blob_from_stream(Endless(), None, 10_000)
    assert e.value.reason == "bomb" and Endless.reads < 5


def test_budget_is_shared_by_a_whole_source(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.budget = Budget(3000)
    ctx.blob_from_stream(io.BytesIO(b"a" * 2000))
    with pytest.raises(IngestError) as e:
        ctx.blob_from_stream(io.BytesIO(b"b" * 2000))
    assert e.value.reason == "bomb"


def test_member_size_cap(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as e:
        _ctx(tmp_path, max_member_bytes=5000).blob_from_stream(io.BytesIO(b"z" * 9000))
    assert e.value.reason == "too_large"


def _zip(entries: dict[str, bytes]) -> BytesBlob:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return BytesBlob(buf.getvalue())


@pytest.mark.parametrize("data,name,mime", [
    (b"%PDF-1.7\n...", "x.txt", S.PDF),
    (b"\x1f\x8b\x08\x00rest", "", S.GZIP),
    (b"7z\xbc\xaf\x27\x1c\x00\x04", "a.zip", S.SEVENZ),
    (b"!BDN\x00\x00", "", S.PST),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a.pdf", "image/jpeg"),
    (b"From alice@example.org Thu May  4 10:00:00 2017\nFrom: a@b\nSubject: s\nDate: x\n\nbody\n", "x.doc", S.MBOX),
    (b"Received: from x\r\nFrom: a@b\r\nSubject: hi\r\n\r\nbody", "x.pdf", S.EML),
    (b"123\nFrom: a@b\nSubject: hi\nDate: Thu\n\nbody", "", S.EMLX),
    (b"<!DOCTYPE html><html><body>x</body></html>", "x.eml", S.HTML),
    (b"a,b,c\n1,2,3\n", "t.csv", S.CSV),
    (b"plain words\n", "t.csv.exe", S.TEXT),
    (b"\x00\x01\x02\x03binary", "t.txt", S.OCTET),
    (b"", "e.pdf", "application/x-empty"),
])
def test_sniff_by_content_not_name(data: bytes, name: str, mime: str) -> None:
    assert S.sniff(BytesBlob(data), name) == mime


def test_sniff_zip_families() -> None:
    assert S.sniff(_zip({"a.txt": b"x"}), "x.docx") == S.ZIP
    assert S.sniff(_zip({"mimetype": S.ODF_PREFIX.encode() + b"text", "content.xml": b"<x/>"})) == \
        S.ODF_PREFIX + "text"
    ct = (b'<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
          b'officedocument.wordprocessingml.document.main+xml"/></Types>')
    assert S.sniff(_zip({"[Content_Types].xml": ct}), "a.zip") == S.DOCX


def test_sniff_tar() -> None:
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    assert S.sniff(BytesBlob(buf.getvalue())) == S.TAR


def test_ids_are_stable_and_distinct() -> None:
    assert item_id(None, 0, "a.eml") == item_id(None, 0, "a.eml")
    assert len({item_id("p", 1, "x"), item_id("p", 2, "x"), item_id("q", 1, "x"), item_id(None, 0, "x")}) == 4


def test_display_name_is_valid_utf8() -> None:
    name = display_name(b"caf\xe9".decode("utf-8", "surrogateescape"))
    assert name == "caf\\xe9"
    name.encode("utf-8")


@pytest.mark.parametrize("mime,hint,parent,kind", [
    ("message/rfc822", None, None, "email"),
    ("text/plain", "email", "archive", "email"),
    ("application/zip", None, "email", "archive"),
    ("application/pdf", None, "email", "attachment"),
    ("application/pdf", None, "archive", "document"),
    ("application/octet-stream", None, None, "other"),
    ("application/vnd.ms-outlook", None, None, "email"),
])
def test_kinds(mime: str, hint: str | None, parent: str | None, kind: str) -> None:
    assert decide_kind(mime, None, hint, parent) == kind


def test_calendar_with_x_headers_is_not_mail() -> None:
    ics = b"BEGIN:VCALENDAR\r\nX-WR-CALNAME:Meetings\r\nX-WR-TIMEZONE:Europe/Paris\r\nPRODID:x\r\nEND:VCALENDAR\r\n"
    assert S.sniff(BytesBlob(ics)) == "text/calendar"
