"""The case baseline: a known author's document with an editor, build, company, language or offset unseen elsewhere."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import scan_dump, shared_corpus

from leaksift.checks.base import CheckContext
from leaksift.checks.docbaseline import DocBaselineCheck, documents, fields
from leaksift.sample.office import DocMeta, docx
from leaksift.store import open_store


class FakeStore:
    """items_with_metadata as the SQLite store answers it (every item whose metadata has the key), counting reads."""

    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs
        self.reads = 0

    def items_with_metadata(self, key: str, emails: bool = True):  # noqa: ANN201
        for d in self.docs:
            if key in d["metadata"]:
                self.reads += 1
                yield d


def _ooxml(i: int, folder: str, creator: str, editor: str | None = None, version: str = "16.0000",
           lang: str = "fr-FR", company: str = "Campagne 2017") -> dict:
    return {"id": f"d{i}", "path": f"{folder}/{i}.docx", "kind": "document", "sha256": f"{i:064d}",
            "verdict": "consistent",
            "metadata": {"core": {"creator": creator, "lastModifiedBy": editor or creator, "language": lang,
                                  "created": "2017-02-01T10:00:00Z", "modified": "2017-02-02T10:00:00Z"},
                         "app": {"Application": "Microsoft Office Word", "AppVersion": version, "Company": company}}}


def _pdf(i: int, author: str, offset: str, producer: str = "Microsoft® Word 2016") -> dict:
    return {"id": f"p{i}", "path": f"pdf/{i}.pdf", "kind": "document", "sha256": f"{i:064x}", "verdict": "consistent",
            "metadata": {"info": {"Author": author, "Producer": producer, "CreationDate": f"D:20170301100000{offset}",
                                  "ModDate": f"D:20170301110000{offset}"}}}


def _run(docs: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(i, f.effect, f.evidence["field"], f.evidence["value"])
            for i, f in DocBaselineCheck().run(FakeStore(docs), CheckContext())]


def _folder() -> list[dict]:
    return [_ooxml(i, "Budget", "Claire Dumont") for i in range(8)]


def test_fields_read_editor_build_language_offset() -> None:
    f = fields(_ooxml(1, "x", "Claire Dumont", "Julien Ferrand")["metadata"])
    assert f.author == "Claire Dumont"
    assert f.values == {"editor": {"julien ferrand"}, "company": {"Campagne 2017"},
                        "build": {"Microsoft Office Word 16.0000"}, "language": {"fr-fr"}}
    assert fields(_pdf(1, "A", "+02'00'")["metadata"]).values["offset"] == {"+02:00"}
    assert fields(_pdf(1, "A", "-05'30'")["metadata"]).values["offset"] == {"-05:30"}
    assert "offset" not in fields(_pdf(1, "A", "")["metadata"]).values  # no offset written: nothing learnt
    assert fields(_ooxml(1, "x", "Microsoft Office User")["metadata"]).author is None


def test_forged_editor_build_language_company_fire() -> None:
    docs = _folder() + [_ooxml(90, "Budget", "Claire Dumont", editor="Рошка Георгий"),
                        _ooxml(91, "Budget", "Claire Dumont", version="12.0000"),
                        _ooxml(92, "Budget", "Claire Dumont", lang="ru-RU"),
                        _ooxml(93, "Budget", "Claire Dumont", company="Pravda LLC")]
    found = _run(docs)
    assert found == [("d90", "weakens", "editor", "рошка георгий"),
                     ("d91", "weakens", "build", "Microsoft Office Word 12.0000"),
                     ("d92", "weakens", "language", "ru-ru"),
                     ("d93", "weakens", "company", "Pravda LLC")]
    [(_, f)] = [x for x in DocBaselineCheck().run(FakeStore(docs), CheckContext()) if x[0] == "d91"]
    assert f.evidence["author_values"] == {"Microsoft Office Word 16.0000": 11}
    assert f.evidence["folder"] == "Budget" and f.evidence["folder_values"] == {"Microsoft Office Word 16.0000": 11}
    assert f.evidence["author_documents"] == 11 and "Claire Dumont" in f.summary


def test_forged_offset_fires_but_summer_time_does_not() -> None:
    docs = [_pdf(i, "Claire Dumont", "+01'00'") for i in range(4)] + [_pdf(i, "Claire Dumont", "+02'00'")
                                                                        for i in range(4, 8)]
    assert _run(docs) == []  # winter and summer time: both usual
    assert _run(docs + [_pdf(9, "Claire Dumont", "+03'00'")]) == [("p9", "weakens", "offset", "+03:00")]


def test_outsiders_and_ordinary_cases_stay_quiet() -> None:
    folder = _folder()
    # A genuine third-party document: its author, editor, build and language are all unknown here.
    outside = _ooxml(90, "Budget", "Hans Müller", version="14.0000", lang="de-DE", company="Müller GmbH")
    # An upgrade: the new build is in several documents. A colleague who edits twice is known.
    upgraded = [_ooxml(91 + i, "Budget", "Claire Dumont", version="16.0001") for i in range(2)]
    edited = [_ooxml(95 + i, "Budget", "Claire Dumont", editor="Julien Ferrand") for i in range(2)]
    assert _run(folder + [outside] + upgraded + edited) == []
    # The editor is odd, but the author has too few other documents to have a habit.
    assert _run(_folder()[:3] + [_ooxml(90, "Budget", "Claire Dumont", editor="Рошка Георгий")]) == []
    # A generic account is nobody's habit.
    generic = [_ooxml(i, "x", "Administrator") for i in range(8)] + [_ooxml(9, "x", "Administrator", "Stranger")]
    assert _run(generic) == []
    # An editor who authored documents of the case is no stranger.
    known = _folder() + [_ooxml(40 + i, "Other", "Julien Ferrand") for i in range(2)]
    assert _run(known + [_ooxml(90, "Budget", "Claire Dumont", editor="Julien Ferrand")]) == []


def test_case_scale_streams_and_stays_fast() -> None:
    """10,000 documents by 200 people: two streamed passes, no pairs; one forgery among them."""
    docs = [_ooxml(i, f"f{i % 50}", f"Person {i % 200}", version=f"16.{i % 2}000") for i in range(10_000)]
    docs[2_345] = _ooxml(2_345, "f45", "Person 145", editor="Рошка Георгий")
    store = FakeStore(docs)
    t0 = time.monotonic()
    found = [(i, f.evidence["field"]) for i, f in DocBaselineCheck().run(store, CheckContext())]
    assert found == [("d2345", "editor")]
    assert store.reads == 2 * 2 * 10_000  # two passes; the store meets each document under its two keys
    assert time.monotonic() - t0 < 10


def test_end_to_end_on_scanned_docx(tmp_path: Path) -> None:
    """Real files through the readers and the store: one docx of the folder saved by a stranger's Word 2007."""
    dump = tmp_path / "dump" / "Budget"
    dump.mkdir(parents=True)
    when = datetime(2017, 2, 2, 16, 42, tzinfo=timezone.utc)
    meta = DocMeta("Budget", "Claire Dumont", "Claire Dumont", when, when + timedelta(hours=3))
    for i in range(6):
        (dump / f"v{i}.docx").write_bytes(docx(replace(meta, title=f"Budget {i}"), [f"Ligne {i} du budget."]))
    forged = replace(meta, last_modified_by="Рошка Георгий", app_version="12.0000")
    (dump / "forged.docx").write_bytes(docx(forged, ["Ligne du budget."]))
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "dump", db, jobs=1)
    store = open_store(db)
    try:
        paths = {it["id"]: it["path"] for it in store.iter_items()}
        found = sorted((paths[i], f.evidence["field"]) for i, f in DocBaselineCheck().run(store, CheckContext()))
        assert found == [("Budget/forged.docx", "build"), ("Budget/forged.docx", "editor")]
    finally:
        store.close()


@pytest.mark.slow
def test_real_corpus_is_nearly_quiet(tmp_path: Path) -> None:
    """Real files of many programs scanned as one case: at most 1% of the documents flagged (calibration)."""
    for part in ("office", "pdf"):
        root = shared_corpus(part)
        db = tmp_path / f"{part}.db"
        scan_dump(root, db, jobs=2, checks=False)  # ingest only: the baseline reads metadata
        store = open_store(db)
        try:
            n = sum(1 for _ in documents(store))
            flagged = {i for i, _ in DocBaselineCheck().run(store, CheckContext())}
        finally:
            store.close()
        assert n > 50 and len(flagged) <= max(1, n // 100), (part, n, len(flagged))

