"""Outlook readers: .msg through extract-msg, .pst through pypff, on real files and a few rewritten ones."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import logging
import os
import random
from datetime import datetime, timezone
from pathlib import Path

import extract_msg
import olefile
import pypff
import pytest
from conftest import shared_corpus
from extract_msg.ole_writer import OleWriter

from leaksift.ingest import sniff
from leaksift.ingest.base import Budget, BytesBlob, Context, FileBlob, IngestError, Limits, Parsed
from leaksift.ingest.engine import Engine
from leaksift.ingest.outlook import MsgReader
from leaksift.ingest.outlook.mapi import pff_props
from leaksift.ingest.outlook.pst import folder_name
from leaksift.ingest.outlook.rebuild import RebuildLog, rfc822_chunks
from leaksift.ingest.registry import default_registry
from leaksift.ingest.support.html import html_to_text
from leaksift.ingest.support.names import UniqueNames
from leaksift.ingest.support.rtf import rtf_to_text
from leaksift.ingest.support.transfer import ChunkStream

logging.getLogger("extract_msg").setLevel(logging.CRITICAL)  # it logs every oddity of the fuzzed files

# Files of office/hsmf that are damaged on purpose (POI's fuzzer cases); every other one reads cleanly.
HSMF_CORRUPT = {
    "clusterfuzz-testcase-minimized-POIHSMFFuzzer-4735011465854976.msg",  # OLE: double reference to a stream
    "clusterfuzz-testcase-minimized-POIHSMFFuzzer-5336473854148608.msg",  # OLE: unhandled storage type
}


def ingest(root: Path, name: str, tmp_path: Path) -> list:
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp")
    return list(engine.ingest_file(root, name))


def top_and_children(recs: list) -> tuple:
    top = recs[-1]
    return top, [r for r in recs if r.parent == top.id]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ole_stream(path: Path, stream: str) -> bytes:
    with olefile.OleFileIO(str(path)) as ole:
        return ole.openstream(stream).read()


def rewritten_msg(src: Path, edits: dict[str, bytes | None]) -> bytes:
    """A real .msg with some streams replaced (bytes) or removed (None), rewritten by extract-msg."""
    msg = extract_msg.openMsg(str(src), delayAttachments=True)
    try:
        writer = OleWriter()
        writer.fromMsg(msg)
    finally:
        msg.close()
    for path, data in edits.items():
        if data is None:
            writer.deleteEntry(path)
        else:
            writer.editEntry(path, data=data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def direct(reader: object, blob: object) -> tuple[Context, list]:
    ctx = Context(limits=Limits(), out=Parsed(), budget=Budget(1 << 30))
    return ctx, list(reader.read(blob, ctx))  # type: ignore[attr-defined]


# --- .msg: real files ---------------------------------------------------------------------------------------

def test_piste_msg_fields_headers_and_metadata(tmp_path: Path) -> None:
    top, children = top_and_children(ingest(shared_corpus("ingest"), "piste.msg", tmp_path))
    assert top.mime == sniff.MSG and top.kind == "email" and top.error is None
    e = top.email
    assert e.subject == "Ab auf die Piste!"
    assert e.from_ == "GMX Magazin <mailings@gmxnet.de>" and e.from_addr == "mailings@gmxnet.de"
    assert e.to == ["Alle Mitglieder von GMX <members@gmx.net>"]
    assert e.date == "2010-11-28T23:42:18+01:00" and e.date_raw == "Sun, 28 Nov 2010 23:42:18 +0100"
    assert e.message_id == "<E5-bad037e6-elaine5029/3/2852-f493@mailings.gmx.net>"
    assert "outlook_restored" in top.transforms
    assert top.metadata["body_source"] == "outlook"
    headers = top.metadata["headers"]
    assert headers[0] == ["Return-Path", "<mailings@gmxnet.de>"]
    assert ["Subject", "Ab auf die Piste!"] in headers
    assert ["X-GMX-Antivirus", "0 (no virus found)"] in headers
    assert top.metadata["mapi"]["message_class"] == "IPM.Note"
    assert top.metadata["body_formats"] == ["plain", "rtf"]
    assert "Ausgabe: 47/2010" in top.text
    assert top.children_expected == 0 and children == []
    assert top.raw == (shared_corpus("ingest") / "piste.msg").read_bytes()


def test_every_hsmf_msg_ingests_without_parse_error(tmp_path: Path) -> None:
    root = shared_corpus("office", "hsmf")
    names = sorted(p.name for p in root.glob("*.msg"))
    assert len(names) >= 40
    failed = {}
    for name in names:
        recs = ingest(root, name, tmp_path)
        assert all(r.error_reason != "parse_error" for r in recs), (name, [r.error for r in recs])
        top = recs[-1]
        assert top.mime == sniff.MSG and top.kind == "email", name
        if top.error:
            failed[name] = top.error_reason
            continue
        assert "outlook_restored" in top.transforms and top.metadata["body_source"] == "outlook", name
        assert top.children_lost == 0, name
    assert failed == {name: "corrupt" for name in HSMF_CORRUPT}


@pytest.mark.parametrize("name, subject, sender, text", [
    ("chinese-traditional.msg", "Alfresco MSG format testing ( MSG 格式測試 )", "Tests Chang@FT (張毓倫)", "中文測試"),
    ("ASCII_CP1251_LCID1049.msg", "Subject автоматически Subject", None, "Body автоматически Body"),
    ("HTMLBodyBinary_CP1251.msg", "Subject öäü Subject", None, "HTML автоматически"),  # HTML only, code page 1251
    ("HTMLBodyBinary_UTF-8.msg", "Subject öäü Subject", None, "HTML öäü"),
    ("cyrillic_message.msg", 'Автоматический ответ подсистемы обмена данными ФГУП "Почта России".',
     "<no-reply@niips.ru>", "успешно получено"),
    ("msgClassTask.msg", "Must jump over the lazy dog", "Allison, Timothy B.", "Quick brown fox must do"),
])
def test_msg_encodings_and_bodies(tmp_path: Path, name: str, subject: str, sender: str | None, text: str) -> None:
    top = ingest(shared_corpus("office", "hsmf"), name, tmp_path)[-1]
    assert top.email.subject == subject
    assert top.email.from_ == sender
    assert text in top.text


def test_msg_mapi_fallback_without_transport_headers(tmp_path: Path) -> None:
    top = ingest(shared_corpus("office", "hsmf"), "example_sent_unicode.msg", tmp_path)[-1]
    assert "headers" not in top.metadata
    e = top.email
    assert e.from_ == "Mike Farman <mike.farman@alfresco.com>"  # sent-representing name + SMTP address
    assert e.to[0] == "'Ashutosh Dandavate' <ashutosh.dandavate@alfresco.com>" and len(e.to) == 3
    assert e.cc == ["\"'nickb@alfresco.com'\" <nickb@alfresco.com>",
                    "\"'nick.burch@alfresco.com'\" <nick.burch@alfresco.com>",
                    "'Roy Wetherall' <roy.wetherall@alfresco.com>"]
    assert e.date == "2010-01-11T16:25:07.123000+00:00"  # PR_CLIENT_SUBMIT_TIME, UTC
    mapi = top.metadata["mapi"]
    assert mapi["has_attachments"] is True and mapi["message_class"] == "IPM.Note"
    assert {"creation_time", "last_modification_time", "search_key", "internet_code_page"} <= set(mapi)


def test_msg_attachments_names_and_bytes(tmp_path: Path) -> None:
    root = shared_corpus("office", "hsmf")
    top, children = top_and_children(ingest(root, "no_recipient_address.msg", tmp_path))
    assert top.children_expected == 11
    assert [c.path.rsplit("/", 1)[1] for c in children] == [f"{n}.jpg" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)]
    assert all(c.mime == "image/jpeg" and c.kind == "attachment" for c in children)

    top, children = top_and_children(ingest(root, "example_received_unicode.msg", tmp_path))
    [gif] = children
    assert gif.path.endswith("/alfresco.gif")
    assert gif.sha256 == sha(ole_stream(root / "example_received_unicode.msg",
                                        "__attach_version1.0_#00000000/__substg1.0_37010102"))
    assert gif.metadata["container"]["long_filename"] == "alfresco.gif"


def test_msg_embedded_message_is_its_own_msg(tmp_path: Path) -> None:
    root = shared_corpus("office", "hsmf")
    recs = ingest(root, "58214_with_attachment.msg", tmp_path)
    top, [child] = top_and_children(recs)
    assert top.email.subject == "Master mail" and top.children_expected == 1
    assert child.path.endswith("/Untitled Attachment")
    assert child.mime == sniff.MSG and child.kind == "email"
    assert child.transforms == ["msg_reexported", "outlook_restored"]
    assert child.email.subject == "Test mail attachment"
    assert child.email.message_id == "<003601d0cf76$8236bba0$86a432e0$@c6.eu>"
    # POI extracted the same attachment with another tool: same message, same text.
    extracted = ingest(root, "58214_extracted_attachment.msg", tmp_path)[-1]
    assert child.text == extracted.text and child.email == extracted.email

    top, children = top_and_children(ingest(root, "attachment_msg_pdf.msg", tmp_path))
    assert [c.path.rsplit("/", 1)[1] for c in children] == ["Test Attachment", "smbprn.00009008.KdcPjl.pdf"]
    embedded, pdf = children
    assert embedded.email.subject == "Test Attachment" and embedded.kind == "email"
    assert pdf.mime == sniff.PDF
    assert pdf.sha256 == sha(ole_stream(root / "attachment_msg_pdf.msg",
                                        "__attach_version1.0_#00000001/__substg1.0_37010102"))


def test_msg_clear_signed_keeps_the_signed_entity(tmp_path: Path) -> None:
    root = shared_corpus("office", "hsmf")
    top, children = top_and_children(ingest(root, "logsat.com_signatures_valid.msg", tmp_path))
    assert top.metadata["smime"] == "multipart_signed" and top.error is None
    [entity] = children
    assert entity.kind == "email" and entity.mime == sniff.EML
    data = ole_stream(root / "logsat.com_signatures_valid.msg", "__attach_version1.0_#00000000/__substg1.0_37010102")
    assert entity.sha256 == sha(data) and data.startswith(b"MIME-Version: 1.0\r\n")
    assert top.email.from_addr == "roberto@logsat.com"


# --- .msg: rewritten files and damaged input ----------------------------------------------------------------

def test_msg_rtf_only_body(tmp_path: Path) -> None:
    src = shared_corpus("office", "hsmf") / "quick.msg"
    (tmp_path / "rtf.msg").write_bytes(rewritten_msg(src, {"__substg1.0_1000001E": None}))
    top = ingest(tmp_path, "rtf.msg", tmp_path)[-1]
    assert top.error is None and top.metadata["body_formats"] == ["rtf"]
    assert top.text == "The quick brown fox jumps over the lazy dog"


def test_msg_duplicate_and_pathy_attachment_names(tmp_path: Path) -> None:
    src = shared_corpus("office", "hsmf") / "attachment_test_msg.msg"
    evil = "..\\..\\Windows\\test-unicode.doc\x00".encode("utf-16-le")
    data = rewritten_msg(src, {"__attach_version1.0_#00000001/__substg1.0_3707001F": evil})
    (tmp_path / "dup.msg").write_bytes(data)
    top, children = top_and_children(ingest(tmp_path, "dup.msg", tmp_path))
    assert [c.path.rsplit("/", 1)[1] for c in children] == ["test-unicode.doc", "test-unicode~2.doc"]
    assert children[1].sha256 == sha(ole_stream(src, "__attach_version1.0_#00000001/__substg1.0_37010102"))


def test_msg_smime_encrypted_is_recorded(tmp_path: Path) -> None:
    src = shared_corpus("office", "hsmf") / "logsat.com_signatures_valid.msg"
    envelope = b"\x30\x80" + bytes.fromhex("06092a864886f70d010703") + b"\xa0\x80" + bytes(64)
    data = rewritten_msg(src, {
        "__substg1.0_001A001E": b"IPM.Note.SMIME\x00",
        "__attach_version1.0_#00000000/__substg1.0_37010102": envelope,
        "__attach_version1.0_#00000000/__substg1.0_370E001E": b"application/pkcs7-mime\x00",
    })
    (tmp_path / "enc.msg").write_bytes(data)
    top, children = top_and_children(ingest(tmp_path, "enc.msg", tmp_path))
    assert top.error_reason == "encrypted" and top.metadata["smime"] == "encrypted"
    assert top.email.subject == "test"  # the envelope stays readable
    assert len(children) == 1 and children[0].sha256 == sha(envelope)


def test_msg_with_undecodable_message_class_still_reads(tmp_path: Path) -> None:
    src = shared_corpus("office", "hsmf") / "example_received_unicode.msg"
    (tmp_path / "cls.msg").write_bytes(rewritten_msg(src, {"__substg1.0_001A001F": b"I\x00\x00\xd8"}))
    top, children = top_and_children(ingest(tmp_path, "cls.msg", tmp_path))
    assert top.error is None and top.metadata["mapi"]["message_class"] == "I\ufffd"
    assert top.email.subject == "This is a test message please ignore" and len(top.email.to) == 3
    assert [c.path.rsplit("/", 1)[1] for c in children] == ["alfresco.gif"]


def test_msg_damaged_input_is_an_error_not_a_crash(tmp_path: Path) -> None:
    garbage = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(6000)
    with pytest.raises(IngestError) as err:
        direct(MsgReader(), BytesBlob(garbage))
    assert err.value.reason == "corrupt"
    (tmp_path / "garbage.msg").write_bytes(garbage)
    recs = ingest(tmp_path, "garbage.msg", tmp_path)
    assert len(recs) == 1 and recs[0].error_reason != "parse_error"

    # fnf.msg is an RFC 822 message with a .msg name: typed by content, and refused by the msg reader.
    fnf = shared_corpus("ingest") / "fnf.msg"
    assert sniff.sniff(FileBlob(fnf), "fnf.msg") == sniff.EML
    with pytest.raises(IngestError) as err:
        direct(MsgReader(), FileBlob(fnf))
    assert err.value.reason == "corrupt"


# --- .pst -------------------------------------------------------------------------------------------------

def pypff_folders(path: Path) -> dict[str, list[tuple[str, bytes, bytes | None]]]:
    """Folder path -> (subject, plain body, html body) of each message, read independently with pypff."""
    f = pypff.file()
    f.open(str(path))
    out: dict[str, list] = {}

    def walk(folder: object, prefix: str) -> None:
        for i in range(folder.number_of_sub_folders):
            sub = folder.get_sub_folder(i)
            p = f"{prefix}/{sub.name}" if prefix else sub.name
            out[p] = [(m.subject, m.plain_text_body, m.html_body) for m in
                      (sub.get_sub_message(j) for j in range(sub.number_of_sub_messages))]
            walk(sub, p)
    walk(f.get_root_folder(), "")
    f.close()
    return out


def test_pst_messages_match_pypff(tmp_path: Path) -> None:
    root = shared_corpus("ingest")
    recs = ingest(root, "testPST.pst", tmp_path)
    top, children = top_and_children(recs)
    assert top.mime == sniff.PST and top.kind == "archive" and top.error is None
    expected = pypff_folders(root / "testPST.pst")
    assert top.children_expected == sum(len(v) for v in expected.values()) == 6
    assert top.children_emitted == 6 and top.children_failed == 0
    meta = top.metadata
    assert (meta["format"], meta["variant"], meta["encryption"]) == ("pst", "unicode", "compressible")
    assert meta["size"] == meta["declared_size"] == 271360
    tree = {t["path"]: t["messages"] for t in meta["folder_tree"]}
    assert tree == {"/": 0, **{k: len(v) for k, v in expected.items()}}

    folder = "Début du fichier de données Outlook"
    assert [c.path for c in children] == [f"testPST.pst/{folder}/{n}" for n in range(1, 7)]
    for child, (subject, plain, html) in zip(children, expected[folder]):
        assert child.kind == "email" and child.transforms == ["outlook_restored"]
        assert child.metadata["container"]["folder"] == folder
        assert child.metadata["container"]["attachments"] == 0
        msg = email.message_from_bytes(child.raw, policy=email.policy.default)
        assert msg["Subject"] == subject
        assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == plain.decode().replace("\r\n", "\n")
        if html is not None:
            assert msg.get_body(("html",)).get_payload(decode=True) == html
        assert msg.get_all("MIME-Version") == ["1.0"]
        assert msg["X-Leaksift-Original-Content-Type"]
    first = email.message_from_bytes(children[0].raw, policy=email.policy.default)
    assert first["X-Leaksift-Original-Content-Type"] == 'text/plain; charset="ISO-8859-1"; format=flowed'
    assert first["X-Leaksift-Original-Content-Transfer-Encoding"] == "8bit"
    assert len(first.get_all("Received")) == 10
    assert first["DKIM-Signature"].startswith("v=1; a=rsa-sha256;")
    meta0 = children[0].metadata["container"]
    assert meta0["delivery_time"] == "2014-02-26T07:51:02.330547+00:00"
    assert meta0["client_submit_time"] == "2014-02-26T07:50:04+00:00"
    assert meta0["sender_name"] == "Jörn Kottmann" and meta0["conversation_topic"] == "Feature Generators"
    assert meta0["headers_from"] == "transport" and "rebuild_problems" not in meta0


def test_pst_truncated_and_garbage_are_recorded_errors(tmp_path: Path) -> None:
    data = (shared_corpus("ingest") / "testPST.pst").read_bytes()
    (tmp_path / "cut.pst").write_bytes(data[:50_000])
    recs = ingest(tmp_path, "cut.pst", tmp_path)
    assert len(recs) == 1 and recs[0].mime == sniff.PST
    assert recs[0].error_reason == "truncated" and "pypff" in recs[0].error

    (tmp_path / "junk.pst").write_bytes(b"!BDN" + random.Random(7).randbytes(20_000))
    recs = ingest(tmp_path, "junk.pst", tmp_path)
    assert len(recs) == 1 and recs[0].error_reason == "corrupt"


# --- rebuilding pst messages: pypff-shaped stand-ins (the corpus pst has no attachments) -----------------

class FakeEntry:
    def __init__(self, value_type: int, value: object) -> None:
        self.value_type, self.value = value_type, value
        self.data = value if isinstance(value, bytes) else None

    @property
    def data_as_string(self) -> str:
        return self.value  # type: ignore[return-value]

    @property
    def data_as_integer(self) -> int:
        return self.value  # type: ignore[return-value]

    @property
    def data_as_boolean(self) -> bool:
        return bool(self.value)

    @property
    def data_as_datetime(self) -> datetime:
        return self.value  # type: ignore[return-value]


class FakeRecordSet:
    def __init__(self, props: dict[int, tuple[int, object]]) -> None:
        self._props = props

    def get_entry_by_type(self, tag: int) -> FakeEntry | None:
        return FakeEntry(*self._props[tag]) if tag in self._props else None


class FakeItem:
    def __init__(self, props: dict[int, tuple[int, object]]) -> None:
        self.number_of_record_sets = 1
        self._rs = FakeRecordSet(props)

    def get_record_set(self, index: int) -> FakeRecordSet:
        return self._rs


class FakeAttachment(FakeItem):
    def __init__(self, props: dict, data: bytes = b"", embedded: object = None, step: int = 700_001) -> None:
        super().__init__(props)
        self._data, self._pos, self._step = data, 0, step
        self.size = len(data)
        self.number_of_sub_items = 1 if embedded is not None else 0
        self._embedded = embedded

    def read_buffer(self, size: int) -> bytes:
        n = min(size, self._step)  # pypff may return less than asked
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def get_sub_item(self, index: int) -> object:
        return self._embedded


class FakeRecipients:
    def __init__(self, recipients: list[dict]) -> None:
        self._sets = [FakeRecordSet(r) for r in recipients]
        self.number_of_record_sets = len(self._sets)

    def get_record_set(self, index: int) -> FakeRecordSet:
        return self._sets[index]


class FakeMessage(FakeItem):
    def __init__(self, props: dict, headers: str | None, plain: bytes | None, html: bytes | None = None,
                 attachments: list | None = None, recipients: list | None = None) -> None:
        super().__init__(props)
        self.transport_headers, self.plain_text_body, self.html_body, self.rtf_body = headers, plain, html, None
        self._atts = attachments or []
        self.number_of_attachments = len(self._atts)
        self.recipients = FakeRecipients(recipients or [])
        self.identifier = 4242

    def get_attachment(self, index: int) -> FakeAttachment:
        return self._atts[index]


S, I, T = 0x1F, 0x3, 0x40  # MAPI value types: unicode string, int32, time


def rebuild(message: FakeMessage) -> tuple[email.message.EmailMessage, list[str]]:
    log = RebuildLog()
    ctx = Context(limits=Limits(), out=Parsed(), budget=Budget(1 << 30))
    blob = ctx.blob_from_stream(ChunkStream(rfc822_chunks(message, pff_props(message), log)))
    return email.message_from_bytes(blob.read_all(1 << 30), policy=email.policy.default), log.problems


def test_pst_rebuild_with_attachments_and_synthesised_headers() -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)  # crosses the 1 MiB read chunks, with short reads
    small = b"col1,col2\r\n1,2\r\n"
    inner = FakeMessage({0x0037: (S, "\x01\x04Re: inner")}, "Subject: inner one\r\nFrom: x@y.z\r\n", b"inner body")
    atts = [
        FakeAttachment({0x3707: (S, "Grosse Datei ü.bin"), 0x370E: (S, "application/x-thing")}, big),
        FakeAttachment({0x3704: (S, "C:\\temp\\DATA.CSV"), 0x3712: (S, "part1@x")}, small),
        FakeAttachment({0x3707: (S, "data.csv")}, small),
        FakeAttachment({0x3705: (I, 5), 0x3001: (S, "Forwarded")}, embedded=inner),
        FakeAttachment({0x3705: (I, 5)}),  # an embedded message pypff does not expose
    ]
    message = FakeMessage(
        {0x0037: (S, "Grüße aus Köln"), 0x0042: (S, "Jörg Müller"), 0x0065: (S, "joerg@example.de"),
         0x0064: (S, "SMTP"), 0x0039: (T, datetime(2014, 2, 26, 7, 50, 4)), 0x1035: (S, "<id-1@example.de>"),
         0x3FFD: (I, 1252)},
        None, "Hallo Welt – ça va?".encode(), b"<p>Hallo <b>Welt</b></p>", atts,
        recipients=[{0x3001: (S, "Anna"), 0x39FE: (S, "anna@example.org"), 0x0C15: (I, 1)},
                    {0x3001: (S, "Bob"), 0x3003: (S, "bob@example.org"), 0x3002: (S, "SMTP"), 0x0C15: (I, 2)}])
    msg, problems = rebuild(message)
    assert msg["Subject"] == "Grüße aus Köln"
    assert msg["From"].addresses[0].display_name == "Jörg Müller"
    assert msg["From"].addresses[0].addr_spec == "joerg@example.de"
    assert str(msg["To"]) == "Anna <anna@example.org>" and str(msg["Cc"]) == "Bob <bob@example.org>"
    assert msg["Date"].datetime == datetime(2014, 2, 26, 7, 50, 4, tzinfo=timezone.utc)
    assert msg["Message-ID"] == "<id-1@example.de>"
    assert msg["X-Leaksift-Headers"] == "synthesised from MAPI properties"
    assert msg.get_body(("plain",)).get_content() == "Hallo Welt – ça va?"
    assert msg.get_body(("html",)).get_content() == "<p>Hallo <b>Welt</b></p>"
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["Grosse Datei ü.bin", "DATA.CSV", "data.csv", "Forwarded",
                                                 "attachment-5"]
    assert sha(parts[0].get_payload(decode=True)) == sha(big)
    assert parts[0].get_content_type() == "application/x-thing"
    assert parts[1].get_payload(decode=True) == small and parts[1]["Content-ID"] == "<part1@x>"
    assert parts[3].get_content_type() == "message/rfc822"
    assert parts[3].get_content()["Subject"] == "inner one"
    assert parts[4]["X-Leaksift-Error"] == "embedded message not readable"
    assert problems == ["embedded message attachment-5 not readable through pypff"]


def test_pst_rebuild_replaces_the_original_mime_framing() -> None:
    headers = ("Microsoft Mail Internet Headers Version 2.0\r\n"
               "Received: from a by b;\r\n Wed, 26 Feb 2014 07:51:02 +0000\r\n"
               "From: Someone <s@example.com>\r\nSubject: hello\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/alternative;\r\n\tboundary=\"XYZ\"\r\n"
               "Content-Transfer-Encoding: 7bit\r\n\r\n")
    msg, problems = rebuild(FakeMessage({}, headers, b"body"))
    assert msg["X-Leaksift-Original-Content-Type"] == 'multipart/alternative;\tboundary="XYZ"'  # unfolded
    assert msg["X-Leaksift-Original-Content-Transfer-Encoding"] == "7bit"
    assert msg.get_content_type() == "multipart/mixed" and msg.get_all("Content-Type") is not None
    assert len(msg.get_all("Content-Type")) == 1 and msg.get_all("MIME-Version") == ["1.0"]
    assert msg["Received"] == "from a by b; Wed, 26 Feb 2014 07:51:02 +0000"
    assert msg.get_body(("plain",)).get_content() == "body"
    assert problems == ["1 transport header line(s) that are not header fields dropped"]


def test_pst_rebuild_of_an_item_that_is_not_a_message() -> None:
    msg, problems = rebuild(FakeItem({0x0037: (S, "a contact"), 0x3FFD: (I, 1252)}))  # type: ignore[arg-type]
    assert msg["Subject"] == "a contact" and msg.get_body(("plain",)).get_content() == ""
    assert problems and problems[0].startswith("attachments unreadable")


# --- helpers ----------------------------------------------------------------------------------------------

def test_names_and_markup_helpers() -> None:
    names = UniqueNames()
    assert [names.take(n) for n in ("a.txt", "a.txt", "a.txt", "README", "README")] == \
        ["a.txt", "a~2.txt", "a~3.txt", "README", "README~2"]
    assert folder_name("Inbox/2019") == "Inbox∕2019" and folder_name(None) == "(unnamed)"
    rtf = (rb"{\rtf1\ansi\ansicpg1251{\fonttbl{\f0 Arial;}}{\*\generator x;}\f0 "
           rb"\'cf\'f0\'e8\'e2\'e5\'f2 \u8364?\par {\*\htmltag <br>}\htmlrtf skip\htmlrtf0 done}")
    assert rtf_to_text(rtf) == "Привет €\ndone"
    html = "<html><head><title>t</title><style>p{}</style></head><body><p>Hi&nbsp;there</p><br>x &amp; y</body></html>"
    assert html_to_text(html) == "Hi there\n\nx & y"
    assert html_to_text("<html><head><meta x=1><body>unclosed head</body>") == "unclosed head"
