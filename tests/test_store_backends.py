"""Every case store method, on both backends (SQLite file, real PostgreSQL server): same calls, same answers."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import export_lines, scan_dump, write_eml

from leaksift.keys import KeyRecord
from leaksift.model import EmailFields, Finding, ItemRecord
from leaksift.store import SQLiteStore, open_store
from leaksift.store.base import CaseStore, SourceState

LEAKSIFT = [sys.executable, "-m", "leaksift.cli"]


def _email(n: int, *, source: str | None = None, sha: str | None = None, text: str | None = None,
           error: str | None = None, **kw) -> ItemRecord:
    src = source or f"box/{n:03d}.eml"
    em = EmailFields(from_=f"Émilie Durand <e{n}@campaign.example>", from_addr=f"e{n}@campaign.example",
                     to=["team@campaign.example"], date="2017-05-04T10:00:00+02:00", date_raw="Thu, 4 May 2017",
                     subject=f"Note {n} sur le budget", message_id=f"<{n}@campaign.example>",
                     in_reply_to=f"<{n - 1}@campaign.example>" if n > 1 else None,
                     references=[f"<{n - 1}@campaign.example>"] if n > 1 else [])
    return ItemRecord(id=kw.pop("id", f"id{n:04d}"), path=kw.pop("path", src), parent=kw.pop("parent", None),
                      source=src, depth=kw.pop("depth", 0), kind="email", mime="message/rfc822",
                      sha256=sha or f"{n:064x}", size=100 + n, text=text or f"virement offshore numéro {n}",
                      metadata={"received": ["from mx"], "container": {"offset": n}}, email=em,
                      raw=b"From: x\r\n\r\nbody %d" % n, error=error, error_reason="truncated" if error else None,
                      **kw)


@pytest.fixture
def store(case_url: str):
    s = open_store(case_url)
    yield s
    s.close()


def test_open_store_picks_the_backend(case_url: str) -> None:
    s = open_store(case_url)
    try:
        assert type(s).__name__ == ("PostgresStore" if case_url.startswith("postgresql://") else "SQLiteStore")
        assert s.get_meta("schema_version") == "1"
    finally:
        s.close()


def test_postgres_scheme_alias_and_schema_on_first_open(pg_url: str) -> None:
    first = open_store(pg_url.replace("postgresql://", "postgres://", 1))
    second = open_store(pg_url)  # a second opener finds the schema there and keeps the case
    try:
        first.set_meta("leaked_at", "2017-05-05T22:00:00+02:00")
        assert second.get_meta("leaked_at") == "2017-05-05T22:00:00+02:00"
        assert not hasattr(first, "path")  # the scanner keeps its temp files elsewhere
    finally:
        first.close()
        second.close()


def test_postgres_store_has_every_public_method_of_sqlite_store_and_the_protocol() -> None:
    from leaksift.store.postgres import PostgresStore

    def public(cls: type) -> dict[str, inspect.Signature]:
        return {n: inspect.signature(f) for n, f in inspect.getmembers(cls, inspect.isfunction)
                if not n.startswith("_")}
    sqlite, pg, proto = public(SQLiteStore), public(PostgresStore), public(CaseStore)
    assert set(sqlite) - set(pg) == set(), "PostgresStore lacks these SQLiteStore methods"
    assert set(proto) - set(pg) == set(), "PostgresStore lacks these CaseStore methods"
    for name, sig in sqlite.items():
        assert list(pg[name].parameters) == list(sig.parameters), name


def test_items_round_trip_with_blob_stored_once(store) -> None:
    shared = "ab" * 32
    recs = [_email(1, sha=shared, id="id-b", path="b/1.eml", source="b/1.eml"),
            _email(2, sha=shared, id="id-a", path="a/1.eml", source="a/1.eml",
                   findings=[Finding("dkim", "signature verifies", "proves", {"domain": "campaign.example"})]),
            _email(3)]
    store.write_items(recs, done=[SourceState("b/1.eml", 10, 5, "done")])
    d = store.item("id-a")
    assert d["sha256"] == shared and d["copies"] == 2 and d["is_container"] is False
    assert d["to_addrs"] == ["team@campaign.example"] and d["location"] == {"offset": 2}
    assert d["metadata"] == {"received": ["from mx"]}  # the location left the content metadata
    assert d["findings"] == [{"check": "dkim", "summary": "signature verifies", "effect": "proves",
                              "evidence": {"domain": "campaign.example"}}]
    # the blob keeps the read at its best location: the smallest item id among complete reads
    assert d["text"] == "virement offshore numéro 2" and store.item("id-b")["text"] == "virement offshore numéro 2"
    assert [x["id"] for x in store.locations(shared)] == ["id-a", "id-b"]
    assert store.raw(shared) == b"From: x\r\n\r\nbody 2"
    assert store.item("missing") is None
    assert [d["id"] for d in store.iter_items()] == ["id-a", "id-b", "id0003"]
    assert store.summary().unique_blobs == 2
    assert store.count_items() == 3


def test_complete_read_beats_a_cut_short_one_in_any_order(case_url: str) -> None:
    sha = "cd" * 32
    s = open_store(case_url)
    try:
        s.write_items([_email(1, sha=sha, id="a", text="cut", error="truncated stream")])
        s.write_items([_email(2, sha=sha, id="z", text="whole")])
        s.write_items([_email(3, sha=sha, id="b", text="cut again", error="truncated stream")])
        assert s.blob_text(sha) == "whole"
        s.write_items([_email(4, sha=sha, id="m", text="whole, smaller id")])
        assert s.blob_text(sha) == "whole, smaller id"
    finally:
        s.close()


def test_nul_characters_from_a_hostile_dump_are_kept_readable(store) -> None:
    store.write_items([_email(1, text="before\x00after", path="a\x00b.eml")])
    d = store.item("id0001")
    assert d["text"] in ("before\x00after", "before\ufffdafter")
    assert d["path"] in ("a\x00b.eml", "a\ufffdb.eml")


def test_meta_keys_scans_and_key_files(store) -> None:
    store.set_meta("leaked_at", "2017-05-05T22:00:00+02:00")
    store.set_meta("leaked_at", "2017-05-06T00:00:00+02:00")
    assert store.get_meta("leaked_at") == "2017-05-06T00:00:00+02:00" and store.get_meta("nope") is None
    recs = [KeyRecord("campaign.example", "s1", b"v=DKIM1; p=AAA", "keys.zone"),
            KeyRecord("campaign.example", "s1", b"v=DKIM1; p=AAA", "keys.zone"),
            KeyRecord("bank.example", "mail", b"v=DKIM1; p=BBB", "dns", fetched_at="2026-01-01T00:00:00+00:00")]
    assert store.add_keys(recs) == 2 and store.add_keys(recs[:1]) == 0
    assert [(k.domain, k.record, k.fetched_at) for k in store.keys()] == [
        ("bank.example", b"v=DKIM1; p=BBB", "2026-01-01T00:00:00+00:00"), ("campaign.example", b"v=DKIM1; p=AAA", None)]
    store.add_key_file("keys.zone", b"zone")
    store.add_key_file("keys.zone", b"zone")
    assert [(k["path"], k["size"]) for k in store.key_files()] == [("keys.zone", 4)]
    first, second = store.begin_scan("/dump", {"jobs": 2}), store.begin_scan("/dump", {"jobs": 1})
    assert second > first
    store.end_scan(first, {"items": 3})


def test_resume_bookkeeping(store) -> None:
    store.write_items([_email(1, source="m.mbox", path="m.mbox/1", id="x1",
                              findings=[Finding("headers", "odd", "weakens")]),
                       _email(2, source="m.mbox", path="m.mbox/2", id="x2"), _email(3)],
                      done=[SourceState("box/003.eml", 5, 7, "done")])
    assert store.source_state("box/003.eml") == SourceState("box/003.eml", 5, 7, "done")
    assert store.source_state("m.mbox") is None and store.has_items("m.mbox")
    store.write_items([], done=[SourceState("box/003.eml", 6, 8, "crashed")])
    assert store.sources() == {"box/003.eml": SourceState("box/003.eml", 6, 8, "crashed")}
    store.clear_source("m.mbox")
    assert not store.has_items("m.mbox") and store.item_evidence("x1") == (None, [])
    store.collect_garbage()
    assert store.summary().unique_blobs == 1 and store.blob_text(f"{1:064x}") is None


def test_findings_and_verdicts(store) -> None:
    store.write_items([_email(n) for n in range(1, 5)])
    store.add_findings("id0001", [Finding("dkim", "verifies", "proves", {"status": "verified"})], "verified")
    store.append_findings({"id0002": [Finding("threads", "quote differs", "contradicts", {"n": 1})],
                           "id0003": [Finding("threads", "quote matches", "supports", {"n": 2})]})
    assert list(store.findings_of("threads")) == [("id0002", {"n": 1}), ("id0003", {"n": 2})]
    store.replace_findings("id0002", ["threads"], [Finding("threads", "again", "weakens", {"n": 3})])
    assert store.item_evidence("id0002")[1] == [Finding("threads", "again", "weakens", {"n": 3})]
    store.append_findings({"id0002": [Finding("extra", "late", "weakens"), Finding("extra", "ok", "proves")]})
    assert store.item_effects(["id0001", "id0002", "id0004", "nowhere"]) == {
        "id0001": (None, {"proves"}), "id0002": (None, {"weakens", "proves"}), "id0004": (None, set())}
    store.clear_findings("extra")
    assert store.clear_findings("threads") == {"id0002", "id0003"} and list(store.findings_of("threads")) == []
    store.set_verdicts({"id0002": "tampered", "id0003": "suspicious"})
    assert store.summary().by_verdict == {"consistent": 1, "suspicious": 1, "tampered": 1, "verified": 1}
    assert [d["id"] for d in store.verified_items()] == ["id0001"]
    assert next(iter(store.verified_items()))["findings"][0]["evidence"] == {"status": "verified"}
    assert store.item_ids("email") == ["id0001", "id0002", "id0003", "id0004"] and store.item_ids("document") == []


def test_case_check_reads(store) -> None:
    parent = ItemRecord(id="arc", path="a.zip", parent=None, source="a.zip", depth=0, kind="archive",
                        mime="application/zip", sha256="ee" * 32, size=9, is_container=True, children_expected=3,
                        children_emitted=2, metadata={"comment": None})
    store.write_items([parent, _email(1, parent="arc", path="a.zip/1.eml", source="a.zip", depth=1),
                       _email(2, parent="id0001", path="a.zip/1.eml/2.eml", source="a.zip", depth=2)])
    store.add_findings("id0001", [Finding("dkim", "ok", "proves", {"status": "verified"})], "verified")
    assert [d["id"] for d in store.items_with_metadata("received")] == ["id0001", "id0002"]
    assert list(store.items_with_metadata("comment")) == []  # a null value is no value
    assert list(store.items_with_metadata("received", emails=False)) == []  # what document checks read
    assert [d["id"] for d in store.delivered_emails()] == ["id0001", "id0002"]
    assert [d["id"] for d in store.descendants("arc")] == ["id0001", "id0002"]
    assert [d["in_reply_to"] for d in store.replies()] == ["<1@campaign.example>"]
    assert [d["id"] for d in store.messages_by_id("<1@campaign.example>")] == ["id0001"]
    blobs = list(store.text_blobs(5))
    assert [b["verified"] for b in blobs] == [True, False] and blobs[0]["metadata"] == {"received": ["from mx"]}
    assert [c["id"] for c in store.children("arc")] == ["id0001"]
    s = store.summary()
    assert (s.items, s.containers, s.by_kind) == (3, 1, {"archive": 1, "email": 2})
    assert [m["id"] for m in s.mismatched_containers] == ["arc"] and s.bytes == 9
    signed = _email(3, path="c.eml")
    signed.minhash = b"\x01" * 260  # a signature from the item phase: rows then carry the text's head only
    store.write_items([signed])
    heads = list(store.text_blobs(5, text_chars=3, email_metadata=False))
    assert [b["metadata"] for b in heads] == [{}, {}, {}]  # emails' metadata left unread
    assert [b["text"] for b in heads] == [b["text"] for b in blobs] + ["vir"] and heads[2]["minhash"] == signed.minhash


def test_search_finds_words_names_and_filters(store) -> None:
    store.write_items([_email(1, text="Le virement vers Panama est prêt"), _email(2, text="rien à signaler"),
                       _email(3, text="Panama papers, virement annulé")])
    store.set_verdicts({"id0003": "tampered"})
    assert {h.id for h in store.search("panama")} == {"id0001", "id0003"}
    assert [h.id for h in store.search("panama", verdict="tampered")] == ["id0003"]
    assert store.search("panama", kind="document") == []
    hit = store.search("signaler")[0]
    assert hit.id == "id0002" and "[signaler]" in hit.snippet and hit.subject == "Note 2 sur le budget"
    assert {h.id for h in store.search("budget")} == {"id0001", "id0002", "id0003"}  # subjects are searched
    assert len(store.search("budget", limit=2)) == 2 and len(store.search("budget", limit=2, offset=2)) == 1
    assert [h.id for h in store.search('"virement vers panama"')] == ["id0001"]


def test_two_writers_into_one_case_at_once(case_url: str) -> None:
    """Two scans writing overlapping content into one case: no error, every row once, the same best reads."""
    shared = [f"{n:064x}" for n in range(50)]
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        s = open_store(case_url)
        try:
            for batch in range(10):
                recs = [_email(n, sha=shared[(n * 7 + batch) % 50], id=f"{tag}{batch:02d}{n:03d}",
                               path=f"{tag}/{batch}/{n}.eml", source=f"{tag}/{batch}",
                               findings=[Finding("dkim", "x", "info", {"n": n})]) for n in range(40)]
                s.write_items(recs[::-1] if tag == "b" else recs,
                              done=[SourceState(f"{tag}/{batch}", 1, 1, "done"), SourceState("common", 1, 1, "done")])
                if tag == "a":  # garbage collection beside a writer must not drop what it points to
                    s.collect_garbage()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)
        finally:
            s.close()
    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = open_store(case_url)
    try:
        summ = s.summary()
        assert summ.items == 800 and summ.unique_blobs == 50 and len(s.sources()) == 21
        assert len(list(s.findings_of("dkim"))) == 800
        assert all(d["text"] for d in s.iter_items())  # every location still has its content
        for sha in shared[:5]:  # the best read is the smallest id, whoever wrote last
            first = s.locations(sha)
            assert s.item(first[0]["id"])["text"] == s.blob_text(sha)
            assert s.item(min(x["id"] for x in first))["text"] == s.blob_text(sha)
    finally:
        s.close()


def test_scan_into_both_backends_gives_the_same_export(tmp_path: Path, pg_url: str) -> None:
    dump = tmp_path / "dump"
    for n in range(12):
        write_eml(dump / f"box{n % 3}" / f"{n:03d}.eml", n, body=f"virement offshore {n}\r\n")
    scan_dump(dump, tmp_path / "case.db", jobs=2)
    scan_dump(dump, pg_url, jobs=2)
    lite, pg = export_lines(tmp_path / "case.db"), export_lines(pg_url)
    assert len(lite) == 12 and lite == pg
    again = scan_dump(dump, pg_url, jobs=2)  # resume: nothing left to read
    assert again.sources_skipped == 12 and export_lines(pg_url) == pg


@pytest.mark.slow
def test_sample_leak_through_the_cli_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    """The sample leak scanned with `--db` a file and `--db postgresql://`: same export, and every read command."""
    from leaksift.sample import build_sample
    from leaksift.sample.build import MIN_DOCUMENTS

    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=MIN_DOCUMENTS)
    exports = []
    for db in (str(tmp_path / "case.db"), pg_url):
        run = subprocess.run([*LEAKSIFT, "scan", str(tmp_path / "leak"), "--db", db, "--keys",
                              str(tmp_path / "keys.zone"), "--leaked-at", "2017-05-05T22:00:00+02:00", "-q",
                              "-j", "2"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        out = tmp_path / f"export{len(exports)}.jsonl"
        run = subprocess.run([*LEAKSIFT, "export", "--db", db, "--output", str(out)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr + run.stdout
        exports.append([json.loads(line) for line in out.read_text().splitlines()])
    assert len(exports[0]) > 60 and exports[0] == exports[1]
    assert {r["verdict"] for r in exports[1]} >= {"verified", "tampered"}
    some = next(r for r in exports[1] if r["kind"] == "email")
    for args in (["search", "--db", pg_url, some["subject"].split()[0]], ["show", "--db", pg_url, some["id"]],
                 ["summary", "--db", pg_url]):
        run = subprocess.run([*LEAKSIFT, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (args, run.stderr + run.stdout)
    assert some["id"] in subprocess.run([*LEAKSIFT, "show", "--db", pg_url, some["id"]], capture_output=True,
                                        text=True).stdout


def _web_case(url: str) -> None:
    """A small case for the web and report reads: a zip of a thread, findings, folders, two senders."""
    s = open_store(url)
    try:
        arc = ItemRecord(id="arc", path="alice/inbox/a.zip", parent=None, source="alice/inbox/a.zip", depth=0,
                         kind="archive", mime="application/zip", sha256="ee" * 32, size=9, is_container=True,
                         children_expected=3, children_emitted=3)
        recs = [arc] + [_email(n, parent="arc", path=f"alice/inbox/a.zip/{n}.eml", source="alice/inbox/a.zip",
                               depth=1) for n in range(1, 4)]
        recs += [_email(n, path=f"bob/sent/{n}.eml", text=f"budget prévisionnel {n}") for n in range(4, 7)]
        s.write_items(recs)
        s.append_findings({
            "id0001": [Finding("dkim", "verifies", "proves", {"domain": "campaign.example", "status": "verified"})],
            "id0002": [Finding("dkim", "no key", "info", {"domain": "campaign.example", "status": "no_key"}),
                       Finding("threads", "quote differs", "contradicts", {})],
            "id0005": [Finding("dkim", "broken", "contradicts", {"domain": "bank.example", "status": "fail"})]})
        s.set_verdicts({"id0001": "verified", "id0002": "tampered", "id0005": "suspicious"})
    finally:
        s.close()


def test_web_and_report_reads_agree_between_backends(tmp_path: Path, pg_url: str) -> None:
    lite_url = str(tmp_path / "case.db")
    _web_case(lite_url)
    _web_case(pg_url)
    lite, pg = open_store(lite_url), open_store(pg_url)
    try:
        for name, args in [("top_senders", ()), ("thread_of", ("id0002",)), ("thread_of", ("nope",)),
                           ("items_by_sender", ("e5@campaign.example",)), ("kind_verdict_counts", ()),
                           ("messages_per_day", ()), ("verdicts_by_folder", ()), ("dkim_domain_rates", ()),
                           ("finding_counts", ()), ("ancestors", ("id0003",)), ("descendants", ("arc",))]:
            want = getattr(lite, name)(*args)
            assert want == getattr(pg, name)(*args), name
        assert len(lite.thread_of("id0002")) == 6 and lite.dkim_domain_rates()[0]["no_key"] == 1
        assert list(lite.items_by_verdict(("tampered", "suspicious"))) == list(pg.items_by_verdict(
            ("tampered", "suspicious")))
        for kw in ({}, {"sort": "date"}, {"folder": "alice"}, {"domain": "bank.example"}, {"verdict": "tampered"},
                   {"date_from": "2017-05-04", "date_to": "2017-05-04", "sort": "-date"}):
            assert lite.search_page(**kw) == pg.search_page(**kw), kw
        for words in ("budget", "prévi*", "virement offshore", "Note 2", "o'neil \"x"):
            (n1, rows1), (n2, rows2) = lite.search_page(words, sort="path"), pg.search_page(words, sort="path")
            assert (n1, [r["id"] for r in rows1]) == (n2, [r["id"] for r in rows2]), words
        assert lite.search_page("budget", count_cap=3)[0] == pg.search_page("budget", count_cap=3)[0] == 4
        pg.read_mostly()
        total, rows = pg.search_page("budget", sort="relevance", limit=2)
        assert total == 6 and len(rows) == 2 and "\x02budget\x03" in rows[0]["snippet"]
    finally:
        lite.close()
        pg.close()


def test_two_cli_scans_write_into_one_postgres_case_at_once(tmp_path: Path, pg_url: str) -> None:
    """Two team members scan two parts of a leak into one case at the same time; a message both parts hold
    is one content at two locations."""
    for part in "ab":
        for n in range(10):
            write_eml(tmp_path / part / part / f"{n:03d}.eml", n + (100 if part == "b" else 0))
        write_eml(tmp_path / part / part / "shared.eml", 999, body="the same message in both parts\r\n")
    procs = [subprocess.Popen([*LEAKSIFT, "scan", str(tmp_path / part), "--db", pg_url, "-q", "-j", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for part in "ab"]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    lines = export_lines(pg_url)
    assert len(lines) == 22 and len({r["path"] for r in lines}) == 22
    shared = [r for r in lines if r["path"].endswith("shared.eml")]
    assert len(shared) == 2 and shared[0]["sha256"] == shared[1]["sha256"] and shared[0]["copies"] == 2
    s = open_store(pg_url)
    try:
        assert s.summary().unique_blobs == 21 and len(s.sources()) == 22
    finally:
        s.close()
