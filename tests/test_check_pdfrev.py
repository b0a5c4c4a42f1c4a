"""PDF revisions and Info/XMP: built forgeries fire, genuine counterparts stay quiet."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pikepdf
from conftest import shared_corpus

from leaksift.checks.base import CheckContext
from leaksift.checks.pdfrev import PdfRevisionCheck, dates_agree, parse_date, word_diff
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry


def content(text: str) -> bytes:
    return f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()


def build_pdf(text: str, info: dict[str, str] | None = None, xmp: dict[str, object] | None = None) -> bytes:
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 612, 792],
                              Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
                              Contents=pdf.make_stream(content(text)))
    pdf.pages.append(pikepdf.Page(page))
    for key, value in (info or {}).items():
        pdf.docinfo[f"/{key}"] = value
    if xmp:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as m:
            for key, value in xmp.items():
                m[key] = value
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.disable,
             static_id=True, deterministic_id=False)
    return buf.getvalue()


def contents_objnum(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return pdf.pages[0].obj.Contents.objgen[0]


def append_update(data: bytes, objects: dict[int, bytes], info: bytes | None = None) -> bytes:
    """An incremental update: new bodies for the given object numbers, an xref section, a trailer with /Prev."""
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    trailer = re.findall(rb"trailer\s*(<<.*?>>)\s*startxref", data, re.S)[-1]
    size = int(re.search(rb"/Size (\d+)", trailer).group(1))
    root = re.search(rb"/Root (\d+ \d+ R)", trailer).group(1)
    info_ref = re.search(rb"/Info (\d+ \d+ R)", trailer)
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets: dict[int, int] = {}
    if info is not None:
        objects = {**objects, size: info}
        info_ref_s = f"{size} 0 R".encode()
        size += 1
    else:
        info_ref_s = info_ref.group(1) if info_ref else None
    for num, body in objects.items():
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n"
    for num in sorted(offsets):
        out += f"{num} 1\n{offsets[num]:010d} 00000 n \n".encode()
    out += b"trailer\n<< /Size " + str(size).encode() + b" /Root " + root
    if info_ref_s:
        out += b" /Info " + info_ref_s
    out += f" /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def stream_obj(raw: bytes) -> bytes:
    return b"<< /Length " + str(len(raw)).encode() + b" >>\nstream\n" + raw + b"\nendstream"


def ingest(tmp_path: Path, name: str, data: bytes):
    root = tmp_path / "dump"
    root.mkdir(exist_ok=True)
    (root / name).write_bytes(data)
    recs = list(Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp").ingest_file(root, name))
    return recs[-1]


def findings(rec):
    check = PdfRevisionCheck()
    assert check.applies(rec)
    return check.run(rec, CheckContext())


INFO = {"Producer": "Microsoft Word 2016", "Creator": "Microsoft Word 2016", "Author": "Anne Martin",
        "CreationDate": "D:20170306100000+01'00'", "ModDate": "D:20170306103000+01'00'"}
XMP = {"pdf:Producer": "Microsoft Word 2016", "xmp:CreatorTool": "Microsoft Word 2016", "dc:creator": ["Anne Martin"],
       "xmp:CreateDate": "2017-03-06T10:00:00+01:00", "xmp:ModifyDate": "2017-03-06T10:30:00+01:00"}


def test_edited_revision_is_found_with_word_diff_and_producer(tmp_path):
    base = build_pdf("Montant du virement 75 000 EUR", INFO, XMP)
    info = (b"<< /Producer (PDF-XChange Editor 7.0) /Author (Anne Martin) "
            b"/CreationDate (D:20170306100000+01'00') /ModDate (D:20170308092302+01'00') >>")
    data = append_update(base, {contents_objnum(base): stream_obj(content("Montant du virement 57 000 EUR"))}, info)
    rec = ingest(tmp_path, "edited.pdf", data)
    revs = rec.metadata["revision_texts"]
    assert [r["revision"] for r in revs] == [1, 2]
    assert "75 000" in revs[0]["text"] and "57 000" in revs[1]["text"]
    assert revs[0]["info"]["Producer"] == "Microsoft Word 2016"
    assert revs[1]["info"]["Producer"] == "PDF-XChange Editor 7.0"
    changed = [f for f in findings(rec) if "changed the visible text" in f.summary]
    assert len(changed) == 1 and changed[0].effect == "weakens"
    ev = changed[0].evidence
    assert ev["producer"] == "PDF-XChange Editor 7.0"
    assert ev["diff"] == [{"op": "replace", "old": "75", "new": "57"}]
    assert (ev["old_revision"], ev["new_revision"]) == (1, 2)


def test_signature_like_update_changing_no_text_is_quiet(tmp_path):
    base = build_pdf("Contrat de prestation", INFO, XMP)
    size = int(re.findall(rb"/Size (\d+)", base)[-1])
    sig = b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached /M (D:20170306110000+01'00') >>"
    data = append_update(base, {size: sig})
    data = data.replace(f"/Size {size} ".encode() + b"/Root", f"/Size {size + 1} ".encode() + b"/Root")
    rec = ingest(tmp_path, "signed.pdf", data)
    assert rec.metadata["revisions"] == 2
    revs = rec.metadata["revision_texts"]
    assert revs[0]["text_sha256"] == revs[1]["text_sha256"]
    assert findings(rec) == []


def test_text_added_to_blank_pages_is_info(tmp_path):
    base = build_pdf("", INFO, XMP)
    data = append_update(base, {contents_objnum(base): stream_obj(content("Scanned letter"))})
    rec = ingest(tmp_path, "ocr.pdf", data)
    found = findings(rec)
    assert [f.effect for f in found] == ["info"] and "added text" in found[0].summary


def test_single_revision_with_agreeing_info_and_xmp_is_quiet(tmp_path):
    rec = ingest(tmp_path, "plain.pdf", build_pdf("Hello world", INFO, XMP))
    assert "revision_texts" not in rec.metadata
    assert findings(rec) == []


def test_xmp_in_another_time_zone_agrees(tmp_path):
    xmp = {**XMP, "xmp:CreateDate": "2017-03-06T09:00:00Z", "xmp:ModifyDate": "2017-03-06T10:30:00"}
    assert findings(ingest(tmp_path, "tz.pdf", build_pdf("Hello", INFO, xmp))) == []


def test_creation_date_disagreement_weakens(tmp_path):
    xmp = {**XMP, "xmp:CreateDate": "2019-11-02T16:47:13+01:00"}
    found = findings(ingest(tmp_path, "backdated.pdf", build_pdf("Hello", INFO, xmp)))
    assert len(found) == 1 and found[0].effect == "weakens"
    assert found[0].evidence["fields"]["creation date"]["xmp"] == "2019-11-02T16:47:13+01:00"


def test_preview_resave_disagreement_is_info(tmp_path):
    info = {**INFO, "Producer": "macOS Version 10.12.3 (Build 16D32) Quartz PDFContext",
            "CreationDate": "D:20170307081500Z", "ModDate": "D:20170307081500Z"}
    found = findings(ingest(tmp_path, "preview.pdf", build_pdf("Hello", info, XMP)))
    assert len(found) == 1 and found[0].effect == "info"
    assert found[0].evidence["resaving_producer"] == "quartz pdfcontext"
    assert {"producer", "creation date", "modification date"} <= set(found[0].evidence["fields"])


def test_helpers():
    assert dates_agree(parse_date("2017-03-06T10:00:00+01:00"), parse_date("2017-03-06T10:00:00Z"))
    assert not dates_agree(parse_date("2017-03-06T10:00:00"), parse_date("2017-03-06T10:07:00"))
    assert word_diff("a b c", "a b c") == []
    assert word_diff("a b", "a x b") == [{"op": "insert", "old": "", "new": "x"}]


def test_sample_incremental_pdf(tmp_path):
    from leaksift.sample import build_sample
    manifest = build_sample(tmp_path / "sample")
    rel = manifest.cases["incremental_pdf"][0]
    path = tmp_path / "sample" / rel
    rec = ingest(tmp_path, path.name, path.read_bytes())
    found = findings(rec)
    changed = [f for f in found if f.effect == "weakens"]
    assert len(changed) == 1 and "changed the visible text" in changed[0].summary
    assert changed[0].evidence["diff"][0]["op"] == "replace"
    assert changed[0].evidence["producer"]
    # the update rewrote Info's ModDate, not XMP's: reported, but only as info
    assert [f.effect for f in found if "XMP" in f.summary] == ["info"]


def test_real_pdfs_rarely_flagged(tmp_path):
    corpus = shared_corpus("pdf")
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp")
    check, total, flagged = PdfRevisionCheck(), 0, []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        for rec in engine.ingest_file(path.parent, path.name):
            if rec.depth == 0 and check.applies(rec):
                total += 1
                effects = {f.effect for f in check.run(rec, CheckContext())}
                if effects & {"weakens", "contradicts"}:
                    flagged.append(path.name)
    assert total > 100
    assert len(flagged) / total < 0.01, flagged


def test_offset_sign_slip_agrees():
    # TCPDF writes Info -08'00' and XMP +08:00 for the same wall clock
    assert dates_agree(parse_date("2012-02-02T15:29:24-08:00"), parse_date("2012-02-02T15:29:24+08:00"))
    assert not dates_agree(parse_date("2012-02-02T15:29:24-08:00"), parse_date("2012-02-05T15:29:24+08:00"))
