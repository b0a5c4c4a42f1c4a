"""The sample leak scanned with its keys: each message gets the verdict its ground truth calls for."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import export_lines, scan_dump

from leaksift.checks.base import CheckContext
from leaksift.keys import KeyStore
from leaksift.sample import build_sample

TAMPERED = {"body_altered", "extra_from", "late_date"}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("verdicts")
    manifest = build_sample(base / "leak", keys_out=base / "keys.zone")
    keys = KeyStore.from_files([base / "keys.zone"])
    ctx = CheckContext(keys=keys, leaked_at=datetime.fromisoformat("2017-05-05T22:00:00+02:00"))
    db = base / "case.db"
    scan_dump(base / "leak", db, check_ctx=ctx)
    rows = export_lines(db)
    return manifest, rows, {r["path"]: r for r in rows}


def _path(location: str) -> str:
    return location.replace("!", "/").replace("#", "/")


def test_planted_forgeries_are_tampered_and_only_they(case) -> None:
    manifest, rows, by_path = case
    planted = {mid for name in TAMPERED for mid in manifest.cases[name]}
    tampered = {r["message_id"] for r in rows if r["verdict"] == "tampered" and r["kind"] == "email"}
    assert tampered == planted
    doctored = {provenance for d in manifest.documents if d.doctored_of for provenance in [_path(d.path)]}
    assert {r["path"] for r in rows if r["verdict"] == "tampered" and r["kind"] != "email"} == doctored


def test_strong_valid_signatures_verify(case) -> None:
    manifest, _, by_path = case
    checked = 0
    for msg in manifest.messages:
        if msg.tampering or msg.key_bits is None or (msg.algorithm == "rsa-sha256" and msg.key_bits < 2048):
            continue
        for loc in msg.locations:
            if loc.dkim == "pass":
                assert by_path[_path(loc.path)]["verdict"] == "verified", (loc.path, msg.details)
                checked += 1
    assert checked > 30


def test_missing_key_and_weak_key_never_condemn_nor_prove(case) -> None:
    manifest, _, by_path = case
    seen = set()
    for msg in manifest.messages:
        for loc in msg.locations:
            row = by_path[_path(loc.path)]
            if loc.dkim == "no_key" and not msg.tampering:
                assert row["verdict"] == "consistent", loc.path
                seen.add("no_key")
            if msg.key_bits is not None and msg.key_bits < 1024 and msg.algorithm.startswith("rsa"):
                assert row["verdict"] != "verified", loc.path
                seen.add("weak")
    assert seen == {"no_key", "weak"}


def test_received_disorder_is_suspicious_not_tampered(case) -> None:
    manifest, rows, _ = case
    mid = manifest.cases["received_disorder"][0]
    assert {r["verdict"] for r in rows if r["message_id"] == mid} == {"suspicious"}


def test_attachments_of_verified_messages_and_their_copies_are_verified(case) -> None:
    _, rows, by_id = case
    by_id = {r["id"]: r for r in rows}
    inherited = [r for r in rows if any(f["check"] == "inherit" for f in r["findings"])]
    assert inherited
    for r in inherited:
        f = next(f for f in r["findings"] if f["check"] == "inherit")
        origin = by_id[f["evidence"].get("message") or f["evidence"]["proven_item"]]
        assert origin["verdict"] == "verified"
        if r["verdict"] != "tampered":
            assert r["verdict"] in ("verified", "suspicious")
    parts = [r for r in rows if r["kind"] == "attachment" and by_id[r["parent"]]["verdict"] == "verified"]
    assert parts and all(r["verdict"] == "verified" for r in parts)


def test_a_loose_copy_of_a_verified_attachment_is_verified(tmp_path) -> None:
    import email
    import shutil

    src = tmp_path / "src"
    manifest = build_sample(src / "leak", keys_out=src / "keys.zone")
    msg = next(m for m in manifest.messages if m.attachments and m.dkim == "pass" and not m.tampering
               and m.key_bits and m.key_bits >= 2048
               and any("!" not in loc.path and "#" not in loc.path and loc.dkim == "pass" for loc in m.locations))
    loc = next(loc for loc in msg.locations if "!" not in loc.path and "#" not in loc.path and loc.dkim == "pass")
    parsed = email.message_from_bytes((src / "leak" / loc.path).read_bytes())
    part = next(p for p in parsed.walk() if p.get_filename() == msg.attachments[0]["filename"])
    loose = src / "leak" / "loose" / "copy-of-attachment.bin"
    loose.parent.mkdir()
    loose.write_bytes(part.get_payload(decode=True))
    ctx = CheckContext(keys=KeyStore.from_files([src / "keys.zone"]))
    scan_dump(src / "leak", tmp_path / "case.db", check_ctx=ctx)
    row = next(r for r in export_lines(tmp_path / "case.db") if r["path"] == "loose/copy-of-attachment.bin")
    assert row["verdict"] == "verified"
    assert [f["summary"] for f in row["findings"] if f["check"] == "inherit"] == [
        "Identical bytes (same SHA-256) to an item proven elsewhere in the case."]
    shutil.rmtree(src)
