"""Archive readers: zip, tar, gzip/bzip2/xz, 7z, rar; hostile archives end as recorded errors."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import struct
import tarfile
import threading
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import py7zr
import pytest
from conftest import shared_corpus

from leaksift.ingest import sniff
from leaksift.ingest.archives import SevenZipReader, clean_member_name
from leaksift.ingest.base import BytesBlob, Budget, Context, Limits, Parsed
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry
from leaksift.model import ItemRecord

EML = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
       b"Date: Tue, 1 Aug 2023 10:00:00 +0200\r\nMessage-ID: <1@example.org>\r\n\r\nHi Bob\r\n")


def ingest(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None) -> list[ItemRecord]:
    dump = tmp_path / "dump"
    dump.mkdir(exist_ok=True)
    (dump / name).write_bytes(data)
    engine = Engine(default_registry(), limits or Limits(), tmp_dir=tmp_path / "case" / "tmp")
    return list(engine.ingest_file(dump, name))


def by_path(recs: list[ItemRecord]) -> dict[str, ItemRecord]:
    return {r.path: r for r in recs}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], comment: bytes = b"",
             method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        with zipfile.ZipFile(buf, "w", method) as zf:
            for name, data in entries:
                zf.writestr(name, data)
            zf.comment = comment
    return buf.getvalue()


def make_tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT,
             encoding: str = "utf-8") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding=encoding) as tf:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_file(name: str, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def make_7z(entries: list[tuple[str, bytes]], **kw: object) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", **kw) as z:  # type: ignore[arg-type]
        for name, data in entries:
            z.writestr(data, name)
    return buf.getvalue()


# --- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("written, clean", [
    ("../../evil.txt", "evil.txt"),
    ("/etc/passwd", "etc/passwd"),
    ("C:\\Windows\\evil.dll", "Windows/evil.dll"),
    ("C:evil.txt", "evil.txt"),
    ("./a/./b/../c.txt", "a/b/c.txt"),
    ("dir\\sub\\file.txt", "dir/sub/file.txt"),
    ("\\\\server\\share\\x", "server/share/x"),
    ("../..", "unnamed"),
    ("plain.txt", "plain.txt"),
])
def test_clean_member_name(written: str, clean: str) -> None:
    assert clean_member_name(written) == clean


# --- zip ------------------------------------------------------------------------------------

def test_zip_members_and_metadata(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("docs/report.txt", date_time=(2021, 3, 4, 5, 6, 8))
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, 1_600_000_000)
    info.comment = b"entry note"
    info.compress_type = zipfile.ZIP_DEFLATED
    data = make_zip([("docs/", b""), (info, b"quarterly numbers\n"), ("mail.eml", EML)], comment=b"the leak")
    recs = by_path(ingest(tmp_path, "leak.zip", data))
    top = recs["leak.zip"]
    assert top.mime == sniff.ZIP and top.kind == "archive" and top.error is None
    assert top.children_expected == 2 and top.children_emitted == 2 and top.children_lost == 0
    arch = top.metadata["archive"]
    assert arch["entries"] == 3 and arch["directories"] == 1 and arch["comment"] == "the leak"
    assert arch["declared_size"] == len(b"quarterly numbers\n") + len(EML)
    assert "directories" in arch["children_are"]
    report = recs["leak.zip/docs/report.txt"]
    assert report.sha256 == sha(b"quarterly numbers\n")
    meta = report.metadata["container"]
    assert meta["date_time"] == "2021-03-04T05:06:08"
    assert meta["extra_mtime"] == "2020-09-13T12:26:40+00:00"
    assert meta["comment"] == "entry note" and meta["crc"] == "%08x" % zlib.crc32(b"quarterly numbers\n")
    assert meta["compress_method"] == "deflated" and meta["file_size"] == 18
    assert recs["leak.zip/mail.eml"].kind == "email" and recs["leak.zip/mail.eml"].raw == EML


def test_zip_duplicate_names_are_both_kept(tmp_path: Path) -> None:
    recs = ingest(tmp_path, "dup.zip", make_zip([("a.txt", b"first"), ("a.txt", b"second")]))
    kids = [r for r in recs if r.path == "dup.zip/a.txt"]
    assert sorted(r.sha256 for r in kids) == sorted([sha(b"first"), sha(b"second")])
    assert len({r.id for r in kids}) == 2


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_zip_slip_names_are_cleaned_and_nothing_is_written(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("keep")
    entries = [("../../sentinel/slip.txt", b"slip"), (str(sentinel / "abs.txt"), b"abs"),
               ("C:\\Windows\\evil.txt", b"drive"), ("dir\\sub\\back.txt", b"back"), ("./x/./y.txt", b"dot")]
    before = _snapshot(tmp_path)
    recs = by_path(ingest(tmp_path, "slip.zip", make_zip(entries)))
    assert _snapshot(tmp_path) - before == {"dump", "dump/slip.zip"} and (sentinel / "keep.txt").exists()
    assert not [n for n in ("slip.txt", "abs.txt", "evil.txt", "Windows", "back.txt") if Path(n).exists()]
    slip = recs["slip.zip/sentinel/slip.txt"]
    assert slip.sha256 == sha(b"slip")
    assert slip.metadata["container"]["name_as_written"] == "../../sentinel/slip.txt"
    assert recs["slip.zip/" + str(sentinel / "abs.txt").lstrip("/")].sha256 == sha(b"abs")
    assert recs["slip.zip/Windows/evil.txt"].metadata["container"]["name_as_written"] == "C:\\Windows\\evil.txt"
    assert recs["slip.zip/dir/sub/back.txt"].sha256 == sha(b"back")
    assert recs["slip.zip/x/y.txt"].sha256 == sha(b"dot")


def _patch_first_entry(data: bytes, flag_or: int = 0, method: int | None = None) -> bytes:
    raw = bytearray(data)
    cd = raw.find(b"PK\x01\x02")
    for flags_at, method_at in ((6, 8), (cd + 8, cd + 10)):
        struct.pack_into("<H", raw, flags_at, struct.unpack_from("<H", raw, flags_at)[0] | flag_or)
        if method is not None:
            struct.pack_into("<H", raw, method_at, method)
    return bytes(raw)


def test_zip_encrypted_entry_is_an_error_and_the_rest_is_read(tmp_path: Path) -> None:
    data = _patch_first_entry(make_zip([("secret.txt", b"xxxx"), ("open.txt", b"open")]), flag_or=0x1)
    recs = by_path(ingest(tmp_path, "enc.zip", data))
    assert recs["enc.zip/secret.txt"].error_reason == "encrypted"
    assert recs["enc.zip/open.txt"].sha256 == sha(b"open")
    top = recs["enc.zip"]
    assert top.error is None and top.children_failed == 1 and top.children_emitted == 1


def test_zip_unsupported_method(tmp_path: Path) -> None:
    data = _patch_first_entry(make_zip([("a.bin", b"abc"), ("b.txt", b"b")]), method=98)
    recs = by_path(ingest(tmp_path, "m.zip", data))
    assert recs["m.zip/a.bin"].error_reason == "unsupported" and "ppmd" in recs["m.zip/a.bin"].error
    assert recs["m.zip/b.txt"].error is None


def test_zip_crc_error_is_corrupt(tmp_path: Path) -> None:
    data = make_zip([("a.txt", b"hello world"), ("b.txt", b"fine")], method=zipfile.ZIP_STORED)
    recs = by_path(ingest(tmp_path, "crc.zip", data.replace(b"hello world", b"hellO world")))
    assert recs["crc.zip/a.txt"].error_reason == "corrupt" and "CRC" in recs["crc.zip/a.txt"].error
    assert recs["crc.zip/b.txt"].sha256 == sha(b"fine")


def test_zip_cut_short_is_truncated(tmp_path: Path) -> None:
    data = make_zip([("a.txt", os.urandom(5000)), ("b.txt", os.urandom(5000))])
    recs = ingest(tmp_path, "cut.zip", data[: len(data) // 2])
    assert len(recs) == 1 and recs[0].error_reason == "truncated" and recs[0].mime == sniff.ZIP


def test_zip_garbled_central_directory_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_zip([("a.txt", b"a")]))
    cd = data.find(b"PK\x01\x02")
    data[cd:cd + 4] = b"XXXX"
    recs = ingest(tmp_path, "bad.zip", bytes(data))
    assert recs[-1].error_reason == "corrupt"


def test_zip_non_utf8_names(tmp_path: Path) -> None:
    data = make_zip([("cafX.txt", b"latin"), ("resumeYY.txt", b"utf8")])
    data = data.replace(b"cafX.txt", b"caf\xe9.txt").replace(b"resumeYY.txt", b"resume\xc3\xa9.txt")
    recs = by_path(ingest(tmp_path, "names.zip", data))
    latin = recs["names.zip/caf\u0398.txt"]  # 0xE9 is capital theta in cp437
    assert latin.sha256 == sha(b"latin")
    assert latin.metadata["container"]["name_hex"] == b"caf\xe9.txt".hex()
    assert latin.metadata["container"]["name_encoding"] == "cp437"
    utf = recs["names.zip/resume\u251c\u2310.txt"]
    assert utf.metadata["container"]["name_if_utf8"] == "resumeé.txt"
    assert "name_hex" not in utf.metadata["container"]


def test_zip_bomb_by_ratio_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.bin", "w") as w:
            for _ in range(200):
                w.write(bytes(1024 * 1024))
        zf.writestr("note.txt", b"still read")
    recs = by_path(ingest(tmp_path, "bomb.zip", buf.getvalue()))
    bomb = recs["bomb.zip/zeros.bin"]
    assert bomb.error_reason == "bomb" and bomb.size == 200 * 1024 * 1024
    assert recs["bomb.zip/note.txt"].sha256 == sha(b"still read")
    assert recs["bomb.zip"].error is None


def test_zip_bomb_by_budget_stops_the_container(tmp_path: Path) -> None:
    member = b"A" * 1_000_000
    data = make_zip([(f"m{i}.txt", member) for i in range(4)])
    limits = Limits(max_ratio=100, expansion_floor=1_500_000, ratio_min_bytes=8 * 1024 * 1024)
    recs = by_path(ingest(tmp_path, "budget.zip", data, limits))
    top = recs["budget.zip"]
    assert top.error_reason == "bomb" and "budget" in top.error
    assert recs["budget.zip/m0.txt"].sha256 == sha(member)
    assert recs["budget.zip/m1.txt"].error_reason == "bomb"
    assert "budget.zip/m2.txt" not in recs
    assert top.children_expected == 4 and top.children_emitted == 1 and top.children_failed == 1
    assert top.children_lost == 2


def test_nested_zip_stops_at_max_depth(tmp_path: Path) -> None:
    data = make_zip([("core.txt", b"core")])
    for level in range(20):
        data = make_zip([(f"level{level}.zip", data)])
    recs = ingest(tmp_path, "deep.zip", data)
    deep = [r for r in recs if r.error_reason == "too_deep"]
    assert [r.depth for r in deep] == [Limits().max_depth]
    assert recs[-1].path == "deep.zip" and recs[-1].error is None
    assert len(recs) == Limits().max_depth + 1


def test_fan_out_bomb_is_bounded_by_the_budget(tmp_path: Path) -> None:
    leaf = bytes(256 * 1024)
    inner = make_zip([(f"{i}.bin", leaf) for i in range(8)])
    middle = make_zip([(f"{i}.zip", inner) for i in range(8)])
    outer = make_zip([(f"{i}.zip", middle) for i in range(8)])  # 128 MiB of zeros in all
    limits = Limits(expansion_floor=3 * 1024 * 1024, max_ratio=10)
    start = time.monotonic()
    recs = ingest(tmp_path, "42.zip", outer, limits)
    assert time.monotonic() - start < 10
    leaves = [r for r in recs if r.path.endswith(".bin") and r.error is None]
    assert 0 < len(leaves) * len(leaf) <= 3 * 1024 * 1024
    assert recs[-1].path == "42.zip" and recs[-1].error_reason == "bomb"
    assert any(r.error_reason == "bomb" and r.path.endswith(".bin") for r in recs)


# --- tar ------------------------------------------------------------------------------------

def test_tar_regular_files_links_and_metadata(tmp_path: Path) -> None:
    entries = [
        (tar_file("top", type=tarfile.DIRTYPE, mode=0o755), None),
        (tar_file("top/a.txt", mtime=1_600_000_000, uid=1000, gid=100, uname="alice", gname="staff", mode=0o640),
         b"alpha"),
        (tar_file("top/link", type=tarfile.SYMTYPE, linkname="/etc/shadow"), None),
        (tar_file("top/hard", type=tarfile.LNKTYPE, linkname="top/a.txt"), None),
        (tar_file("top/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None),
        (tar_file("../../escape.txt"), b"escape"),
        (tar_file("/abs/path.txt"), b"abs"),
    ]
    recs = by_path(ingest(tmp_path, "t.tar", make_tar(entries)))
    top = recs["t.tar"]
    assert top.error is None and top.children_expected == 3 and top.children_emitted == 3
    arch = top.metadata["archive"]
    assert arch["directories"] == 1
    assert {(x["name"], x["type"], x["target"]) for x in arch["links"]} == {
        ("top/link", "symlink", "/etc/shadow"), ("top/hard", "hardlink", "top/a.txt"), ("top/dev", "chardev", None)}
    a = recs["t.tar/top/a.txt"]
    meta = a.metadata["container"]
    assert a.sha256 == sha(b"alpha")
    assert meta["mtime"] == "2020-09-13T12:26:40+00:00" and meta["uid"] == 1000 and meta["uname"] == "alice"
    assert meta["mode"] == "0o640" and meta["gname"] == "staff"
    assert recs["t.tar/escape.txt"].metadata["container"]["name_as_written"] == "../../escape.txt"
    assert recs["t.tar/abs/path.txt"].sha256 == sha(b"abs")


def test_tar_latin1_names(tmp_path: Path) -> None:
    data = make_tar([(tar_file("café.txt"), b"latin")], fmt=tarfile.GNU_FORMAT, encoding="latin-1")
    assert b"caf\xe9.txt" in data
    recs = ingest(tmp_path, "latin.tar", data)
    kid = recs[0]
    assert kid.path == "latin.tar/caf\\xe9.txt" and kid.sha256 == sha(b"latin")
    assert kid.metadata["container"]["name_hex"] == b"caf\xe9.txt".hex()


def test_tar_cut_inside_a_member(tmp_path: Path) -> None:
    data = make_tar([(tar_file("a.txt"), b"a" * 1000), (tar_file("b.bin"), os.urandom(20_000))])
    recs = by_path(ingest(tmp_path, "cut.tar", data[:1536 + 512 + 5000]))
    assert recs["cut.tar/a.txt"].sha256 == sha(b"a" * 1000)
    assert recs["cut.tar/b.bin"].error_reason == "truncated"
    assert recs["cut.tar"].error_reason == "truncated"


def test_tar_cut_inside_a_header(tmp_path: Path) -> None:
    data = make_tar([(tar_file("a.txt"), b"a" * 1000), (tar_file("b.txt"), b"b")], fmt=tarfile.GNU_FORMAT)
    recs = by_path(ingest(tmp_path, "cut.tar", data[:1536 + 300]))
    assert recs["cut.tar/a.txt"].error is None
    assert recs["cut.tar"].error_reason == "truncated" and recs["cut.tar"].children_emitted == 1


def test_tar_garbage_after_first_member_is_corrupt(tmp_path: Path) -> None:
    data = make_tar([(tar_file("a.txt"), b"a" * 1000)], fmt=tarfile.GNU_FORMAT)
    recs = by_path(ingest(tmp_path, "junk.tar", data[:1536] + b"\x01garbage" * 200))
    assert recs["junk.tar/a.txt"].error is None and recs["junk.tar"].error_reason == "corrupt"


@pytest.mark.parametrize("suffix, mime, compress", [
    (".tar.gz", sniff.GZIP, gzip.compress),
    (".tar.bz2", sniff.BZIP2, bz2.compress),
    (".tar.xz", sniff.XZ, lzma.compress),
])
def test_compressed_tar_members_are_children_of_the_tarball(tmp_path: Path, suffix: str, mime: str,
                                                            compress: object) -> None:
    tar = make_tar([(tar_file("dir/a.txt"), b"alpha"), (tar_file("b.eml"), EML)])
    recs = by_path(ingest(tmp_path, "x" + suffix, compress(tar)))  # type: ignore[operator]
    top = recs["x" + suffix]
    assert top.mime == mime and top.error is None and top.children_expected == 2 and top.children_emitted == 2
    assert top.metadata["archive"]["format"].startswith("tar+")
    assert recs[f"x{suffix}/dir/a.txt"].sha256 == sha(b"alpha")
    assert recs[f"x{suffix}/b.eml"].kind == "email"


def test_cut_tar_gz_is_truncated(tmp_path: Path) -> None:
    tar = make_tar([(tar_file("a.txt"), b"alpha"), (tar_file("r.bin"), os.urandom(50_000))])
    data = gzip.compress(tar)
    recs = by_path(ingest(tmp_path, "x.tgz", data[: len(data) // 2]))
    assert recs["x.tgz/a.txt"].sha256 == sha(b"alpha")
    assert recs["x.tgz/r.bin"].error_reason == "truncated"
    assert recs["x.tgz"].error_reason == "truncated"


# --- gzip, bzip2, xz single files -----------------------------------------------------------

def test_gzip_of_one_eml_named_from_its_header(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="message.eml", mode="wb", fileobj=buf, mtime=1_600_000_000) as g:
        g.write(EML)
    recs = by_path(ingest(tmp_path, "mail.gz", buf.getvalue()))
    kid = recs["mail.gz/message.eml"]
    assert kid.mime == sniff.EML and kid.kind == "email" and kid.raw == EML
    meta = recs["mail.gz"].metadata["archive"]
    assert meta["gzip_fname"] == "message.eml" and meta["gzip_mtime"] == "2020-09-13T12:26:40+00:00"
    assert meta["streams"] == 1 and recs["mail.gz"].children_expected == 1


@pytest.mark.parametrize("name, compress, child", [
    ("mail.eml.gz", lambda d: gzip.compress(d, mtime=0), "mail.eml"),
    ("notes.txt.bz2", bz2.compress, "notes.txt"),
    ("notes.xz", lzma.compress, "notes"),
])
def test_single_compressed_file_named_from_the_item(tmp_path: Path, name: str, compress: object,
                                                    child: str) -> None:
    recs = by_path(ingest(tmp_path, name, compress(EML)))  # type: ignore[operator]
    assert recs[f"{name}/{child}"].sha256 == sha(EML)
    assert recs[f"{name}/{child}"].metadata["container"]["name_from"] == "item name"


def test_gzip_multi_member_padding_and_trailing_garbage(tmp_path: Path) -> None:
    two = gzip.compress(b"part one\n") + gzip.compress(b"part two\n")
    recs = by_path(ingest(tmp_path, "two.txt.gz", two + bytes(512)))
    top = recs["two.txt.gz"]
    assert recs["two.txt.gz/two.txt"].sha256 == sha(b"part one\npart two\n")
    assert top.error is None and top.metadata["archive"]["streams"] == 2
    assert top.metadata["archive"]["padding_bytes"] == 512
    recs = by_path(ingest(tmp_path, "junk.txt.gz", two + b"appended secret"))
    assert recs["junk.txt.gz/junk.txt"].sha256 == sha(b"part one\npart two\n")
    assert recs["junk.txt.gz"].error_reason == "corrupt" and "15 bytes of trailing" in recs["junk.txt.gz"].error


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_cut_and_corrupt_compressed_files(tmp_path: Path, compress: object) -> None:
    data = compress(os.urandom(30_000) + b"x" * 30_000)  # type: ignore[operator]
    recs = ingest(tmp_path, "cut.bin.z", data[: len(data) - 100])
    assert recs[0].error_reason == "truncated" and recs[-1].path == "cut.bin.z"
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    recs = ingest(tmp_path, "bad.bin.z", bytes(bad))
    assert recs[0].error_reason == "corrupt"


def test_gzip_bomb_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(bytes(20 * 1024 * 1024), compresslevel=1)
    limits = Limits(ratio_min_bytes=1024 * 1024, max_ratio=50)
    recs = by_path(ingest(tmp_path, "zeros.gz", data, limits))
    assert recs["zeros.gz/zeros"].error_reason == "bomb"
    assert recs["zeros.gz"].error is None


# --- 7z -------------------------------------------------------------------------------------

def test_7z_members_duplicates_and_nesting(tmp_path: Path) -> None:
    inner = make_zip([("deep.txt", b"deep")])
    data = make_7z([("a.txt", b"alpha"), ("dir/b.txt", b"beta"), ("a.txt", b"again"), ("empty.txt", b""),
                    ("inner.zip", inner), ("mail.eml", EML)])
    recs = ingest(tmp_path, "x.7z", data)
    paths = by_path(recs)
    top = paths["x.7z"]
    assert top.error is None and top.children_expected == 6 and top.children_emitted == 6
    assert sorted(r.sha256 for r in recs if r.path == "x.7z/a.txt") == sorted([sha(b"alpha"), sha(b"again")])
    assert paths["x.7z/dir/b.txt"].sha256 == sha(b"beta") and paths["x.7z/empty.txt"].size == 0
    assert paths["x.7z/inner.zip/deep.txt"].sha256 == sha(b"deep")
    assert paths["x.7z/mail.eml"].kind == "email"
    meta = paths["x.7z/dir/b.txt"].metadata["container"]
    assert meta["mtime"].endswith("+00:00") and meta["crc32"] == f"{zlib.crc32(b'beta'):08x}"


def test_7z_password_and_header_encryption(tmp_path: Path) -> None:
    data = make_7z([("s.txt", b"secret"), ("t.txt", b"more")], password="pw")
    recs = by_path(ingest(tmp_path, "pw.7z", data))
    assert recs["pw.7z/s.txt"].error_reason == "encrypted" and recs["pw.7z/t.txt"].error_reason == "encrypted"
    assert recs["pw.7z"].error is None and recs["pw.7z"].metadata["archive"]["encrypted"] is True
    data = make_7z([("s.txt", b"secret")], password="pw", header_encryption=True)
    recs = ingest(tmp_path, "hidden.7z", data)
    assert len(recs) == 1 and recs[0].error_reason == "encrypted" and "header" in recs[0].error


def test_7z_cut_corrupt_and_split(tmp_path: Path) -> None:
    data = make_7z([("a.txt", b"some text " * 2000)])
    recs = ingest(tmp_path, "cut.7z", data[:-40])
    assert [r.error_reason for r in recs] == ["truncated"]
    recs = ingest(tmp_path, "part.7z.001", data[:-40])
    assert [r.error_reason for r in recs] == ["unsupported"] and "multi-volume" in recs[0].error
    bad = bytearray(data)
    bad[60] ^= 0xFF
    recs = by_path(ingest(tmp_path, "bad.7z", bytes(bad)))
    assert recs["bad.7z/a.txt"].error_reason == "corrupt" and recs["bad.7z"].error is None
    recs = ingest(tmp_path, "garbage.7z", data[:32] + os.urandom(len(data) - 32))
    assert recs[-1].error_reason in ("corrupt", "truncated")


def _7z_renamed(placeholder: str, name: str, entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.set_encoded_header_mode(False)
        for n, d in entries:
            z.writestr(d, n)
    raw = bytearray(buf.getvalue().replace(placeholder.encode("utf-16-le"), name.encode("utf-16-le")))
    off, size = struct.unpack_from("<QQ", raw, 12)
    struct.pack_into("<I", raw, 28, zlib.crc32(raw[32 + off:32 + off + size]))
    struct.pack_into("<I", raw, 8, zlib.crc32(raw[12:32]))
    return bytes(raw)


def test_7z_slip_name_is_refused_and_the_rest_read(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    before = _snapshot(tmp_path)
    data = _7z_renamed("xx/evil.txt", "../evil.txt", [("xx/evil.txt", b"evil"), ("ok.txt", b"ok")])
    recs = by_path(ingest(tmp_path, "slip.7z", data))
    assert recs["slip.7z/evil.txt"].error_reason == "unsupported"
    assert recs["slip.7z/evil.txt"].metadata["container"]["name_as_written"] == "../evil.txt"
    assert recs["slip.7z/ok.txt"].sha256 == sha(b"ok")
    assert _snapshot(tmp_path) - before == {"dump", "dump/slip.7z"}


def test_7z_bomb_refused_without_losing_its_neighbours(tmp_path: Path) -> None:
    data = make_7z([("first.txt", b"first"), ("zeros.bin", bytes(16 * 1024 * 1024)), ("after.txt", b"after")])
    limits = Limits(ratio_min_bytes=1024 * 1024, max_ratio=50)
    start = time.monotonic()
    recs = by_path(ingest(tmp_path, "bomb.7z", data, limits))
    assert time.monotonic() - start < 10
    assert recs["bomb.7z/zeros.bin"].error_reason == "bomb"
    assert recs["bomb.7z/first.txt"].sha256 == sha(b"first") and recs["bomb.7z/after.txt"].sha256 == sha(b"after")
    assert recs["bomb.7z"].error is None


def test_7z_budget_exhausted_stops_the_container(tmp_path: Path) -> None:
    member = b"B" * 1_000_000
    data = make_7z([(f"m{i}.txt", member) for i in range(4)])
    limits = Limits(max_ratio=100, expansion_floor=1_500_000, ratio_min_bytes=8 * 1024 * 1024)
    recs = by_path(ingest(tmp_path, "budget.7z", data, limits))
    assert recs["budget.7z"].error_reason == "bomb" and "budget" in recs["budget.7z"].error
    assert recs["budget.7z"].children_lost == 2
    assert recs["budget.7z/m0.txt"].sha256 == sha(member) and recs["budget.7z/m1.txt"].error_reason == "bomb"
    assert not [t for t in threading.enumerate() if t.name == "leaksift-7z"]


def test_7z_reader_abandoned_midway_stops_its_thread() -> None:
    data = make_7z([(f"m{i}.txt", os.urandom(100_000)) for i in range(8)])
    ctx = Context(limits=Limits(), out=Parsed(), budget=Budget(10**9), name="x.7z")
    gen = SevenZipReader().read(BytesBlob(data), ctx)
    first = next(gen)
    assert first.blob is not None and first.blob.size == 100_000
    gen.close()
    assert not [t for t in threading.enumerate() if t.name == "leaksift-7z"]


@pytest.mark.parametrize("name, pack", [
    ("big.zip", lambda d: make_zip([("big.bin", d)])),
    ("big.tar.gz", lambda d: gzip.compress(make_tar([(tar_file("big.bin"), d)]))),
    ("big.7z", lambda d: make_7z([("big.bin", d)])),
])
def test_large_members_spill_to_the_case_tmp_dir(tmp_path: Path, name: str, pack: object) -> None:
    data = os.urandom(300_000) * 4
    limits = Limits(memory_member_bytes=200_000)
    recs = by_path(ingest(tmp_path, name, pack(data), limits))  # type: ignore[operator]
    assert recs[f"{name}/big.bin"].sha256 == sha(data) and recs[f"{name}/big.bin"].size == len(data)
    assert (tmp_path / "case" / "tmp").is_dir()


# --- rar ------------------------------------------------------------------------------------

def test_rar_is_a_recorded_unsupported_error(tmp_path: Path) -> None:
    recs = ingest(tmp_path, "x.rar", b"Rar!\x1a\x07\x01\x00" + os.urandom(200))
    assert len(recs) == 1 and recs[0].error_reason == "unsupported" and recs[0].mime == sniff.RAR


# --- the shared corpus ----------------------------------------------------------------------

CORPUS_EXPECTED = {
    # file: (container error, {child path: error reason or None})
    "test-documents.zip": (None, {"test-documents.zip/testPDF.pdf": None, "test-documents.zip/testTXT.txt": None}),
    "test-documents.tar": (None, {"test-documents.tar/test-documents/testWORD.doc": None}),
    "test-documents.rar": ("unsupported", {}),
    "badzip.zip": (None, {}),
    "badtar.tar": (None, {}),
    "bad7zip.7z": (None, {}),
    "badrar.rar": ("unsupported", {}),
    "500_pages.7z": (None, {"500_pages.7z/tests/fixtures/500 pages.pdf": None}),
    "500_pages.7z.001": ("unsupported", {}),
    "7z_password.7z": (None, {"7z_password.7z/secret.txt": "encrypted"}),
}


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_reference_archives(tmp_path: Path, name: str) -> None:
    root = shared_corpus("ingest")
    recs = list(Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp").ingest_file(root, name))
    paths = by_path(recs)
    top_error, children = CORPUS_EXPECTED[name]
    assert recs[-1].path == name and recs[-1].error_reason == top_error
    assert not [r.path for r in recs if r.error_reason == "parse_error"]
    for path, reason in children.items():
        assert paths[path].error_reason == reason
    if name.startswith("bad") and not name.endswith(".rar"):
        links = recs[-1].metadata["archive"]["links"]  # each holds one symlink, recorded and not followed
        assert [x["name"] for x in links] == ["secret.txt"]
    if name.endswith(".rar"):
        assert recs[-1].metadata["archive"]["members"]


# --- mangled archives -----------------------------------------------------------------------

def test_mangled_archives_end_as_items_or_recorded_errors(tmp_path: Path) -> None:
    import random

    tar = make_tar([(tar_file("a.txt"), b"hello " * 100), (tar_file("d/b.eml"), EML)])
    bases = {
        "m.zip": make_zip([("a.txt", b"hello " * 100), ("d/b.eml", EML)]),
        "m.tar": tar,
        "m.7z": make_7z([("a.txt", b"hello " * 100), ("d/b.eml", EML)]),
        "m.tar.gz": gzip.compress(tar),
        "m.tar.xz": lzma.compress(tar),
        "m.eml.bz2": bz2.compress(EML),
    }
    rng = random.Random(7)
    reasons = set()
    for _ in range(150):
        name = rng.choice(sorted(bases))
        data = bytearray(bases[name])
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        recs = ingest(tmp_path, name, bytes(data))
        assert recs[-1].path == name
        assert not [r.error for r in recs if r.error_reason == "parse_error"], name
        reasons |= {r.error_reason for r in recs}
    assert {"corrupt", "truncated"} <= reasons
    assert not [t for t in threading.enumerate() if t.name == "leaksift-7z"]
