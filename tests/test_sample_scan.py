"""The sample leak end to end: every message and document the generator wrote is found where it lies."""

from __future__ import annotations

import re

import pytest
from conftest import export_lines, scan_dump

from leaksift.sample import build_sample
from leaksift.store import open_store


def provenance(location: str) -> str:
    """The generator's location syntax (`a.zip!m`, `x.mbox#5`) as a leaksift path."""
    return location.replace("!", "/").replace("#", "/")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("sample")
    manifest = build_sample(base / "leak", keys_out=base / "keys.zone")
    db = base / "case.db"
    scan_dump(base / "leak", db)
    rows = export_lines(db)
    return manifest, db, rows, {r["path"]: r for r in rows}


def test_no_errors_and_no_lost_children(scanned) -> None:
    _, _, rows, _ = scanned
    assert [r["path"] for r in rows if r["error"]] == []
    assert [r["path"] for r in rows if r["container"] and r["container"]["lost"]] == []
    assert "unreadable" not in {r["verdict"] for r in rows}


def test_every_message_copy_is_an_email_at_its_path(scanned) -> None:
    manifest, db, _, by_path = scanned
    store = open_store(db)
    try:
        for msg in manifest.messages:
            for loc in msg.locations:
                row = by_path.get(provenance(loc.path))
                assert row is not None, loc.path
                assert row["kind"] == "email" and row["message_id"] == msg.message_id, loc.path
                if loc.line_ending == "lf":
                    assert "lf_line_endings" in row["transforms"], loc.path
                if "!" not in loc.path and "#" not in loc.path and not loc.path.endswith(".emlx"):
                    raw = store.raw(row["sha256"])
                    assert raw == (manifest.out_dir / loc.path).read_bytes(), loc.path
    finally:
        store.close()


def test_mboxrd_escaping_is_kept_and_recorded(scanned) -> None:
    _, db, rows, _ = scanned
    escaped = [r for r in rows if "mbox_from_escaped" in r["transforms"]]
    assert escaped, "the sample writes at least one body line starting with 'From '"
    store = open_store(db)
    try:
        assert all(re.search(rb"\n>+From ", store.raw(r["sha256"])) for r in escaped)
    finally:
        store.close()


def test_documents_are_found_with_their_hashes(scanned) -> None:
    manifest, _, _, by_path = scanned
    for doc in manifest.documents:
        row = by_path.get(provenance(doc.path))
        assert row is not None, doc.path
        assert row["sha256"] == doc.sha256 and row["kind"] in ("document", "attachment"), doc.path


def test_shared_attachment_is_one_content_at_several_locations(scanned) -> None:
    manifest, _, rows, _ = scanned
    shared = {a["sha256"] for m in manifest.case("shared_attachment") for a in m.attachments}
    assert shared
    for digest in shared:
        places = [r for r in rows if r["sha256"] == digest and r["kind"] == "attachment"]
        assert len(places) >= 2 and all(r["copies"] == len([x for x in rows if x["sha256"] == digest])
                                        for r in places)


def test_nested_archives_give_chained_paths(scanned) -> None:
    _, _, rows, _ = scanned
    nested = [r["path"] for r in rows if r["path"].startswith("archives/export.tar.gz/") and r["depth"] >= 3]
    assert any(".zip/" in p and ".mbox/" in p for p in nested), nested[:5]


def test_forwarded_messages_are_children_with_their_exact_bytes(scanned) -> None:
    manifest, _, rows, _ = scanned
    forwards = manifest.case("forwards")
    assert forwards
    inner_ids = {m.forwarded for m in forwards if m.forwarded}
    children = [r for r in rows if r["kind"] == "email" and r["parent"] and r["message_id"] in inner_ids]
    assert {r["message_id"] for r in children} == inner_ids
