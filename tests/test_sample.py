"""The sample leak: reproducible, verifiable with dkimpy, and holding every case it claims to hold."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import io
import re
import tarfile
import time
import types
import zipfile
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import dkim
import dns.rdatatype
import dns.zone
import pikepdf
import pypdfium2
import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from PIL import Image

from leaksift.sample import build_sample, dns_records, dnsfunc, read_message, tree_digests
from leaksift.sample.keys import parse_zone
from leaksift.sample.mail import LEAK_PUBLISHED

SMALL = {"emails": 120, "documents": 24, "seed": 2017}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    manifest = build_sample(root / "leak", keys_out=root / "keys.zone", **SMALL)
    return root, manifest


def _verify(raw: bytes, records: dict[bytes, bytes], at: int, monkeypatch) -> bool:
    """dkimpy's verdict with its clock set to `at` (an archive is judged at signing time, not today)."""
    monkeypatch.setattr(dkim, "time", types.SimpleNamespace(time=lambda: at))
    return dkim.verify(raw, dnsfunc=dnsfunc(records), minkey=512)


def _raw(built, location: str) -> bytes:
    return read_message(built[0] / "leak", location)


# --- reproducibility ------------------------------------------------------------------------------------------

def test_same_seed_gives_the_same_bytes(built, tmp_path):
    root, first = built
    again = build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", **SMALL)
    assert again.files == first.files
    assert tree_digests(tmp_path) == tree_digests(root)
    assert again.messages == first.messages and again.documents == first.documents
    assert again.counts == first.counts and again.cases == first.cases


def test_another_seed_gives_other_keys_and_messages(built, tmp_path):
    other = build_sample(tmp_path / "leak", emails=40, documents=12, seed=7)
    assert dns_records(other) != dns_records(built[1])
    assert {m.message_id for m in other.messages}.isdisjoint({m.message_id for m in built[1].messages})


def test_refuses_a_non_empty_folder_and_too_small_counts(tmp_path):
    (tmp_path / "leak").mkdir()
    (tmp_path / "leak" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build_sample(tmp_path / "leak")
    with pytest.raises(ValueError):
        build_sample(tmp_path / "other", emails=10)
    assert (tmp_path / "leak" / "mine.txt").read_text() == "keep me"


# --- keys and signatures --------------------------------------------------------------------------------------

def test_zone_file_parses_back_with_dnspython(built):
    root, manifest = built
    zone = dns.zone.from_file(str(root / "keys.zone"), origin="example.", relativize=False, check_origin=False)
    parsed = {}
    for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.TXT):
        assert rdataset.ttl == 3600
        for rdata in rdataset:
            parsed[name.to_text().encode()] = b"".join(rdata.strings)
            if name.to_text().startswith("s2017."):
                assert len(rdata.strings) >= 3  # the 2048-bit key is split into several strings
    assert parsed == dns_records(manifest) == dns_records(root / "keys.zone")
    assert parse_zone((root / "keys.zone").read_text()) == parsed
    assert set(parsed) == {b"s2017._domainkey.campaign.example.", b"ed2017._domainkey.press.example.",
                           b"mail2016._domainkey.bank.example.", b"lists._domainkey.lists.example."}
    assert b"k=ed25519" in parsed[b"ed2017._domainkey.press.example."]


def test_every_copy_verifies_as_the_ground_truth_says(built, monkeypatch):
    root, manifest = built
    records = dns_records(root / "keys.zone")
    seen: dict[str, int] = {}
    for msg in manifest.messages:
        for loc in msg.locations:
            ok = _verify(_raw(built, loc.path), records, msg.timestamp or 1490000000, monkeypatch)
            assert ok == (loc.dkim == "pass"), (msg.message_id, loc)
            key = f"{loc.dkim}/{msg.algorithm}" if loc.dkim == "pass" else loc.dkim
            seen[key] = seen.get(key, 0) + 1
    assert seen["pass/rsa-sha256"] > 30 and seen["pass/ed25519-sha256"] >= 1
    assert seen["fail"] == 2 and seen["no_key"] >= 1 and seen["none"] >= 5
    signed = [m for m in manifest.messages if m.signed]
    assert len(signed) > len(manifest.messages) / 2
    assert {m.canonicalization for m in signed} >= {"relaxed/relaxed", "simple/simple"}


def test_key_sizes_match_the_records_and_weak_keys_are_refused_by_default(built, monkeypatch):
    manifest = built[1]
    records = dns_records(manifest)
    for key in manifest.keys:
        if key.published and key.algorithm == "rsa-sha256":
            p = records[key.name.encode()].split(b"p=")[1]
            assert load_der_public_key(base64.b64decode(p)).key_size == key.bits
    by_bits = {m.key_bits: m for m in manifest.messages if m.dkim == "pass" and m.algorithm == "rsa-sha256"}
    assert set(by_bits) == {512, 1024, 2048}
    weak = _raw(built, by_bits[512].locations[0].path)
    assert _verify(weak, records, by_bits[512].timestamp, monkeypatch)
    assert not dkim.verify(weak, dnsfunc=dnsfunc(records))  # dkimpy's default refuses a 512-bit key
    monkeypatch.setattr(dkim, "time", types.SimpleNamespace(time=lambda: by_bits[1024].timestamp))
    assert dkim.verify(_raw(built, by_bits[1024].locations[0].path), dnsfunc=dnsfunc(records))


def test_signature_times_are_the_message_times_and_x_expires(built, monkeypatch):
    root, manifest = built
    records = dns_records(manifest)
    for msg in manifest.messages:
        if msg.signed:
            sent = parsedate_to_datetime(msg.date).timestamp()
            assert 0 < msg.timestamp - sent < 5
    expiring = manifest.case("press_expiring")[0]
    assert expiring.expires == expiring.timestamp + 7 * 86400 and expiring.algorithm == "ed25519-sha256"
    raw = _raw(built, expiring.locations[0].path)
    assert f"x={expiring.expires}".encode() in raw.replace(b"\n ", b" ")
    assert _verify(raw, records, expiring.timestamp + 60, monkeypatch)
    assert not _verify(raw, records, int(time.time()), monkeypatch)  # today it has expired


def test_altered_body_fails_and_the_original_figure_restores_it(built, monkeypatch):
    msg = built[1].case("body_altered")[0]
    raw = _raw(built, msg.locations[0].path)
    records = dns_records(built[1])
    assert b"480 000" in raw and not _verify(raw, records, msg.timestamp, monkeypatch)
    with pytest.raises(dkim.ValidationError, match="body hash mismatch"):
        dkim.DKIM(raw).verify(dnsfunc=dnsfunc(records))
    assert _verify(raw.replace(b"480 000", b"48 000", 1), records, msg.timestamp, monkeypatch)


def test_added_from_fails_and_removing_it_restores_it(built, monkeypatch):
    msg = built[1].case("extra_from")[0]
    raw = _raw(built, msg.locations[0].path)
    records = dns_records(built[1])
    froms = re.findall(rb"(?m)^From: .*\r?\n", raw)
    assert len(froms) == 2 and b"helene.marchetti" in froms[0] and b"thomas.leroy" in froms[1]
    assert not _verify(raw, records, msg.timestamp, monkeypatch)
    assert _verify(raw.replace(froms[0], b"", 1), records, msg.timestamp, monkeypatch)


def test_forwarded_messages_carry_the_original_signed_bytes(built, monkeypatch):
    manifest = built[1]
    records = dns_records(manifest)
    checked = 0
    for fwd in manifest.case("forwards"):
        original = manifest.message(fwd.forwarded)
        raw = _raw(built, fwd.locations[0].path)
        boundary = re.search(rb'boundary="([^"]+)"', raw).group(1)
        start = re.search(rb"Content-Type: message/rfc822.*?\r?\n\r?\n", raw, re.S).end()
        inner = raw[start:raw.rindex(b"\n--" + boundary + b"--")].rstrip(b"\r") + (b"\r\n" if b"\r\n" in raw else b"\n")
        assert re.search(rb"(?m)^Message-ID: " + re.escape(original.message_id.encode()), inner)
        if original.dkim == "pass":
            assert _verify(inner, records, original.timestamp, monkeypatch)
            checked += 1
    assert len(manifest.case("forwards")) >= 3 and checked >= 1


# --- mailbox formats ------------------------------------------------------------------------------------------

def test_mbox_is_mboxrd_escaped(built):
    root, manifest = built
    msg = manifest.case("mbox_escape")[0]
    path, _, number = msg.locations[0].path.partition("#")
    stored = (root / "leak" / path).read_bytes()
    assert b"\n>From the field:" in stored and b"\n>>From the archive:" in stored
    assert not re.search(rb"(?m)^From the field", stored)
    raw = _raw(built, msg.locations[0].path)
    assert b"\nFrom the field:" in raw and b"\n>From the archive:" in raw
    assert len(stored.split(b"\nFrom ")) > 1 and int(number) >= 1


def test_every_mailbox_format_is_present(built):
    root, manifest = built
    leak = root / "leak"
    files = manifest.files
    maildir = [f for f in files if "/Maildir/" in f and not f.endswith("maildirfolder")]
    assert any("/cur/" in f for f in maildir) and any("/new/" in f for f in maildir)
    assert any("/.Sent/cur/" in f for f in maildir)
    for f in maildir:
        name = f.rsplit("/", 1)[1]
        m = re.fullmatch(r"(\d+)\.M\d+P\d+Q\d+\.imap\.campaign\.example,S=(\d+),W=(\d+)(:2,[A-Z]*)?", name)
        assert m and int(m.group(2)) == (leak / f).stat().st_size
        assert ("/cur/" in f) == bool(m.group(4))
    for sub in ("cur", "new", "tmp"):
        assert (leak / "mailboxes/helene.marchetti/Maildir" / sub).is_dir()
    emlx = [f for f in files if f.endswith(".emlx")]
    data = (leak / emlx[0]).read_bytes()
    count, rest = data.split(b"\n", 1)
    assert rest[int(count):].startswith(b"<?xml") and b"<plist" in rest[int(count):]
    endings = {loc.line_ending for m in manifest.messages for loc in m.locations if loc.path.startswith("eml/")}
    assert endings == {"crlf", "lf"}
    assert len([f for f in files if f.startswith("mbox/")]) >= 4
    assert "archives/claire.dumont-messages.zip" in files and "archives/export.tar.gz" in files


def test_nested_archive_holds_a_zip_holding_mbox_files(built):
    root, manifest = built
    with tarfile.open(root / "leak/archives/export.tar.gz") as tar:
        names = tar.getnames()
        inner = tar.extractfile("export/nicolas.petit-mail.zip").read()
    assert "export/documents/budget_previsionnel_v3.docx" in names
    with zipfile.ZipFile(io.BytesIO(inner)) as zf:
        members = zf.namelist()
        mbox = zf.read(next(n for n in members if n.endswith(".mbox")))
    assert mbox.startswith(b"From ") and any(n.endswith(".eml") for n in members)
    assert manifest.archives["archives/export.tar.gz!export/nicolas.petit-mail.zip"] == members
    nested = manifest.case("nested")[0]
    assert nested.locations[0].path.startswith("archives/export.tar.gz!export/nicolas.petit-mail.zip!mail/")


def test_the_same_attachment_bytes_in_two_messages(built):
    manifest = built[1]
    digests = []
    for msg in manifest.case("shared_attachment"):
        parsed = email.message_from_bytes(_raw(built, msg.locations[0].path), policy=email.policy.default)
        (part,) = list(parsed.iter_attachments())
        digests.append(hashlib.sha256(part.get_content()).hexdigest())
    genuine = manifest.document("documents/finances/budget_previsionnel_v3.docx")
    assert digests == [genuine.sha256, genuine.sha256]
    assert len({loc.path for m in manifest.case("shared_attachment") for loc in m.locations}) == 2


# --- deliberate inconsistencies -------------------------------------------------------------------------------

def test_late_date_misquote_and_received_order(built):
    manifest = built[1]
    late = manifest.case("late_date")[0]
    assert parsedate_to_datetime(late.date) > LEAK_PUBLISHED and not late.signed
    assert all(parsedate_to_datetime(m.date) <= LEAK_PUBLISHED for m in manifest.messages if m is not late)

    reply = manifest.case("misquote")[0]
    parent = manifest.message(reply.parent)
    reply_text = email.message_from_bytes(_raw(built, reply.locations[0].path), policy=email.policy.default)
    parent_text = email.message_from_bytes(_raw(built, parent.locations[0].path), policy=email.policy.default)
    assert "> Le sondage interne de cette semaine nous donne 24 %" in reply_text.get_body().get_content()
    assert "nous donne 18 %" in parent_text.get_body().get_content()
    assert reply_text["In-Reply-To"] == parent.message_id

    for case, ordered in (("received_disorder", False), ("simple_canon", True)):
        raw = _raw(built, manifest.case(case)[0].locations[0].path)
        hops = [parsedate_to_datetime(d.decode()) for d in
                re.findall(rb"(?m)^Received: [^;]*;\s+([^(\r\n]+)", raw)]
        assert len(hops) >= 2 and (hops == sorted(hops, reverse=True)) is ordered
    assert sorted(manifest.cases["tampered"]) == sorted(
        m.message_id for c in ("body_altered", "extra_from", "misquote", "late_date", "received_disorder")
        for m in manifest.case(c))


# --- documents ------------------------------------------------------------------------------------------------

def test_doctored_docx_shares_every_metadata_part(built):
    root, manifest = built
    genuine_path, doctored_path = manifest.cases["doctored_docx"]
    doctored = manifest.document(doctored_path)
    assert doctored.doctored_of == genuine_path and doctored.tampering == ["doctored_copy"]
    with tarfile.open(root / "leak/archives/export.tar.gz") as tar:
        copy = zipfile.ZipFile(io.BytesIO(tar.extractfile(doctored_path.split("!")[1]).read()))
    genuine = zipfile.ZipFile(root / "leak" / genuine_path)
    for part in ("docProps/core.xml", "docProps/app.xml", "docProps/custom.xml", "word/settings.xml",
                 "word/fontTable.xml"):
        assert genuine.read(part) == copy.read(part)
    assert b"350 000" in genuine.read("word/document.xml") and b"350 000" not in copy.read("word/document.xml")
    assert b"<dc:creator>Julien Ferrand</dc:creator>" in genuine.read("docProps/core.xml")
    assert b"<w:rsidRoot " in genuine.read("word/settings.xml") and b"Calibri" in genuine.read("word/fontTable.xml")


def test_incremental_pdf_keeps_the_first_revision(built):
    root, manifest = built
    path = manifest.cases["incremental_pdf"][0]
    data = (root / "leak" / path).read_bytes()
    assert data.count(b"%%EOF") == 2 and b"/Prev " in data
    first = data[:data.index(b"%%EOF") + 7]

    def page_text(pdf: bytes) -> str:
        return pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()

    assert "57 000" in page_text(data) and "75 000" in page_text(first)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert str(pdf.docinfo["/ModDate"]) > str(pdf.docinfo["/CreationDate"])
        assert pdf.open_metadata().get("xmp:CreatorTool") == "Microsoft® Word 2016"
    assert manifest.document(path).details["revisions"] == 2


def test_office_files_photos_and_text_documents(built):
    root, manifest = built
    leak = root / "leak"
    formats = {d.format for d in manifest.documents}
    assert formats >= {"docx", "xlsx", "pptx", "odt", "pdf", "jpg", "csv", "txt"}
    odt = next(d for d in manifest.documents if d.format == "odt" and d.path.startswith("documents/"))
    with zipfile.ZipFile(leak / odt.path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert b"<meta:initial-creator>" in zf.read("meta.xml")
    pptx = next(d for d in manifest.documents if d.format == "pptx" and d.path.startswith("documents/"))
    with zipfile.ZipFile(leak / pptx.path) as zf:
        assert b"<Application>Microsoft Office PowerPoint</Application>" in zf.read("docProps/app.xml")
        assert b"ppt/slides/slide1.xml" in b" ".join(n.encode() for n in zf.namelist())
    photo = manifest.document(manifest.cases["edited_photo"][0])
    with Image.open(leak / photo.path) as img:
        exif = img.getexif()
        assert exif[0x0131].startswith("Adobe Photoshop") and exif[0x010F] in ("Apple", "Canon")
        assert exif.get_ifd(0x8769)[0x9003] < exif[0x0132]  # DateTimeOriginal before the edit
    for d in manifest.documents:
        if d.path.startswith("documents/"):
            assert hashlib.sha256((leak / d.path).read_bytes()).hexdigest() == d.sha256


# --- scale ----------------------------------------------------------------------------------------------------

def test_two_thousand_emails_build_quickly(tmp_path):
    started = time.perf_counter()
    manifest = build_sample(tmp_path / "leak", emails=2000, documents=100)
    elapsed = time.perf_counter() - started
    print(f"\nsample of 2,000 emails + 100 documents built in {elapsed:.2f} s")
    assert manifest.counts["messages"] == 2000 and manifest.counts["documents"] == 100
    assert manifest.counts["maildir"] > 500 and manifest.counts["mbox"] >= 8
    assert elapsed < 15
    newest = max(parsedate_to_datetime(m.date) for m in manifest.messages if "late_date" not in m.tampering)
    assert newest < datetime(2017, 5, 5, 20, 0, tzinfo=timezone.utc)
