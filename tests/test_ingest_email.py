"""Readers of single messages (.eml, .emlx): MIME walk, headers, text, attachments, caps."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from pathlib import Path

import pytest

from conftest import shared_corpus
from leaksift.ingest.base import Budget, BytesBlob, Context, IngestError, Limits, Parsed
from leaksift.ingest.email import EmlReader, EmlxReader
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry
from leaksift.ingest.sniff import EML, EMLX
from leaksift.ingest.support.headers import decode_header_value
from leaksift.ingest.support.names import safe_name


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(data: bytes, limits: Limits | None = None, reader=None):
    """Run a reader directly: (parsed, children, error raised at the end)."""
    ctx = Context(limits=limits or Limits(), out=Parsed(), budget=Budget(10**12))
    children, error = [], None
    try:
        for child in (reader or EmlReader()).read(BytesBlob(data), ctx):
            children.append(child)
    except IngestError as e:
        error = e
    return ctx.out, children, error


def ingest(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None):
    root = tmp_path / "dump"
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)
    engine = Engine(default_registry(), limits or Limits(), tmp_dir=tmp_path / "tmp")
    return list(engine.ingest_file(root, name))


def child_bytes(child) -> bytes:
    with child.blob.open() as f:
        return f.read()


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


PAYLOAD = bytes(range(256)) * 8  # no magic: an attachment no other reader opens
PAYLOAD_B64 = base64.encodebytes(PAYLOAD).decode()

MIXED = f"""From: "Alice Example" <Alice@Example.ORG>
To: bob@example.org, "Carol, C." <carol@example.org>
Cc: dave@example.org
Date: Tue, 21 Feb 2017 09:55:09 +0300
Subject: Quarterly figures
Message-ID: <abc123@example.org>
In-Reply-To: <prev@example.org>
References: <first@example.org>  <prev@example.org>
Received: from a.example.org by b.example.org; Tue, 21 Feb 2017 09:55:10 +0300
Received: from c.example.org
\tby a.example.org; Tue, 21 Feb 2017 09:55:09 +0300
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XYZ"

This is a preamble.
--XYZ
Content-Type: text/plain; charset=utf-8

Hello world, see the figures.
--XYZ  
Content-Type: application/pdf; name="figures.pdf"
Content-Disposition: attachment; filename="figures.pdf"
Content-Transfer-Encoding: base64

{PAYLOAD_B64}
--XYZ--
epilogue
"""


# ---------------------------------------------------------------- structure

def test_lf_and_crlf_messages_read_alike():
    lf_out, lf_kids, lf_err = read(MIXED.encode())
    cr_out, cr_kids, cr_err = read(crlf(MIXED))
    assert lf_err is None and cr_err is None
    assert lf_out.email == cr_out.email
    e = lf_out.email
    assert e.from_ == '"Alice Example" <Alice@Example.ORG>'
    assert e.from_addr == "alice@example.org"
    assert e.to == ["bob@example.org", "carol@example.org"]
    assert e.cc == ["dave@example.org"]
    assert e.date == "2017-02-21T09:55:09+03:00"
    assert e.date_raw == "Tue, 21 Feb 2017 09:55:09 +0300"
    assert e.subject == "Quarterly figures"
    assert e.message_id == "<abc123@example.org>"
    assert e.in_reply_to == "<prev@example.org>"
    assert e.references == ["<first@example.org>", "<prev@example.org>"]
    assert lf_out.text == cr_out.text == "Hello world, see the figures."
    assert "lf_line_endings" in lf_out.transforms
    assert "lf_line_endings" not in cr_out.transforms
    assert [c.name for c in lf_kids] == [c.name for c in cr_kids] == ["figures.pdf"]
    assert child_bytes(lf_kids[0]) == child_bytes(cr_kids[0]) == PAYLOAD
    assert lf_out.children_expected == 1
    meta = lf_out.metadata
    assert meta["received"] == ["from a.example.org by b.example.org; Tue, 21 Feb 2017 09:55:10 +0300",
                                "from c.example.org\tby a.example.org; Tue, 21 Feb 2017 09:55:09 +0300"]
    assert meta["headers"][0] == ["From", '"Alice Example" <Alice@Example.ORG>']
    assert [h[0] for h in meta["headers"]].count("Received") == 2
    assert meta["mime_structure"] == "multipart/mixed(text/plain,application/pdf)"
    assert lf_kids[0].metadata["content_type"] == "application/pdf"
    assert lf_kids[0].metadata["disposition"] == "attachment"
    assert lf_kids[0].metadata["filename"] == "figures.pdf"
    json.dumps(meta)


def test_alternative_prefers_plain_and_html_rendering_is_not_an_attachment():
    msg = b"""From: a@example.org
Subject: alt
Content-Type: multipart/alternative; boundary=b1

--b1
Content-Type: text/plain; charset=us-ascii

Plain version
--b1
Content-Type: text/html; charset=us-ascii

<p>HTML <b>version</b></p>
--b1--
"""
    out, kids, err = read(msg)
    assert err is None
    assert out.text == "Plain version"
    assert kids == []
    assert out.children_expected == 0
    assert out.metadata["alternative_bodies"] == ["text/html"]


def test_html_body_is_converted_with_html_parser():
    msg = b"""From: a@example.org
Subject: html
Content-Type: text/html; charset=utf-8

<html><head><style>p {color: red}</style><script>var secret = 1;</script></head>
<body><p>Fish &amp; chips&nbsp;for <b>two</b></p><div>caf\xc3\xa9<br>line two</div></body></html>
"""
    out, kids, err = read(msg)
    assert err is None and kids == []
    assert out.text == "Fish & chips for two\ncaf\xe9\nline two"


def test_nested_multipart_tree():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    msg = f"""From: a@example.org
Subject: nested
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain

first part
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html

<p>first <img src="cid:img1"></p>
--rel
Content-Type: image/png
Content-ID: <img1>
Content-Transfer-Encoding: base64

{base64.b64encode(png).decode()}
--rel--

--alt--

--outer
Content-Type: text/plain

second part
--outer
Content-Type: application/octet-stream; name=data.bin
Content-Transfer-Encoding: base64

AAECAw==
--outer--
""".encode()
    out, kids, err = read(msg)
    assert err is None
    assert out.text == "first part\nsecond part"
    assert out.metadata["mime_structure"] == ("multipart/mixed(multipart/alternative(text/plain,multipart/related("
                                              "text/html,image/png)),text/plain,application/octet-stream)")
    assert [c.name for c in kids] == ["part-2", "part-3", "data.bin"]
    assert kids[1].metadata["content_id"] == "<img1>"
    assert child_bytes(kids[1]) == png
    assert child_bytes(kids[2]) == b"\x00\x01\x02\x03"
    assert out.children_expected == 3


def test_single_part_attachment_message_and_digest():
    single = b"From: a@example.org\nSubject: s\nContent-Type: application/pdf\n" \
             b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(PAYLOAD)
    out, kids, err = read(single)
    assert err is None and out.text is None
    assert [c.name for c in kids] == ["part-1"] and child_bytes(kids[0]) == PAYLOAD
    digest = b"""From: list@example.org
Subject: digest
Content-Type: multipart/digest; boundary=d

--d

From: one@example.org
Subject: one

first
--d

From: two@example.org
Subject: two

second
--d--
"""
    out, kids, err = read(digest)
    assert err is None
    assert [c.kind for c in kids] == ["email", "email"]
    assert child_bytes(kids[1]) == b"From: two@example.org\nSubject: two\n\nsecond"


def test_missing_close_delimiter_and_headerless_part():
    msg = b"""From: a@example.org
Subject: open
Content-Type: multipart/mixed; boundary=open

--open
Content-Type: text/plain

kept text
--open
no headers here, no blank line
"""
    out, kids, err = read(msg)
    assert err is None
    assert out.text == "kept text\nno headers here, no blank line\n"
    assert any("no closing delimiter" in d for d in out.metadata["mime_defects"])


# ------------------------------------------------------------ attachments

def test_base64_and_quoted_printable_attachments_exact_bytes(tmp_path):
    rng = random.Random(7)
    blob = rng.randbytes(50_000)
    text = ("caf\u00e9 = 3 + 4 \t\n" + "x" * 200 + "  \n" + "fin=").encode("utf-8") + bytes(range(256))
    qp = binascii.b2a_qp(text, istext=False).decode("ascii")
    msg = f"""From: a@example.org
Subject: bytes
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

body
--b
Content-Type: application/octet-stream; name="blob.bin"
Content-Transfer-Encoding: base64

{base64.encodebytes(blob).decode()}
--b
Content-Type: application/octet-stream; name="qp.bin"
Content-Transfer-Encoding: quoted-printable

{qp}
--b
Content-Type: application/octet-stream; name="two-blocks.bin"
Content-Transfer-Encoding: base64

QQ==
QkM=
--b--
"""
    for variant, data in (("lf", msg.encode()), ("crlf", crlf(msg))):
        recs = {r.path: r for r in ingest(tmp_path / variant, "m.eml", data)}
        assert recs["m.eml/blob.bin"].sha256 == sha(blob)
        assert recs["m.eml/blob.bin"].kind == "attachment"
        assert recs["m.eml/two-blocks.bin"].sha256 == sha(b"ABC")
        assert recs["m.eml/qp.bin"].sha256 == sha(text)  # soft breaks go, whatever the line ending
        top = recs["m.eml"]
        assert (top.error, top.children_expected, top.children_emitted) == (None, 3, 3)


def test_corrupt_transfer_encoding_yields_an_error_child(tmp_path):
    msg = b"""From: a@example.org
Subject: corrupt
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream; name=bad.bin
Content-Transfer-Encoding: base64

QUJDR
--b
Content-Type: application/octet-stream; name=good.bin
Content-Transfer-Encoding: base64

QUJD
--b--
"""
    recs = {r.path: r for r in ingest(tmp_path, "c.eml", msg)}
    bad = recs["c.eml/bad.bin"]
    assert bad.error_reason == "corrupt" and bad.sha256 is None and bad.kind == "attachment"
    assert recs["c.eml/good.bin"].sha256 == sha(b"ABC")
    top = recs["c.eml"]
    assert (top.children_expected, top.children_emitted, top.children_failed) == (2, 1, 1)
    assert top.error is None


INNER = (b"From: Inner <inner@example.org>\r\nSubject: inner message\r\n"
         b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org;\r\n  b=abc\r\n\r\n"
         b"Body with trailing spaces   \r\n\r\nand blank lines\r\n\r\n")


def test_message_rfc822_child_is_byte_identical(tmp_path):
    outer = (b"From: outer@example.org\r\nSubject: outer\r\n"
             b"Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
             b"--o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
             b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"\r\n"
             b"--o\r\nContent-Type: message/rfc822; name=\"enc.eml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(INNER).replace(b"\n", b"\r\n") + b"--o--\r\n")
    recs = {r.path: r for r in ingest(tmp_path, "outer.eml", outer)}
    plain, enc = recs["outer.eml/part-2"], recs["outer.eml/enc.eml"]
    for rec in (plain, enc):
        assert rec.kind == "email"
        assert rec.raw == INNER
        assert rec.sha256 == sha(INNER)
        assert rec.email.subject == "inner message"
        assert rec.email.from_addr == "inner@example.org"
    assert recs["outer.eml"].children_emitted == 2


def test_eml_in_email_in_email_three_levels(tmp_path):
    innermost = (b"From: c@example.org\nSubject: level three\nContent-Type: multipart/mixed; boundary=c\n\n"
                 b"--c\nContent-Type: text/plain\n\nthird body\n"
                 b"--c\nContent-Type: text/plain; name=note.txt\nContent-Disposition: attachment; filename=note.txt\n\n"
                 b"deepest note\n--c--\n")
    middle = (b"From: b@example.org\nSubject: level two\nContent-Type: multipart/mixed; boundary=b\n\n"
              b"--b\nContent-Type: text/plain\n\nsecond body\n"
              b"--b\nContent-Type: application/octet-stream; name=\"forward.eml\"\n"
              b"Content-Disposition: attachment; filename=\"forward.eml\"\nContent-Transfer-Encoding: base64\n\n"
              + base64.encodebytes(innermost) + b"--b--\n")
    outer = (b"From: a@example.org\nSubject: level one\nContent-Type: multipart/mixed; boundary=a\n\n"
             b"--a\nContent-Type: text/plain\n\nfirst body\n"
             b"--a\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n" + middle + b"\n--a--\n")
    recs = ingest(tmp_path, "one.eml", outer)
    by = {r.path: r for r in recs}
    assert list(by) == ["one.eml/part-2/forward.eml/note.txt", "one.eml/part-2/forward.eml",
                        "one.eml/part-2", "one.eml"]
    assert [by[p].depth for p in by] == [3, 2, 1, 0]
    assert [r.kind for r in recs] == ["attachment", "email", "email", "email"]
    assert by["one.eml"].email.subject == "level one"
    assert by["one.eml/part-2"].email.subject == "level two"
    assert by["one.eml/part-2/forward.eml"].email.subject == "level three"
    assert by["one.eml/part-2/forward.eml"].sha256 == sha(innermost)
    assert by["one.eml/part-2/forward.eml"].text == "third body"
    assert by["one.eml/part-2/forward.eml/note.txt"].sha256 == sha(b"deepest note")
    assert all(r.error is None for r in recs)


def test_filenames_are_sanitised_and_deduplicated(tmp_path):
    names = ['"../../x"', '"..\\\\..\\\\evil.exe"', '"/etc/passwd"', '"a.txt"', '"A.txt"', '"a.txt"',
             "*=utf-8''R%C3%A9sum%C3%A9.pdf", '"=?utf-8?B?0L7RgtGH0LXRgi5kb2N4?="', '"nul\x00l.txt"', '".."']
    parts = "".join(f"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
                    f"filename{'' if n.startswith('*') else '='}{n}\n\nfile {i}\n" for i, n in enumerate(names))
    msg = f"From: a@example.org\nSubject: names\nContent-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n"
    out, kids, err = read(msg.encode())
    assert err is None
    assert [c.name for c in kids] == ["x", "evil.exe", "passwd", "a.txt", "A~2.txt", "a~3.txt",
                                      "R\u00e9sum\u00e9.pdf", "\u043e\u0442\u0447\u0435\u0442.docx",
                                      "null.txt", "part-10"]
    assert kids[0].metadata["filename"] == "../../x"
    assert [child_bytes(c) for c in kids[:2]] == [b"file 0", b"file 1"]
    recs = ingest(tmp_path, "names.eml", msg.encode())
    assert "names.eml/x" in {r.path for r in recs}
    assert not any(".." in r.path for r in recs)
    assert safe_name("C:\\Users\\me\\report.pdf") == "report.pdf"


# ------------------------------------------------------------------ headers

@pytest.mark.parametrize("raw, expected", [
    (b"=?utf-8?B?0J/RgNC40LLQtdGCLCDQvNC40YAh?=", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!"),
    (b"=?ISO-8859-1?Q?Caf=E9_cr=E8me?= au lait", "Caf\u00e9 cr\u00e8me au lait"),
    (b"=?x-no-such-charset?Q?na=C3=AFve?=", "na\u00efve"),
    (b"=?x-no-such-charset?Q?caf=E9?=", "caf\ufffd"),
    (b"=?utf-8?B?5pel5pys?= =?utf-8?B?6Kqe?=", "\u65e5\u672c\u8a9e"),  # whitespace between words dropped
    (b"=?utf-8?B?5pel?= =?utf-8?B?5pys6Kqe?=", "\u65e5\u672c\u8a9e"),
    (b"=?utf-8?B?5pc=?= =?utf-8?B?peacrA==?=", "\u65e5\u672c"),  # one character split over two words
    (b"=?utf-8?B?QUJDR?=", "ABC\ufffd"),  # broken base64
    (b"=?utf-8*en?Q?hello?=", "hello"),  # RFC 2231 language tag
    (b"=?rot13?Q?uryyb?=", "uryyb"),  # not a text codec: ignored
    (b"plain \xe9t\xe9", "plain \u00e9t\u00e9"),  # raw 8-bit, not UTF-8: Windows-1252
    (b"plain \xc3\xa9t\xc3\xa9", "plain \u00e9t\u00e9"),  # raw UTF-8
    (b"folded\r\n  line", "folded  line"),
    (b"=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
])
def test_rfc2047_decoding_never_raises(raw, expected):
    assert decode_header_value(raw) == expected


def test_rfc2047_subjects_in_messages():
    for raw, expected in ((b"=?utf-8?B?w6lsw6h2ZQ==?=", "\u00e9l\u00e8ve"),
                          (b"=?iso-8859-1?q?=C9l=E8ve?=", "\u00c9l\u00e8ve"),
                          (b"=?x-unknown?B?w6lsw6h2ZQ==?=", "\u00e9l\u00e8ve")):
        out, _, err = read(b"From: a@example.org\nSubject: " + raw + b"\n\nbody\n")
        assert err is None and out.email.subject == expected


def test_malformed_headers():
    msg = (b"From: \"Ren\xe9e\" <RENEE@Example.org>\n"
           b"this line has no colon\n"
           b"  continuation of a junk line\n"
           b"Subject: still parsed\x00after nul\n"
           b"X-Garbage: \xff\xfe\x80\x81\n"
           b"Bad Header Name: value\n"
           b"Date: the day after tomorrow\n"
           b"To: undisclosed-recipients:;\n"
           b"\nbody \xe9\n")
    out, kids, err = read(msg)
    assert err is None and kids == []
    e = out.email
    assert e.from_ == '"Ren\u00e9e" <RENEE@Example.org>'
    assert e.from_addr == "renee@example.org"
    assert e.subject == "still parsed\ufffdafter nul"
    assert e.date is None and e.date_raw == "the day after tomorrow"
    assert e.to == []
    assert out.text == "body \u00e9\n"
    names = [h[0] for h in out.metadata["headers"]]
    assert names == ["From", "Subject", "X-Garbage", "Date", "To"]
    defects = out.metadata["mime_defects"]
    assert any("this line has no colon" in d for d in defects)
    assert any("Bad Header Name" in d for d in defects)
    json.dumps(out.metadata, ensure_ascii=False).encode("utf-8")  # no lone surrogates anywhere


def test_duplicate_headers_take_the_first_and_are_recorded():
    msg = (b"From: first@example.org\nFrom: second@example.org\nSubject: one\nSubject: two\n"
           b"Date: Mon, 1 Jan 2001 10:00:00 -0500\nDate: Tue, 2 Jan 2001 10:00:00 +0000\n\nbody\n")
    out, _, _ = read(msg)
    assert out.email.from_addr == "first@example.org"
    assert out.email.subject == "one"
    assert out.email.date == "2001-01-01T10:00:00-05:00"
    dups = out.metadata["duplicate_headers"]
    assert dups["from"] == ["first@example.org", "second@example.org"]
    assert dups["subject"] == ["one", "two"]
    assert len(dups["date"]) == 2
    assert "to" not in dups


def test_body_charsets():
    base = b"From: a@example.org\nSubject: cs\nContent-Type: text/plain; charset=%s\n\n"
    privet = "\u043f\u0440\u0438\u0432\u0435\u0442"
    cases = [(b"x-bogus", "na\u00efve".encode("utf-8"), "na\u00efve"),
             (b"x-bogus", "na\u00efve \u20ac".encode("cp1252"), "na\u00efve \u20ac"),
             (b"koi8-r", privet.encode("koi8-r"), privet),
             (b"us-ascii", "caf\u00e9".encode("utf-8"), "caf\u00e9"),
             (b"utf-8", b"bad \xff byte", "bad \ufffd byte")]
    for charset, body, expected in cases:
        out, _, err = read(base % charset + body)
        assert err is None and out.text == expected, charset


# ---------------------------------------------------------------- hostile trees

def deep_message(levels: int) -> bytes:
    head = "From: deep@example.org\nSubject: very deep\nDate: Mon, 1 Jan 2001 10:00:00 +0000\n"
    opens = "".join(f"Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n" for i in range(levels))
    closes = "".join(f"\n--b{i}--\n" for i in reversed(range(levels)))
    return (head + opens + "Content-Type: text/plain\n\nhello from the bottom\n" + closes).encode()


def test_ten_thousand_levels_deep_is_a_quick_recorded_error(tmp_path):
    data = deep_message(10_000)
    t0 = time.monotonic()
    out, kids, err = read(data)
    assert time.monotonic() - t0 < 5
    assert err is not None and err.reason == "too_deep"
    assert out.email.subject == "very deep" and out.email.date == "2001-01-01T10:00:00+00:00"
    assert kids == []
    t0 = time.monotonic()
    recs = ingest(tmp_path, "deep.eml", data)
    assert time.monotonic() - t0 < 10
    top = recs[-1]
    assert top.error_reason == "too_deep" and top.kind == "email"
    assert top.email.subject == "very deep"
    assert top.metadata["mime_structure"].startswith("multipart/mixed(multipart/mixed(")


def test_too_many_parts_is_recorded_after_headers():
    parts = "".join(f"--b\nContent-Type: application/octet-stream; name=f{i}.bin\n\n{i}\n" for i in range(100))
    msg = f"From: a@example.org\nSubject: many\nContent-Type: multipart/mixed; boundary=b\n\n{parts}--b--\n"
    out, kids, err = read(msg.encode(), Limits(max_mime_parts=20))
    assert err is not None and err.reason == "too_many_parts"
    assert out.email.subject == "many"
    assert len(kids) == 19 and kids[0].name == "f0.bin"
    out, kids, err = read(msg.encode())
    assert err is None and len(kids) == 100


# ---------------------------------------------------------------------- emlx

PLIST = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>date-received</key>
\t<integer>1581000000</integer>
\t<key>flags</key>
\t<integer>8623489089</integer>
\t<key>remote-id</key>
\t<string>789</string>
</dict>
</plist>
"""


def test_emlx_message_plist_and_attachment(tmp_path):
    message = MIXED.encode()
    data = f"{len(message)}       \n".encode() + message + PLIST
    recs = {r.path: r for r in ingest(tmp_path, "1234.emlx", data)}
    top = recs["1234.emlx"]
    assert top.mime == EMLX and top.kind == "email" and top.error is None
    assert top.email.subject == "Quarterly figures"
    assert top.text == "Hello world, see the figures."
    assert top.metadata["emlx_flags"]["read"] is True
    assert top.metadata["emlx_flags"]["draft"] is True
    assert top.metadata["emlx_dates"]["date-received"] == "2020-02-06T14:40:00+00:00"
    assert top.metadata["emlx"]["remote-id"] == "789"
    assert recs["1234.emlx/figures.pdf"].sha256 == sha(PAYLOAD)
    assert top.children_expected == 1 and top.children_emitted == 1


def test_emlx_truncated_and_bad_plist():
    message = b"From: a@example.org\nSubject: short\n\nbody\n"
    out, _, err = read(b"500\n" + message, reader=EmlxReader())
    assert err is not None and err.reason == "truncated"
    assert out.email.subject == "short"
    out, _, err = read(f"{len(message)}\n".encode() + message + b"<?xml version='1.0'?><plist><dict><key>",
                       reader=EmlxReader())
    assert err is None and "emlx_plist_error" in out.metadata
    entity = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><plist><string>&a;</string></plist>'
    out, _, err = read(f"{len(message)}\n".encode() + message + entity, reader=EmlxReader())
    assert err is None and "emlx_plist_error" in out.metadata


# -------------------------------------------------------------------- corpus

CORPUS_COUNTS = {  # name: (children of the top item, text it must hold)
    "email_attached_alternative.eml": (1, "contains the attachment"),
    "email_attached_inline.eml": (1, "contains the attachment"),
    "email_attached_plaintext.eml": (1, "contains the attachment"),
    "email_base64.eml": (0, "Base64 email payload"),
    "email_encode_markup.eml": (0, "<strong>HTML markup</strong>"),
    "email_multipart_alternative.eml": (0, "This is a **multipart/alternative** message."),
    "email_multipart_mixed.eml": (0, "This is the fourth part (HTML)"),
    "email_multipart_nested.eml": (0, "This is the second part"),
    "email_strip_markup.eml": (0, "This is the body of an HTML message."),
    "testThunderbirdEml.eml": (0, "Dear Vladimir"),
    "plaintext.emlx": (0, "You're welcome. :)"),
    "richtext.emlx": (0, "> Thank you!"),
    "plan.mbox": (1, None),
}


def test_shared_corpus_emails_ingest_cleanly(tmp_path):
    root = shared_corpus("ingest")
    names = sorted(p.name for p in root.iterdir() if p.suffix in (".eml", ".emlx")) + ["plan.mbox"]
    assert set(CORPUS_COUNTS) <= set(names)
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp")
    for name in names:
        recs = list(engine.ingest_file(root, name))
        assert [r.error for r in recs] == [None] * len(recs), name
        top = recs[-1]
        assert top.mime in (EML, EMLX, "application/mbox"), name
        if name in CORPUS_COUNTS:
            count, text = CORPUS_COUNTS[name]
            assert (top.children_expected, top.children_emitted) == (count, count), name
            if text is not None:
                assert text in top.text, name
    recs = list(engine.ingest_file(root, "email_attached_alternative.eml"))
    inner = recs[0]
    assert inner.kind == "email" and inner.email.subject == "Multipart mixed"
    assert inner.raw.startswith(b"Content-Type: multipart/mixed;") and inner.raw.endswith(b"==--\n")
    recs = list(engine.ingest_file(root, "plan.mbox"))
    msg = next(r for r in recs if r.path == "plan.mbox/1")
    assert msg.email.from_addr == "dzmitry.lahoda@gmail.com"
    assert msg.email.cc == ["tiamat.mesopotamian@yandex.ru"]
    assert msg.email.date == "2017-02-21T09:55:09+03:00"
    assert len(msg.email.references) == 2
    thunder = list(engine.ingest_file(root, "testThunderbirdEml.eml"))[-1]
    assert thunder.email.from_addr == "vladimir_l@example.com"
    assert len(thunder.metadata["received"]) == 5
