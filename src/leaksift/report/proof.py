"""Proof bundles: for each verified item, what anyone needs to re-check the proof without leaksift.

A bundle (a zip) holds, per message proven by a DKIM signature:
  - `message.verified.eml`: the exact bytes that verified, after the undo that made them verify (LF line ends
    back to CRLF, mbox `>From ` escaping taken off), rebuilt here with the check's own functions and checked
    again before they are written;
  - `message.original.eml`: the bytes as the dump held them;
  - `keys/key-N.txt`: the key record(s) used, one `name record` line each, with where they came from and when
    in `manifest.json`;
  - `openssl/`: the canonical body, the signed header data, the signature and the public key as PEM, so the
    two halves can be checked with openssl alone;
  - a README with the commands.
An item proven through another (an attachment of a proven message, identical bytes elsewhere) gets a README that
names the message that proves it, and that message is bundled. The bundle also carries `verify_with_key.py`:
dkimpy's own `dkimverify` with its DNS lookup answered from a key file of the bundle (dkimpy's command has no
option for a key file). Every name inside the zip is made here; nothing from the dump becomes a path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkim.util import InvalidTagValueList, parse_tag_value

from ..checks.dkim import LOSSLESS_UNDOS
from ..checks.dkimverify import (ArchiveDKIM, KeyUnusable, PublicKey, Signature, SignatureInvalid, message_bytes,
                                 parse_key)
from ..checks.recheck import record_from_store
from ..checks.undo import mbox_variants
from ..keys import KeyRecord
from ..store.base import CaseStore

BUNDLE_VERSION = 1
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same case gives the same bundle
MAX_INHERIT_DEPTH = 4
_ITEM_ID = re.compile(r"[0-9a-f]{16}")

UNDO_TEXT = {
    "lf_to_crlf": "line ends stored as LF (as mbox, Maildir and Unix tools store mail) were put back to CRLF, as "
                  "SMTP carried them; DKIM canonicalisation works on CRLF lines",
    "mboxrd_unescape": "one `>` was taken off every body line that starts with `>From ` (or `>>From `...): the "
                       "mbox (mboxrd) escaping, which is exactly reversible",
    "mboxo_unescape": "the `>` was taken off body lines that start with `>From `: the mbox (mboxo) escaping",
}


class ProofUnavailable(Exception):
    """Why an item gets no bundle (said in the manifest, never silently)."""


@dataclass
class ProofStats:
    messages: int = 0  # messages bundled with their signature
    inherited: int = 0  # items proven through a bundled message
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass
class VerifiedMessage:
    original: bytes
    verified: bytes
    sig: Signature
    key: KeyRecord
    pubkey: PublicKey
    undo: list[str]
    signed_headers: bytes  # the header data the signature is computed over
    canonical_body: bytes  # the body as hashed (l= applied)


# --- rebuilding what verified -------------------------------------------------------------------------------

def dkim_proof(findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The evidence of the item's DKIM signature that proves it, if any."""
    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("check") == "dkim" and f.get("effect") == "proves" and ev.get("status") == "verified":
            return ev
    return None


def inherited_from(findings: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(item that proves this one, how) for an item proven through another."""
    for f in findings:
        ev = f.get("evidence") or {}
        if f.get("check") == "inherit" and f.get("effect") == "proves":
            if ev.get("message"):
                return str(ev["message"]), "part"
            if ev.get("proven_item"):
                return str(ev["proven_item"]), "copy"
    return None


def joined(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """A message from dkimpy's parse: each value keeps its folding and CRLF, then the blank line and the body."""
    return b"".join(name + b":" + value for name, value in headers) + b"\r\n" + body


def undone_body(dk: ArchiveDKIM, sig: Signature, undo: list[str]) -> bytes:
    """The body after the named undo, found as the check found it (the first variant whose hash is bh=)."""
    unknown = [u for u in undo if u not in LOSSLESS_UNDOS]
    if unknown:
        raise ProofUnavailable(f"the proof needed a lossy undo ({', '.join(unknown)}): not bundled")
    mbox = [u for u in undo if u != "lf_to_crlf"]
    if not mbox:
        if not dk.body_matches(sig):
            raise ProofUnavailable("the body no longer matches the signature")
        return dk.body
    for name, body in mbox_variants(dk.body):
        if name == mbox[0] and dk.body_matches(sig, body):
            return body
    raise ProofUnavailable(f"no {mbox[0]} variant of the body matches the signature")


class _Tape:
    """Stands in for a hash object to record the bytes dkimpy feeds it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        self.parts.append(data)


def signed_header_data(dk: ArchiveDKIM, sig: Signature) -> bytes:
    tape = _Tape()
    policy = sig.policy
    dkimpy.hash_headers(tape, policy, policy.canonicalize_headers(dk.headers), list(sig.include), sig.header,
                        sig.tags)
    return b"".join(tape.parts)


def rebuild(store: CaseStore, item: dict[str, Any], evidence: dict[str, Any],
            keys: dict[tuple[str, str], list[KeyRecord]]) -> VerifiedMessage:
    """The verified bytes of a message and the key record that verifies them, checked again here."""
    original = message_bytes(record_from_store(store, item))
    if not original:
        raise ProofUnavailable("the case does not hold the message's bytes")
    try:
        dk = ArchiveDKIM(original)
        sig = dk.signature(int(evidence.get("signature", 0)))
    except (dkimpy.DKIMException, SignatureInvalid, IndexError, ValueError) as e:
        raise ProofUnavailable(f"the signature cannot be read again: {e}") from e
    undo = [str(u) for u in evidence.get("undo") or []]
    verified = joined(dk.headers, undone_body(dk, sig, undo))
    try:
        vdk = ArchiveDKIM(verified)
        vsig = vdk.signature(sig.index)
    except (dkimpy.DKIMException, SignatureInvalid, IndexError) as e:
        raise ProofUnavailable(f"the rebuilt bytes cannot be read again: {e}") from e
    candidates = keys.get((sig.domain, sig.selector.lower()), [])
    candidates = sorted(candidates, key=lambda k: k.source != evidence.get("key_source"))
    for rec in candidates:
        try:
            pub = parse_key(rec.record)
        except KeyUnusable:
            continue
        if vdk.body_matches(vsig) and vdk.headers_verify(vsig, pub):
            canon = vdk.canonical_body(vsig)
            if vsig.length is not None:
                canon = canon[:vsig.length]
            return VerifiedMessage(original, verified, vsig, rec, pub, undo, signed_header_data(vdk, vsig), canon)
    raise ProofUnavailable(f"no key record in the case for {sig.selector}._domainkey.{sig.domain} verifies the "
                           f"rebuilt bytes")


def dkimpy_verifies(message: bytes, index: int, key_line: bytes) -> bool:
    """What stock dkimpy says, its DNS answered from the key line only (as verify_with_key.py does)."""
    name, _, record = key_line.strip().partition(b" ")

    def txt(query: bytes, timeout: int = 5) -> bytes | None:
        return record.strip() if query.lower().rstrip(b".") == name.lower().rstrip(b".") else None

    try:
        return bool(dkimpy.DKIM(message).verify(index, dnsfunc=txt))
    except dkimpy.DKIMException:
        return False


def judge_at(evidence: dict[str, Any], sig: Signature) -> int | None:
    """When an archive judges the signature (delivery, else the Date, else t=), as seconds since 1970 UTC."""
    expiry = evidence.get("expiry") if isinstance(evidence.get("expiry"), dict) else {}
    for value in (expiry.get("delivered"), expiry.get("date")):
        if not value:
            continue
        try:
            return int(datetime.fromisoformat(value).timestamp())
        except (TypeError, ValueError):
            continue
    return sig.timestamp


# --- the bundle ----------------------------------------------------------------------------------------------

def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shown(value: Any, limit: int = 500) -> str:
    """Text from the dump, safe inside a Markdown code span on one line."""
    text = re.sub(r"[\x00-\x1f\x7f`]", "?", str(value))
    return text[:limit]


def key_line(sig: Signature, record: bytes) -> bytes:
    """`selector._domainkey.domain record`: the name exactly as dkimpy will ask for it."""
    name = sig.tags[b"s"] + b"._domainkey." + sig.tags[b"d"]
    name = re.sub(rb"\s+", b"", name)
    return name + b" " + re.sub(rb"[\r\n]+", b" ", record) + b"\n"


def openssl_files(vm: VerifiedMessage) -> dict[str, bytes] | None:
    """PEM key, signed header data, signature and canonical body; None when openssl cannot take the key."""
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", parse_tag_value(vm.key.record)[b"p"]))
        if vm.pubkey.kind == "ed25519":
            public = ed25519.Ed25519PublicKey.from_public_bytes(der)
        else:
            public = serialization.load_der_public_key(der)
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signature = base64.b64decode(re.sub(rb"\s+", b"", vm.sig.tags[b"b"]))
    except (ValueError, TypeError, KeyError, InvalidTagValueList):
        return None
    files = {"key.pem": pem, "signature.bin": signature, "signed-headers.bin": vm.signed_headers,
             "canonical-body.bin": vm.canonical_body}
    if vm.pubkey.kind == "ed25519":  # Ed25519 DKIM signs the SHA-256 of the header data (RFC 8463)
        files["signed-headers.sha256"] = hashlib.sha256(vm.signed_headers).digest()
    return files


def openssl_commands(vm: VerifiedMessage) -> list[str]:
    digest = "-sha1" if vm.sig.hash_name == "sha1" else "-sha256"
    body = f"openssl dgst {digest} -binary openssl/canonical-body.bin | openssl base64 -A; echo   # must print bh="
    if vm.pubkey.kind == "ed25519":
        head = ("openssl pkeyutl -verify -pubin -inkey openssl/key.pem -rawin -in openssl/signed-headers.sha256 "
                "-sigfile openssl/signature.bin")
    else:
        head = (f"openssl dgst {digest} -verify openssl/key.pem -signature openssl/signature.bin "
                f"openssl/signed-headers.bin")
    return [body, head]


class BundleWriter:
    """Writes the zip entry by entry: one message's files at a time, only the manifest kept until the end."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names: set[str] = set()

    def add(self, name: str, data: bytes | str, executable: bool = False) -> None:
        if name in self.names:
            return
        info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
        self.zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)
        self.names.add(name)


def _folder(item_id: str, n: int) -> str:
    return f"items/{item_id}" if _ITEM_ID.fullmatch(item_id) else f"items/item-{n}"


def _key_entry(rec: KeyRecord, pub: PublicKey, line: bytes, key_files: list[dict[str, Any]]) -> dict[str, Any]:
    origin = next((f for f in key_files if f.get("path") == rec.source), None)
    return {"file": "keys/key-1.txt", "name": line.split(b" ", 1)[0].decode("ascii", "replace"),
            "record": rec.record.decode("ascii", "replace"), "record_sha256": _sha(rec.record),
            "key_type": pub.kind, "key_bits": pub.bits, "source": rec.source,
            "source_kind": "dns" if rec.source == "dns" else "key file",
            "source_file_sha256": origin.get("sha256") if origin else None,
            "imported_at": origin.get("added_at") if origin else None, "fetched_at": rec.fetched_at,
            "first_seen": rec.first_seen, "last_seen": rec.last_seen}


def message_readme(item: dict[str, Any], vm: VerifiedMessage, entry: dict[str, Any], has_openssl: bool) -> str:
    sig = vm.sig
    at = f" --at {entry['judge_at']}" if entry.get("judge_at") else ""
    undo = "".join(f"- `{u}`: {UNDO_TEXT.get(u, u)}.\n" for u in vm.undo) or "- none: the bytes verified as held.\n"
    key = entry["keys"][0]
    when = key["fetched_at"] and f"fetched from DNS at {key['fetched_at']}" or \
        f"from the key file `{_shown(key['source'])}` (SHA-256 {key['source_file_sha256'] or '?'}), imported " \
        f"into the case at {key['imported_at'] or '?'}" + \
        (f"; the key archive saw it from {key['first_seen'] or '?'} to {key['last_seen'] or '?'}"
         if key["first_seen"] or key["last_seen"] else "")
    lines = [
        f"# Proof of item {item['id']}",
        "",
        f"Path in the dump: `{_shown(item['path'])}`",
        f"Signed by `{_shown(sig.domain)}` (selector `{_shown(sig.selector)}`, {sig.algorithm}, "
        f"c={sig.canonicalization}), DKIM-Signature number {sig.index} from the top (dkimverify's --index).",
        "",
        "## Files",
        f"- `message.verified.eml`: the bytes that verify (SHA-256 {entry['verified_sha256']}).",
        f"- `message.original.eml`: the bytes as the dump held them (SHA-256 {entry['original_sha256']}).",
        f"- `keys/key-1.txt`: the key record ({key['key_type']}, {key['key_bits']} bits), {when}.",
        "",
        "## What was undone to get from the original to the verified bytes",
        undo,
        "Compare them: `diff <(tr -d '\\r' < message.verified.eml) <(tr -d '\\r' < message.original.eml)`.",
        "",
        "## Re-check with dkimpy (pip install dkimpy)",
        "dkimpy's `dkimverify` asks DNS for the key; `verify_with_key.py` (top of the bundle) runs that same",
        "command with DNS answered from the key file only:",
        "```",
        f"python3 ../../verify_with_key.py keys/key-1.txt --index {sig.index}{at} < message.verified.eml",
        "```",
        "It prints `signature ok`. If the domain still publishes the same key, plain DNS works too:",
        f"`dkimverify --index {sig.index} < message.verified.eml`.",
    ]
    if has_openssl:
        lines += ["", "## Re-check with openssl",
                  "`openssl/` holds the canonical body, the header data the signature covers (the signed header",
                  "fields and the DKIM-Signature without its b= value, canonicalised), the decoded b= and the key:",
                  "```", *openssl_commands(vm), "```",
                  f"The first must print the signature's bh= (`{sig.body_hash_tag.decode('ascii', 'replace')}`);",
                  "the second prints `Verified OK`."]
    if not entry["dkimpy_verifies_today"]:
        lines += ["", "Note: dkimpy alone refuses this signature today: it judges the expiry (x=) against today's "
                      "clock, or refuses keys under 1024 bits. An archive judges x= when the message was delivered: "
                      + (f"`--at {entry['judge_at']}` above is that time." if at else "the message gives no time.")]
    return "\n".join(lines) + "\n"


def inherited_readme(item: dict[str, Any], origin: str, how: str) -> str:
    what = ("is a part (attachment) of message" if how == "part"
            else "has the same bytes (same SHA-256) as item")
    return (f"# Item {item['id']}\n\nPath in the dump: `{_shown(item['path'])}`\n"
            f"SHA-256: {item.get('sha256')}\n\nThis item is proven through another: it {what} `{origin}`, "
            f"whose DKIM proof is in `items/{origin}/` of this bundle. Verify that message, then find this item in "
            f"it (for a part: the attachment at the path above, decoded) and compare its SHA-256 with the one "
            f"above.\n")


TOP_README = """# leaksift proof bundle

Each folder under `items/` is one item of the case:
- a message proven by a DKIM signature holds the exact bytes that verified (`message.verified.eml`), the bytes
  as the dump held them (`message.original.eml`), the key record used (`keys/`), openssl inputs (`openssl/`)
  and a README with the commands;
- an item proven through another (an attachment of a proven message, or identical bytes) holds a README naming
  the message that proves it, which is bundled too.

`manifest.json` lists every item: id, path, SHA-256 of the verified bytes, signing domain and selector, the key
record with its SHA-256, source and dates, and the undo applied. Items that could not be bundled are listed
under `skipped` with the reason.

`verify_with_key.py` runs dkimpy's own `dkimverify` command with its DNS lookup replaced by the records of a key
file (`pip install dkimpy`, then `python3 verify_with_key.py KEYFILE --index N < message.verified.eml`). It reads
nothing else: the key comes only from the file you give it.
"""

VERIFY_WITH_KEY = '''#!/usr/bin/env python3
"""dkimpy's dkimverify, DNS answered from a key file: verify_with_key.py KEYFILE [--index N] [--at EPOCH] < MSG

KEYFILE holds lines `selector._domainkey.domain record` (`#` starts a comment). Only a name in the file is
answered; any other lookup answers nothing, so the key cannot come from anywhere else. dkimpy judges a
signature's x= (expiry) against the clock: --at judges it at that time instead (seconds since 1970 UTC), e.g.
when the message was delivered.
"""
import sys
import types

import dkim
from dkim import dkimverify


def load(path):
    records = {}
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith(b"#"):
                name, _, record = line.partition(b" ")
                records[name.lower().rstrip(b".")] = record.strip()
    return records


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    records = load(sys.argv[1])
    args = sys.argv[2:]
    if "--at" in args:  # judge t=/x= at this time (seconds since 1970 UTC) instead of now
        i = args.index("--at")
        at = float(args[i + 1])
        del args[i:i + 2]
        dkim.time = types.SimpleNamespace(time=lambda: at)

    def txt(name, timeout=5):
        return records.get(name.lower().rstrip(b"."))

    verify = dkim.DKIM.verify

    def verify_from_file(self, idx=0, dnsfunc=None):
        return verify(self, idx, dnsfunc=txt)

    dkim.DKIM.verify = verify_from_file
    sys.argv = [sys.argv[0]] + args
    try:
        dkimverify.main()
    except dkim.DKIMException as e:
        print("signature verification failed:", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
'''


class ProofBuilder:
    def __init__(self, store: CaseStore, writer: BundleWriter) -> None:
        self.store, self.writer = store, writer
        self.keys: dict[tuple[str, str], list[KeyRecord]] = {}
        for rec in store.keys():
            self.keys.setdefault((rec.domain, rec.selector.lower()), []).append(rec)
        self.key_files = store.key_files()
        self.done: dict[str, str | None] = {}  # item id -> folder, or None when it got no bundle
        self.manifest: list[dict[str, Any]] = []
        self.stats = ProofStats()

    def add(self, item_id: str, depth: int = 0) -> str | None:
        """Bundle one item (and what proves it); returns its folder, or None (the reason is in stats.skipped)."""
        if item_id in self.done:
            return self.done[item_id]
        self.done[item_id] = None
        item = self.store.item(item_id)
        try:
            if item is None:
                raise ProofUnavailable("no such item")
            folder = self._add(item, depth)
        except ProofUnavailable as e:
            self.stats.skipped.append({"item_id": item_id, "reason": str(e)})
            return None
        self.done[item_id] = folder
        return folder

    def _add(self, item: dict[str, Any], depth: int) -> str:
        if item["verdict"] != "verified":
            raise ProofUnavailable(f"the item's verdict is {item['verdict']}, not verified")
        evidence = dkim_proof(item["findings"])
        if evidence is not None:
            return self._message(item, evidence)
        origin = inherited_from(item["findings"])
        if origin is None:
            checks = sorted({f["check"] for f in item["findings"] if f.get("effect") == "proves"})
            raise ProofUnavailable(f"proven by {', '.join(checks) or 'nothing'}, not by a DKIM signature")
        if depth >= MAX_INHERIT_DEPTH or self.add(origin[0], depth + 1) is None:
            raise ProofUnavailable(f"the item that proves it ({origin[0]}) could not be bundled")
        folder = _folder(item["id"], len(self.manifest))
        self.writer.add(f"{folder}/README.md", inherited_readme(item, origin[0], origin[1]))
        self.manifest.append({"item_id": item["id"], "path": item["path"], "sha256": item["sha256"],
                              "proven_by": origin[0], "how": origin[1], "folder": folder})
        self.stats.inherited += 1
        return folder

    def _message(self, item: dict[str, Any], evidence: dict[str, Any]) -> str:
        vm = rebuild(self.store, item, evidence, self.keys)
        line = key_line(vm.sig, vm.key.record)
        folder = _folder(item["id"], len(self.manifest))
        entry = {"item_id": item["id"], "path": item["path"], "sha256": item["sha256"], "folder": folder,
                 "verified_file": "message.verified.eml", "verified_sha256": _sha(vm.verified),
                 "original_file": "message.original.eml", "original_sha256": _sha(vm.original),
                 "domain": vm.sig.domain, "selector": vm.sig.selector, "signature_index": vm.sig.index,
                 "algorithm": vm.sig.algorithm, "canonicalization": vm.sig.canonicalization,
                 "body_hash": vm.sig.body_hash_tag.decode("ascii", "replace"), "undo": vm.undo,
                 "keys": [_key_entry(vm.key, vm.pubkey, line, self.key_files)],
                 "dkimpy_verifies_today": dkimpy_verifies(vm.verified, vm.sig.index, line)}
        entry["judge_at"] = None if entry["dkimpy_verifies_today"] else judge_at(evidence, vm.sig)
        ossl = openssl_files(vm)
        w = self.writer
        w.add(f"{folder}/message.verified.eml", vm.verified)
        w.add(f"{folder}/message.original.eml", vm.original)
        w.add(f"{folder}/keys/key-1.txt", b"# " + vm.key.source.encode("utf-8", "replace").replace(b"\n", b" ")
              + b"\n" + line)
        for name, data in (ossl or {}).items():
            w.add(f"{folder}/openssl/{name}", data)
        entry["openssl"] = openssl_commands(vm) if ossl else None
        w.add(f"{folder}/README.md", message_readme(item, vm, entry, ossl is not None))
        self.manifest.append(entry)
        self.stats.messages += 1
        return folder


def verified_ids(store: CaseStore) -> Iterator[str]:
    for item in store.verified_items():
        yield item["id"]


def write_bundle(store: CaseStore, item_ids: Iterable[str], output: Path) -> ProofStats:
    """Write the proof bundle of these items to `output` (a zip), atomically."""
    output = Path(output)
    part = output.with_name(output.name + ".part")
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            writer = BundleWriter(zf)
            builder = ProofBuilder(store, writer)
            for item_id in item_ids:
                builder.add(item_id)
            writer.add("README.md", TOP_README)
            writer.add("verify_with_key.py", VERIFY_WITH_KEY, executable=True)
            writer.add("manifest.json", json.dumps(
                {"bundle_version": BUNDLE_VERSION, "items": builder.manifest, "skipped": builder.stats.skipped},
                ensure_ascii=False, indent=1, default=str))
        os.replace(part, output)
    finally:
        if part.exists():
            part.unlink()
    return builder.stats
