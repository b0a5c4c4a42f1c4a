"""The OOXML readers' two ways give one reading: the fast one (expat, namespaces off, checks standing in for
them) and the exact one (namespaces on) it falls back to. A fast path that drifts from the exact one would
change evidence silently, so every OOXML file of the corpus, and hostile twists of one, are read both ways."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_corpus

from leaksift.ingest import office
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry

OOXML = (".docx", ".docm", ".dotx", ".xlsx", ".xlsm", ".pptx", ".pptm")


def _exact_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = office.drive

    def drive(source: Any, make: Any, fast: bool = False) -> None:
        if fast:
            raise office.Redo("test: the exact way only")
        real(source, make, fast=False)
    monkeypatch.setattr(office, "drive", drive)


def _read(root: Path, rel: str, tmp: Path) -> list[tuple[Any, ...]]:
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp)
    return [(r.path, r.mime, r.error_reason, r.error, r.text, json.dumps(r.metadata, sort_keys=True, default=str))
            for r in engine.ingest_file(root, rel)]


def _ways(root: Path, rels: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    fast = {rel: _read(root, rel, tmp_path / "a") for rel in rels}
    with monkeypatch.context() as m:
        _exact_only(m)
        exact = {rel: _read(root, rel, tmp_path / "b") for rel in rels}
    return fast, exact


def test_every_ooxml_corpus_file_reads_the_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_corpus("office")
    rels = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix.lower() in OOXML)
    assert len(rels) > 300
    fast, exact = _ways(root, rels, tmp_path, monkeypatch)
    differ = [rel for rel in rels if fast[rel] != exact[rel]]
    assert not differ, f"{len(differ)} files read otherwise the fast way: {differ[:10]}"


DOC = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"{extra}><w:body>'
       '{body}</w:body></w:document>')
TWISTS = {
    "plain": ('', '<w:p><w:r><w:t>one</w:t><w:tab/><w:t>two</w:t></w:r></w:p>'),
    "inner declaration": ('', '<w:p><x:r xmlns:x="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                              '<x:t>aliased</x:t></x:r></w:p>'),
    "unbound prefix": ('', '<w:p><q:r><w:t>x</w:t></q:r></w:p>'),
    "rebound root prefix": ('', '<w:p xmlns:w="urn:other"><w:r><w:t>rebound</w:t></w:r></w:p>'),
    "undeclared": ('', '<w:p xmlns:w=""><w:r><w:t>x</w:t></w:r></w:p>'),
    "two colons": ('', '<w:p><w:r:x/><w:t>x</w:t></w:p>'),
    "clashing attributes": (' xmlns:v="http://schemas.openxmlformats.org/wordprocessingml/2006/main"',
                            '<w:p><w:ins w:author="a" v:author="b"><w:r><w:t>x</w:t></w:r></w:ins></w:p>'),
    "default namespace": ('', '<p xmlns="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><r><t>d'
                              '</t></r></p>'),
    "processing instruction": ('', '<?pi x?><w:p><w:r><w:t>x</w:t></w:r></w:p>'),
    "tracked change": ('', '<w:p><w:ins w:author="Eve" w:date="2020-01-01T00:00:00Z"><w:r><w:t>new</w:t></w:r>'
                           '</w:ins><w:del w:author="Eve"><w:r><w:delText>old</w:delText></w:r></w:del></w:p>'),
    "not well-formed": ('', '<w:p><w:r><w:t>x</w:r></w:t></w:p>'),
}


def _docx(body: str, extra: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'))
        zf.writestr("_rels/.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="word/document.xml"/></Relationships>'))
        zf.writestr("word/document.xml", DOC.format(extra=extra, body=body))
    return buf.getvalue()


@pytest.mark.parametrize("twist", sorted(TWISTS))
def test_hostile_namespaces_read_the_same_both_ways(twist: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    extra, body = TWISTS[twist]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.docx").write_bytes(_docx(body, extra))
    fast, exact = _ways(tmp_path / "d", ["t.docx"], tmp_path, monkeypatch)
    assert fast == exact
    if twist in ("plain", "inner declaration", "default namespace", "tracked change"):
        assert fast["t.docx"][-1][2] is None  # read, no error: the test reads what it means to
    if twist == "plain":
        assert fast["t.docx"][-1][4] == "one\ttwo"


def test_theme_is_read_up_to_the_end_of_its_font_scheme(tmp_path: Path) -> None:
    """The format scheme after the font scheme (most of a theme) is not parsed: a theme whose tail is not even
    XML still gives its fonts, and no part error, either way."""
    theme = ('<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:themeElements>'
             '<a:fontScheme name="Office"><a:majorFont><a:latin typeface="Aptos Display"/></a:majorFont>'
             '<a:minorFont><a:latin typeface="Aptos"/></a:minorFont></a:fontScheme><a:fmtScheme><<<not xml')
    buf = io.BytesIO(_docx("<w:p/>", ""))
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("word/theme/theme1.xml", theme)
        zf.writestr("word/_rels/document.xml.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'theme" Target="theme/theme1.xml"/></Relationships>'))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.docx").write_bytes(buf.getvalue())
    rec = _read(tmp_path / "d", "t.docx", tmp_path / "t")[-1]
    meta = json.loads(rec[5])
    assert meta["theme_fonts"] == ["Aptos Display", "Aptos"]
    assert "part_errors" not in meta and rec[2] is None
