"""PDF reader: metadata, revisions by the xref chain, text, encryption, and the real pdf.js corpus."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Dictionary, Name

from conftest import shared_corpus
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.pdf import PdfReader
from leaksift.ingest.pdf.objects import pdf_date_iso
from leaksift.ingest.pdf.revisions import follow_chain
from leaksift.ingest.pdf.syntax import parse_dict
from leaksift.ingest.registry import default_registry

XMP = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmp:CreatorTool="Writer">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Budget 2017 (XMP)</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>Alice Example</rdf:li></rdf:Seq></dc:creator>
   <xmp:CreateDate>2017-05-04T12:00:00+02:00</xmp:CreateDate>
   <pdf:Producer>LeakSift Test Producer</pdf:Producer>
   <xmpMM:History><rdf:Seq>
    <rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action>
     <stEvt:when>2017-05-04T12:30:00+02:00</stEvt:when><stEvt:softwareAgent>Acrobat 9</stEvt:softwareAgent></rdf:li>
   </rdf:Seq></xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


# --- building PDFs --------------------------------------------------------------------------------

def make_pdf(path: Path, pages: int = 1, text: str = "Hello leak", xmp: bytes | None = XMP, **save: object) -> Path:
    """A small PDF with Info, XMP and page text in a standard Type1 font."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    for i in range(pages):
        content = pdf.make_stream(f"BT /F1 24 Tf 72 720 Td ({text} {i + 1}) Tj ET".encode())
        page = Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792], Contents=content,
                          Resources=Dictionary(Font=Dictionary(F1=font)))
        pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    pdf.trailer.Info = pdf.make_indirect(Dictionary(
        Title="Budget 2017", Author="Alice Example", Producer="LeakSift Test Producer", Creator="Writer",
        CreationDate="D:20170504120000+02'00'", ModDate="D:20170504123000Z"))
    if xmp is not None:
        pdf.Root.Metadata = pdf.make_stream(xmp, Type=Name.Metadata, Subtype=Name.XML)
    pdf.save(path, **save)
    return path


def last_startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def facts(path: Path) -> tuple[int, tuple[int, int], str]:
    with pikepdf.open(path) as pdf:
        return int(pdf.trailer.Size), pdf.Root.objgen, bytes(pdf.trailer.ID[0]).hex()


def append_update(path: Path, objects: dict[int, str], info: int | None = None, prev: int | str | None = None,
                  extra: str = "", raw_objects: dict[int, bytes] | None = None,
                  table: bool = True) -> dict[str, int]:
    """Append an incremental update by hand: new objects, a classic xref table, a trailer with /Prev.

    prev: None for the file's current startxref, an offset, or "self" for a section pointing at itself.
    Returns the offsets written: {"xref": ..., object number: ...}.
    """
    data = path.read_bytes()
    size, root, id0 = facts(path)
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets: dict[int, int] = {}
    for num, body in objects.items():
        offsets[num] = len(out)
        out += f"{num} 0 obj\n{body}\nendobj\n".encode("latin-1")
    for num, body_bytes in (raw_objects or {}).items():
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + body_bytes + b"\nendobj\n"
    xref = len(out)
    prev_value = last_startxref(data) if prev is None else xref if prev == "self" else int(prev)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for num, off in sorted(offsets.items()):
        if table:
            out += f"{num} 1\n{off:010d} 00000 n \n".encode()
    new_size = max([size, *[n + 1 for n in offsets]])
    info_s = f" /Info {info} 0 R" if info else ""
    out += (f"trailer\n<< /Size {new_size} /Root {root[0]} {root[1]} R{info_s} /Prev {prev_value:010d}"
            f" /ID [<{id0}><{'ab' * 16}>]{extra} >>\nstartxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(bytes(out))
    return {"xref": xref, **offsets}


def ingest(path: Path, limits: Limits | None = None):
    recs = list(Engine(default_registry(), limits or Limits(), tmp_dir=path.parent / "tmp")
                .ingest_file(path.parent, path.name))
    return recs[-1]


# --- small parsers --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, iso", [
    ("D:20170504120000+02'00'", "2017-05-04T12:00:00+02:00"),
    ("D:20170504120000-05'30", "2017-05-04T12:00:00-05:30"),
    ("D:20170504120000Z", "2017-05-04T12:00:00Z"),
    ("D:20170504120000Z00'00'", "2017-05-04T12:00:00Z"),
    ("D:20170504120000", "2017-05-04T12:00:00"),
    ("D:201705", "2017-05-01T00:00:00"),
    ("20170504120000+0200", "2017-05-04T12:00:00+02:00"),
    ("D:20171304120000Z", None),
    ("Thu May 4 2017", None),
])
def test_pdf_dates_keep_the_offset_as_written(raw: str, iso: str | None) -> None:
    assert pdf_date_iso(raw) == iso


def test_dictionary_parser_without_recursion() -> None:
    buf = b"<< /Size 12 /Root 1 0 R /ID [<0A0b> (a\\(b\\)c\\101)] /Nested << /A [1 [2 3] /N#20x] >> /F 1.5 /T true >>"
    d, end = parse_dict(buf, 0)
    assert end == len(buf)
    assert d["/Size"] == 12 and str(d["/Root"]) == "1 0 R"
    assert d["/ID"] == [b"\x0a\x0b", b"a(b)cA"]
    assert d["/Nested"] == {"/A": [1, [2, 3], "/N x"]}
    assert d["/F"] == 1.5 and d["/T"] is True
    with pytest.raises(ValueError):
        parse_dict(b"<< /A " + b"[" * 1000, 0)  # nesting cap, not a RecursionError


# --- structure and metadata ------------------------------------------------------------------------

def test_info_xmp_text_and_one_revision(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "budget.pdf", pages=2)
    rec = ingest(path)
    md = rec.metadata
    assert rec.error is None and rec.mime == "application/pdf" and rec.kind == "document"
    assert md["info"]["Title"] == "Budget 2017"
    assert md["info"]["CreationDate"] == "D:20170504120000+02'00'"  # raw, as written
    assert md["info_dates"]["CreationDate"] == "2017-05-04T12:00:00+02:00"
    assert md["created"] == "2017-05-04T12:00:00+02:00" and md["modified"] == "2017-05-04T12:30:00Z"
    assert md["producer"] == "LeakSift Test Producer" and md["creator"] == "Writer"
    assert md["xmp"]["dc:title"] == "Budget 2017 (XMP)"
    assert md["xmp"]["dc:creator"] == ["Alice Example"]
    assert md["xmp"]["xmp:CreatorTool"] == "Writer"
    # pikepdf flattens structured properties; the defusedxml reading fills them in
    assert md["xmp"]["xmpMM:History"] == [{"stEvt:action": "saved", "stEvt:when": "2017-05-04T12:30:00+02:00",
                                           "stEvt:softwareAgent": "Acrobat 9"}]
    assert md["pages"] == 2 and md["fonts"] == ["Helvetica"]
    assert md["encrypted"] is False and md["has_javascript"] is False
    assert "Hello leak 1" in rec.text and "Hello leak 2" in rec.text
    assert md["revisions"] == 1
    (sec,) = md["xref_sections"]
    with pikepdf.open(path) as pdf:
        assert sec["id"][0] == bytes(pdf.trailer.ID[0]).hex()
        assert sec["info"] == f"{pdf.trailer.Info.objgen[0]} 0 R"
    assert sec["kind"] == "table" and sec["end"] == sec["size"] == path.stat().st_size
    assert sec["offset"] == last_startxref(path.read_bytes())


def test_incremental_updates_are_revisions(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "updated.pdf")
    size0 = path.stat().st_size
    n, _, _ = facts(path)
    first = append_update(path, {n: "<< /Title (Budget 2017 - revised) /Producer (Editor 2) "
                                     "/ModDate (D:20170601090000+02'00') >>"}, info=n)
    second = append_update(path, {n + 1: "<< /Title (Budget 2017 - final) /Producer (Editor 3) >>"}, info=n + 1)
    md = ingest(path).metadata
    assert md["revisions"] == 3
    secs = md["xref_sections"]
    assert [s["offset"] for s in secs] == [last_startxref(path.read_bytes()[:size0]), first["xref"],
                                           second["xref"]]
    assert [s["kind"] for s in secs] == ["table"] * 3
    assert secs[0]["end"] == size0 and secs[-1]["end"] == path.stat().st_size
    assert sum(s["size"] for s in secs) == path.stat().st_size
    assert secs[1]["prev"] == secs[0]["offset"] and secs[2]["prev"] == secs[1]["offset"]
    assert [s["info"] for s in secs[1:]] == [f"{n} 0 R", f"{n + 1} 0 R"]
    assert secs[1]["subsections"] == [[0, 1], [n, 1]]
    assert secs[2]["id"][1] == "ab" * 16
    assert md["info"]["Title"] == "Budget 2017 - final"  # what a viewer shows: the newest revision


def test_xref_stream_then_classic_update(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "objstm.pdf", object_stream_mode=pikepdf.ObjectStreamMode.generate)
    md = ingest(path).metadata
    assert md["revisions"] == 1 and md["xref_sections"][0]["kind"] == "stream"
    n, _, _ = facts(path)
    append_update(path, {n: "<< /Title (Changed) >>"}, info=n)
    md = ingest(path).metadata
    assert md["revisions"] == 2
    assert [s["kind"] for s in md["xref_sections"]] == ["stream", "table"]
    assert md["info"]["Title"] == "Changed"


def test_hybrid_update_is_one_revision_with_its_xref_stream(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "hybrid.pdf")
    n, _, _ = facts(path)
    data = path.read_bytes()
    # the update's objects: an Info dict listed by an xref stream, referenced from the trailer's /XRefStm
    info_off = len(data)
    body = f"{n} 0 obj\n<< /Title (Hybrid) >>\nendobj\n".encode()
    stm_off = info_off + len(body)
    entry = b"\x01" + info_off.to_bytes(4, "big") + b"\x00\x00"
    stream = (f"{n + 1} 0 obj\n<< /Type /XRef /W [1 4 2] /Index [{n} 1] /Size {n + 2} /Length {len(entry)} >>\n"
              f"stream\n").encode() + entry + b"\nendstream\nendobj\n"
    path.write_bytes(data + body + stream)
    append_update(path, {}, info=n, extra=f" /XRefStm {stm_off}", prev=last_startxref(data))
    md = ingest(path).metadata
    assert md["revisions"] == 2
    assert md["xref_sections"][1]["xref_stm"] == stm_off
    assert "structure_error" not in md and md["info"]["Title"] == "Hybrid"


def test_word_style_empty_hybrid_tail_is_not_a_revision(tmp_path: Path) -> None:
    """Word 2007-2010 end every PDF with an empty table whose trailer adds /XRefStm into the body."""
    path = make_pdf(tmp_path / "word.pdf", object_stream_mode=pikepdf.ObjectStreamMode.generate)
    data = path.read_bytes()
    stm = last_startxref(data)  # the body's own xref stream
    append_update(path, {}, extra=f" /XRefStm {stm}", prev=stm)
    md = ingest(path).metadata
    assert md["revisions"] == 1
    (sec,) = md["xref_sections"]
    assert sec["hybrid_tail"] == {"offset": last_startxref(path.read_bytes()), "xref_stm": stm}
    assert sec["end"] == path.stat().st_size


def test_linearized_file_is_one_revision_until_updated(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "lin.pdf", pages=3, linearize=True)
    md = ingest(path).metadata
    assert md["linearized"] is True
    assert md["revisions"] == 1
    (sec,) = md["xref_sections"]
    assert sec["offset"] < sec["linearized_main"]["offset"]  # first-page table, then the main one
    assert sec["end"] == path.stat().st_size
    assert md["linearization"]["L"] == path.stat().st_size and md["linearization"]["length_matches"] is True
    size0 = path.stat().st_size
    n, _, _ = facts(path)
    append_update(path, {n: "<< /Title (After linearizing) >>"}, info=n)
    md = ingest(path).metadata
    assert md["revisions"] == 2
    assert md["xref_sections"][0]["end"] == size0
    assert md["linearization"]["length_matches"] is False
    assert md["info"]["Title"] == "After linearizing"


def test_prev_loops_are_detected(tmp_path: Path) -> None:
    selfloop = make_pdf(tmp_path / "selfloop.pdf")
    append_update(selfloop, {}, prev="self")
    md = ingest(selfloop).metadata
    assert "loop in /Prev" in md["revisions_error"] and md["revisions"] == 1

    cycle = make_pdf(tmp_path / "cycle.pdf")
    original = last_startxref(cycle.read_bytes())
    a = append_update(cycle, {})
    b = append_update(cycle, {})
    data = cycle.read_bytes()
    data = data.replace(f"/Prev {original:010d}".encode(), f"/Prev {b['xref']:010d}".encode(), 1)
    cycle.write_bytes(data)
    md = ingest(cycle).metadata
    assert "loop in /Prev" in md["revisions_error"]
    assert [s["offset"] for s in md["xref_sections"]] == [a["xref"], b["xref"]]


def test_prev_out_of_range_keeps_what_was_followed(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "badprev.pdf")
    upd = append_update(path, {}, prev=10 ** 9)
    rec = ingest(path)
    assert rec.error is None  # qpdf repairs it; the chain says what is wrong
    assert "outside the file" in rec.metadata["revisions_error"]
    assert rec.metadata["revisions"] == 1 and rec.metadata["xref_sections"][0]["offset"] == upd["xref"]


def test_truncated_pdf_is_recorded_not_crashed(tmp_path: Path) -> None:
    full = make_pdf(tmp_path / "full.pdf", pages=3)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    rec = ingest(cut)
    assert rec.error_reason in (None, "truncated", "corrupt")
    assert rec.metadata["revisions_error"] == "no startxref at the end of the file"
    assert "revisions" not in rec.metadata


def test_encrypted_pdf_needs_password(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "plain.pdf")
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(src) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="x", owner="y"))
    rec = ingest(locked)
    assert rec.error_reason == "encrypted"
    assert rec.metadata["encrypted"] is True and rec.metadata["needs_password"] is True
    assert rec.metadata["revisions"] == 1 and rec.metadata["xref_sections"][0]["encrypt"] is True
    assert rec.text is None


def test_empty_user_password_is_read(tmp_path: Path) -> None:
    src = make_pdf(tmp_path / "plain.pdf")
    open_pdf = tmp_path / "open.pdf"
    with pikepdf.open(src) as pdf:
        pdf.save(open_pdf, encryption=pikepdf.Encryption(user="", owner="owner-secret"))
    rec = ingest(open_pdf)
    assert rec.error is None
    md = rec.metadata
    assert md["encrypted"] is True and md["encryption"]["R"] == 6 and md["encryption"]["bits"] == 256
    assert md["info"]["Title"] == "Budget 2017" and md["xmp"]["dc:title"] == "Budget 2017 (XMP)"
    assert "Hello leak 1" in rec.text


def test_text_caps_pages_and_chars(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "long.pdf", pages=5, text="x" * 40)
    rec = ingest(path, Limits(max_pdf_text_pages=2))
    assert rec.metadata["text_truncated"] is True and rec.metadata["pages"] == 5
    assert "x 2" in rec.text and "x 3" not in rec.text
    rec = ingest(path, Limits(max_text_chars=50))
    assert len(rec.text) == 50


def test_forms_signatures_javascript_attachments(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "forms.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        sig_v = pdf.make_indirect(Dictionary(Type=Name.Sig, Filter=Name("/Adobe.PPKLite"),
                                             SubFilter=Name("/adbe.pkcs7.detached"), M="D:20170504130000+02'00'",
                                             ByteRange=[0, 10, 20, 30], Name="Alice"))
        sig = pdf.make_indirect(Dictionary(FT=Name.Sig, T="Signature1", V=sig_v, Type=Name.Annot,
                                           Subtype=Name.Widget, Rect=[0, 0, 0, 0]))
        text_field = pdf.make_indirect(Dictionary(FT=Name.Tx, T="amount", V="100", Type=Name.Annot,
                                                  Subtype=Name.Widget, Rect=[0, 0, 10, 10],
                                                  AA=Dictionary(K=Dictionary(S=Name.JavaScript, JS="1"))))
        pdf.Root.AcroForm = Dictionary(Fields=[sig, text_field])
        pdf.pages[0].Annots = pdf.make_indirect([sig, text_field])
        pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS="app.alert(1)")
        pdf.attachments["notes.txt"] = pikepdf.AttachedFileSpec(pdf, b"secret notes", mime_type="text/plain")
        pdf.save(path)
    md = ingest(path).metadata
    assert md["forms"]["fields"] == 2 and md["forms"]["names"] == ["Signature1", "amount"]
    (sig_rec,) = md["signatures"]
    assert sig_rec["field"] == "Signature1" and sig_rec["signed"] is True
    assert sig_rec["subfilter"] == "/adbe.pkcs7.detached" and sig_rec["byterange"] == [0, 10, 20, 30]
    assert sig_rec["m_iso"] == "2017-05-04T13:00:00+02:00"
    assert md["annotations"] == {"Widget": 2}
    assert md["has_javascript"] is True and "<OpenAction>" in md["javascript"]
    assert md["javascript_actions"] >= 1
    assert md["embedded_files"][0]["name"] == "notes.txt" and md["embedded_files"][0]["size"] == 12


def test_chain_reads_small_windows_of_a_big_file(tmp_path: Path) -> None:
    """The revision parser seeks; it never reads the body of a large PDF."""
    path = make_pdf(tmp_path / "big.pdf")
    data = path.read_bytes()
    n, _, _ = facts(path)
    padding = b"%" + b"p" * (40 * 1024 * 1024) + b"\n"  # 40 MB of comment inside the update
    path.write_bytes(data + padding)
    append_update(path, {n: "<< /Title (Big) >>"}, info=n, prev=last_startxref(data))

    class Counting(io.FileIO):
        read_bytes = 0

        def read(self, size: int = -1) -> bytes:
            out = super().read(size)
            Counting.read_bytes += len(out)
            return out

    with Counting(path, "r") as f:
        out = follow_chain(f, path.stat().st_size)
    assert out["revisions"] == 2
    assert Counting.read_bytes < 1024 * 1024


# --- the real corpus -------------------------------------------------------------------------------

MY_MIMES = {"application/pdf", "image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp", "image/bmp",
            "image/heic", "image/jp2", "text/plain", "text/csv", "text/html", "application/xml",
            "application/json", "application/rtf", "text/calendar", "text/vcard", "image/svg+xml"}


def test_whole_corpus_without_parse_errors(tmp_path: Path) -> None:
    """Every file of the pdf and ingest corpora: items or readable errors, never a parse_error of ours."""
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path)
    started = time.monotonic()
    seen = 0
    bad = []
    for folder in (shared_corpus("pdf"), shared_corpus("ingest")):
        for path in sorted(folder.iterdir()):
            for rec in engine.ingest_file(folder, path.name):
                if rec.mime in MY_MIMES:
                    seen += 1
                    if rec.error_reason == "parse_error":
                        bad.append((rec.path, rec.error))
    elapsed = time.monotonic() - started
    print(f"corpus: {seen} items of our types in {elapsed:.1f} s")
    assert not bad
    assert seen >= 240


def corpus_pdf(folder: str, name: str):
    root = shared_corpus(folder)
    return list(Engine(default_registry(), Limits()).ingest_file(root, name))[-1]


def test_corpus_values_checked_by_hand() -> None:
    # four xref streams chained by /Prev (offsets 17448 <- 29245 <- 33775 <- 37821), 4 %%EOF
    rec = corpus_pdf("pdf", "bug1708041.pdf")
    md = rec.metadata
    assert md["revisions"] == 4 and md["pages"] == 6 and md["producer"] == "Adobe Acrobat 25.1.20529"
    assert [s["offset"] for s in md["xref_sections"]] == [17448, 29245, 33775, 37821]
    assert [s["end"] for s in md["xref_sections"]] == [17882, 29649, 34127, 38158]
    assert md["created"] == "2025-07-17T21:28:35+02:00"
    # linearized (/L 10500, first-page xref stream at 116 -> main at 10193), then two updates
    md = corpus_pdf("pdf", "annotation-tx2.pdf").metadata
    assert md["revisions"] == 3 and md["xref_sections"][0]["end"] == md["linearization"]["L"] == 10500
    assert md["xref_sections"][0]["linearized_main"]["offset"] == 10193
    assert md["producer"] == "Acrobat Web Capture 10.0"
    # five %%EOF strings inside embedded files, but one xref section
    md = corpus_pdf("pdf", "bug1937438_af_from_latex.pdf").metadata
    assert md["revisions"] == 1 and md["header_version"] == "2.0" and md["info"]["Author"] == "David"
    # Word 2007: the empty hybrid tail after the first %%EOF belongs to the same save
    md = corpus_pdf("ingest", "udhr_ger.pdf").metadata
    assert md["revisions"] == 1 and md["xref_sections"][0]["hybrid_tail"]["xref_stm"] == 19420
    assert md["pages"] == 6 and md["producer"] == "Microsoft® Office Word 2007"
    # a Canva export re-saved once (a classic update of 4 objects)
    md = corpus_pdf("ingest", "the-dorset-food-menu.pdf").metadata
    assert md["revisions"] == 2 and md["xref_sections"][1]["info"] == "64 0 R" and md["pages"] == 2
    md = corpus_pdf("ingest", "500 pages.pdf").metadata
    assert md["pages"] == 500 and md["producer"] == "PDFsharp 1.50.4000 (www.pdfsharp.com)"
    md = corpus_pdf("pdf", "attachment.pdf").metadata
    assert md["embedded_files"][0]["name"] == "foo.txt" and md["revisions"] == 2
    # startxref says 492, the table is at 544: repaired by qpdf, flagged by us
    md = corpus_pdf("pdf", "helloworld-bad.pdf").metadata
    assert "followed the section found at 544" in md["revisions_error"] and md["revisions"] == 1
    rec = corpus_pdf("ingest", "password-hunter2.pdf")
    assert rec.error_reason == "encrypted" and rec.metadata["revisions"] == 1
    rec = corpus_pdf("ingest", "jbig2.pdf")
    assert rec.error is None and rec.metadata["pages"] == 5


def test_blobs_in_memory_and_spooled_read_alike(tmp_path: Path) -> None:
    """A PDF met inside a container has no path: bytes in memory, or spilled to the case tmp dir."""
    from leaksift.ingest.base import Budget, BytesBlob, Context, FileBlob, Parsed

    path = make_pdf(tmp_path / "member.pdf")
    n, _, _ = facts(path)
    append_update(path, {n: "<< /Title (Member) >>"}, info=n)
    spill = Context(Limits(memory_member_bytes=1024), Parsed(), Budget(10 ** 9), tmp_dir=tmp_path / "spool")
    with open(path, "rb") as f:
        spooled = spill.blob_from_stream(f)
    results = []
    for blob in (FileBlob(path), BytesBlob(path.read_bytes()), spooled):
        ctx = Context(Limits(), Parsed(), Budget(10 ** 9))
        list(PdfReader().read(blob, ctx))
        blob.close()
        md = ctx.out.metadata
        results.append((type(blob).__name__, md["revisions"], md["info"]["Title"], "Hello leak 1" in ctx.out.text))
    assert [r[0] for r in results] == ["FileBlob", "BytesBlob", "SpooledBlob"]
    assert all(r[1:] == (2, "Member", True) for r in results)
