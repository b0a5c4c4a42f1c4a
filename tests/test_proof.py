"""Proof bundles: unpacked, each proof re-checks with dkimpy's own command-line tool fed only the bundle's key."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leaksift.cli import app
from leaksift.sample import build_sample

runner = CliRunner()

# Written here, not taken from the bundle: dkimpy's dkimverify main with DNS answered from one key file.
STUB = r'''
import sys
import dkim
from dkim import dkimverify

key_file, at = sys.argv[1], sys.argv[2]
records = {}
for line in open(key_file, "rb"):
    line = line.strip()
    if line and not line.startswith(b"#"):
        name, _, record = line.partition(b" ")
        records[name.lower().rstrip(b".")] = record.strip()
if at != "now":
    dkim.time = type("Clock", (), {"time": staticmethod(lambda: float(at))})
real = dkim.DKIM.verify
dkim.DKIM.verify = lambda self, idx=0, dnsfunc=None: real(self, idx, dnsfunc=lambda n, timeout=5:
                                                         records.get(n.lower().rstrip(b".")))
sys.argv = ["dkimverify"] + sys.argv[3:]
try:
    dkimverify.main()
except dkim.DKIMException as e:
    print("signature verification failed:", e)
    sys.exit(1)
'''


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    base = tmp_path_factory.mktemp("proof")
    build_sample(base / "leak", keys_out=base / "keys.zone", emails=60, documents=24)
    db = base / "case.db"
    res = runner.invoke(app, ["scan", str(base / "leak"), "--db", str(db), "--keys", str(base / "keys.zone"),
                              "-j", "2", "-q"])
    assert res.exit_code == 0, res.output
    out = base / "proofs.zip"
    res = runner.invoke(app, ["proof", "--db", str(db), "--all-verified", "--output", str(out)])
    assert res.exit_code == 0, res.output
    unpacked = base / "unpacked"
    with zipfile.ZipFile(out) as zf:
        for name in zf.namelist():  # every name is one the bundle made: no absolute path, no '..'
            assert re.fullmatch(r"(README\.md|manifest\.json|verify_with_key\.py|items/[0-9a-f]{16}/"
                                r"(README\.md|message\.(verified|original)\.eml|keys/key-1\.txt|openssl/[a-z0-9.-]+))",
                                name), name
        zf.extractall(unpacked)
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    stub = base / "stub_dkimverify.py"
    stub.write_text(STUB)
    return unpacked, manifest, db


def _verify(stub_dir: Path, folder: Path, entry: dict, message: bytes, script: Path | None = None) -> tuple[int, str]:
    at = str(entry["judge_at"]) if entry.get("judge_at") else "now"
    if script is None:
        cmd = [sys.executable, str(stub_dir / "stub_dkimverify.py"), str(folder / "keys/key-1.txt"), at]
    else:
        cmd = [sys.executable, str(script), str(folder / "keys/key-1.txt")] + (["--at", at] if at != "now" else [])
    cmd += ["--index", str(entry["signature_index"])]
    p = subprocess.run(cmd, input=message, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def _messages(manifest: dict) -> list[dict]:
    return [e for e in manifest["items"] if "verified_sha256" in e]


def test_bundle_reverifies_and_one_changed_byte_fails(bundle) -> None:
    unpacked, manifest, _ = bundle
    stub_dir = unpacked.parent
    entry = next(e for e in _messages(manifest) if e["undo"] == [] and not e.get("judge_at"))
    folder = unpacked / entry["folder"]
    message = (folder / "message.verified.eml").read_bytes()
    assert hashlib.sha256(message).hexdigest() == entry["verified_sha256"]
    rc, out = _verify(stub_dir, folder, entry, message)
    assert rc == 0 and "signature ok" in out, out
    # The bundle's own wrapper says the same.
    rc, out = _verify(stub_dir, folder, entry, message, unpacked / "verify_with_key.py")
    assert rc == 0 and "signature ok" in out, out
    body_at = message.index(b"\r\n\r\n") + 4
    pos = next(i for i in range(body_at, len(message)) if message[i:i + 1].isalpha())
    changed = message[:pos] + bytes([message[pos] ^ 0x20]) + message[pos + 1:]
    rc, out = _verify(stub_dir, folder, entry, changed)
    assert rc != 0 and "signature ok" not in out
    # A key that is not the signer's does not verify either: the stub answers only from the key file.
    wrong = folder.parent.parent.parent / "wrong-key"
    wrong.mkdir(exist_ok=True)
    (wrong / "keys").mkdir(exist_ok=True)
    line = (folder / "keys/key-1.txt").read_bytes().splitlines()[-1]
    name, record = line.split(b" ", 1)
    (wrong / "keys/key-1.txt").write_bytes(b"other._domainkey.example " + record + b"\n")
    rc, _ = _verify(stub_dir, wrong, entry, message)
    assert rc != 0


def test_undone_transformation_verifies_from_its_bundle(bundle) -> None:
    unpacked, manifest, _ = bundle
    stub_dir = unpacked.parent
    entry = next(e for e in _messages(manifest) if "mboxrd_unescape" in e["undo"])
    folder = unpacked / entry["folder"]
    verified = (folder / "message.verified.eml").read_bytes()
    original = (folder / "message.original.eml").read_bytes()
    assert re.search(rb"\n>+From ", original) and b"\r\n" not in original  # as the mbox held it
    assert hashlib.sha256(original).hexdigest() == entry["original_sha256"] == entry["sha256"]
    rc, out = _verify(stub_dir, folder, entry, verified)
    assert rc == 0 and "signature ok" in out, out
    rc, _ = _verify(stub_dir, folder, entry, original)
    assert rc != 0  # the undo is what makes it verify
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "mboxrd_unescape" in readme and "verify_with_key.py keys/key-1.txt" in readme


def test_expired_signature_rechecks_at_delivery_time(bundle) -> None:
    unpacked, manifest, _ = bundle
    expired = [e for e in _messages(manifest) if e.get("judge_at")]
    if not expired:
        pytest.skip("this sample has no signature with an expiry in the past")
    entry = expired[0]
    folder = unpacked / entry["folder"]
    message = (folder / "message.verified.eml").read_bytes()
    rc, out = _verify(unpacked.parent, folder, entry, message, unpacked / "verify_with_key.py")
    assert rc == 0 and "signature ok" in out, out
    assert f"--at {entry['judge_at']}" in (folder / "README.md").read_text(encoding="utf-8")


def test_manifest_keys_and_inherited_items(bundle) -> None:
    unpacked, manifest, db = bundle
    messages = _messages(manifest)
    assert messages and manifest["skipped"] == []
    for e in messages:
        key = e["keys"][0]
        assert key["source"].endswith("keys.zone") and key["source_file_sha256"] and key["imported_at"]
        assert key["record_sha256"] == hashlib.sha256(key["record"].encode()).hexdigest()
        assert key["name"] == f"{e['selector']}._domainkey.{e['domain']}"
        assert e["domain"] and e["selector"] and isinstance(e["undo"], list)
    inherited = [e for e in manifest["items"] if "proven_by" in e]
    assert any(e["how"] == "part" for e in inherited)
    folders = {e["item_id"]: e["folder"] for e in messages}
    for e in inherited:
        assert e["proven_by"] in folders  # the message that proves it is in the bundle
        assert e["proven_by"] in (unpacked / e["folder"] / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_recipe(bundle) -> None:
    unpacked, manifest, _ = bundle
    entry = next(e for e in _messages(manifest) if e["algorithm"] == "rsa-sha256" and e["openssl"])
    folder = unpacked / entry["folder"]
    body_cmd, sig_cmd = entry["openssl"]
    out = subprocess.run(body_cmd, shell=True, cwd=folder, capture_output=True, text=True, timeout=30).stdout
    assert out.strip() == entry["body_hash"]
    p = subprocess.run(sig_cmd, shell=True, cwd=folder, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "Verified OK" in p.stdout
    (folder / "openssl/signed-headers.bin").write_bytes((folder / "openssl/signed-headers.bin").read_bytes() + b" ")
    p = subprocess.run(sig_cmd, shell=True, cwd=folder, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0


def test_items_named_on_the_command_line(bundle, tmp_path: Path) -> None:
    unpacked, manifest, db = bundle
    inherited = next(e for e in manifest["items"] if e.get("how") == "part")
    out = tmp_path / "one.zip"
    res = runner.invoke(app, ["proof", inherited["item_id"], "--db", str(db), "--output", str(out)])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        one = json.loads(zf.read("manifest.json"))
    assert f"items/{inherited['proven_by']}/message.verified.eml" in names  # the parent message comes along
    assert [e["item_id"] for e in one["items"]] == [inherited["proven_by"], inherited["item_id"]]
    res = runner.invoke(app, ["proof", "0" * 16, "--db", str(db), "--output", str(tmp_path / "none.zip")])
    assert res.exit_code == 1 and "no such item" in res.output
    res = runner.invoke(app, ["proof", "--db", str(db), "--output", str(tmp_path / "x.zip")])
    assert res.exit_code != 0
