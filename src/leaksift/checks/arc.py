"""ARC (RFC 8617): the seals forwarders and lists add, and what the first of them saw.

An ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results, numbered i=1, 2, ...) is added by
each intermediary that handles the message. dkimpy validates the chain; `ArchiveARC` runs its validation with
the key store as DNS and without today's clock (see `_validate_without_clock`), and the check reports the chain
result (`cv=`) and each hop's sealer.

What a valid chain adds to DKIM: the ARC-Authentication-Results of hop 1 is text, like any
Authentication-Results, but it is sealed, so it says what the first intermediary really saw. When a domain's
DKIM signature no longer verifies but a valid chain's first results say dkim=pass for that domain, the message
was changed by an intermediary after the signature was checked: a mailing list or forwarder, not a forger
after delivery. That supports the message; it proves nothing by itself (an intermediary may change anything).

Effects: a valid chain supports (the last sealer vouches for the message as it passed it on); a failed or
ended chain is info (ARC implementations often disagree; DKIM is the judge); a chain whose sealers' keys are
not in the case is unverifiable, never failed.
"""

from __future__ import annotations

import itertools
import re
import types
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import dkim

from ..keys import KeyRecord, KeyStore
from ..model import Finding, ItemRecord
from .authres import dkim_results, header_text, passes_for
from .base import CheckContext
from .dkimverify import (ArchiveDKIM, KeyUnusable, SignatureInvalid, key_accepts, message_bytes, parse_key)

CHECK = "arc"
ARC_SEAL = re.compile(rb"^arc-seal[ \t]*:", re.I | re.M)
ARC_HEADERS = (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")
MAX_KEY_COMBINATIONS = 16  # when a sealer's selector has several records, the chain is tried with each
MAX_TEXT = 2000


def _validate_without_clock(sig: dict[bytes, bytes], mandatory_fields: list[bytes] | None = None,
                            arc: bool = False) -> None:
    """dkimpy's tag validation with t= and x= kept out of reach of today's clock (their syntax still checked)."""
    checked = {k: v for k, v in sig.items() if k not in (b"t", b"x")}
    if mandatory_fields is None:
        dkim.validate_signature_fields(checked, arc=arc)
    else:
        dkim.validate_signature_fields(checked, mandatory_fields, arc)
    for tag in (b"t", b"x"):
        if tag in sig and not re.fullmatch(rb"\d{1,12}", sig[tag]):
            raise dkim.ValidationError(f"{tag.decode()}= is not a decimal number")


# dkimpy's ARC.verify_instance, unchanged, but with its module globals seen through a copy in which tag
# validation does not consult the clock: no global state is touched and no dkimpy code is copied.
_verify_instance = types.FunctionType(
    dkim.ARC.verify_instance.__code__, {**vars(dkim), "validate_signature_fields": _validate_without_clock},
    "verify_instance", dkim.ARC.verify_instance.__defaults__, dkim.ARC.verify_instance.__closure__)


class ArchiveARC(dkim.ARC):
    """dkimpy's ARC validation, judged at the message's own time rather than today."""

    verify_instance = _verify_instance

    def __init__(self, message: bytes) -> None:
        try:
            super().__init__(message)
        except IndexError as e:  # dkimpy's parser on a folded line before any header field
            raise dkim.MessageFormatError("a continuation line comes before any header field") from e


@dataclass
class ChainResult:
    """An ARC chain as validated: dkimpy's cv (None when a sealer recorded a failure: the chain ended)."""

    cv: str  # pass, fail or none (RFC 8617: a chain ended by a recorded failure is a fail)
    ended: bool  # a sealer had already recorded cv=fail
    reason: str
    instances: list[dict[str, Any]] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)  # sealer keys not in the case

    @property
    def verifiable(self) -> bool:
        return not self.missing_keys

    def first_results(self) -> str | None:
        first = [i for i in self.instances if i["instance"] == 1]
        return first[0]["results"] if first else None

    def origin_passed(self, domain: str) -> dict[str, Any] | None:
        """Evidence that hop 1 of a valid chain saw a dkim=pass for `domain`; None if it did not, or cannot say."""
        text = self.first_results()
        if self.cv != "pass" or text is None or not passes_for(text, domain):
            return None
        first = [i for i in self.instances if i["instance"] == 1][0]
        return {"cv": "pass", "first_hop_sealer": first["sealer"], "first_hop_results": text[:MAX_TEXT]}


def arc_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n.lower() in ARC_HEADERS]


def _sealer_names(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """(selector, domain) of every ARC-Seal and ARC-Message-Signature, in order, once each."""
    names: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() not in (b"arc-seal", b"arc-message-signature"):
            continue
        try:
            tags = dkim.util.parse_tag_value(value)
        except dkim.util.InvalidTagValueList:
            continue
        if b"s" in tags and b"d" in tags:
            pair = (tags[b"s"].decode("ascii", "replace"), tags[b"d"].decode("ascii", "replace").lower())
            if pair not in names:
                names.append(pair)
    return names


def _dnsfunc(records: dict[bytes, bytes]) -> Callable[..., bytes | None]:
    """A dkimpy dnsfunc answering from chosen records; None (no key) for anything else. Never touches DNS."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.lower().rstrip(b"."))
    return lookup


def validate_chain(message: bytes, keys: KeyStore) -> ChainResult | None:
    """The ARC chain of a message validated with the key store; None when the message has no ARC header."""
    arc = ArchiveARC(message)
    sets = arc_headers(arc.headers)
    if not sets:
        return None
    names = _sealer_names(sets)
    choices: list[list[tuple[bytes, bytes]]] = []
    missing = []
    for selector, domain in names:
        dns_name = f"{selector}._domainkey.{domain}".lower().encode()
        records = [r.record for r in keys.lookup(selector, domain)]
        if not records:
            missing.append(dns_name.decode())
        choices.append([(dns_name, r) for r in records] or [(dns_name, b"")])
    result: tuple[Any, list[dict[str, Any]], str] | None = None
    for combo in itertools.islice(itertools.product(*choices), MAX_KEY_COMBINATIONS):
        records = {n: r for n, r in combo if r}
        try:
            result = ArchiveARC(message).verify(dnsfunc=_dnsfunc(records))
        except (dkim.DKIMException, ValueError, IndexError) as e:
            # dkimpy lets a bad bh= (binascii.Error), an empty l= (ValueError) or an AMS it cannot find again
            # (IndexError) escape: each is a malformed chain, which fails.
            result = (dkim.CV_Fail, [], f"{type(e).__name__}: {e}")
        if result[0] == dkim.CV_Pass:
            break
    assert result is not None
    cv, data, reason = result
    return ChainResult("fail" if cv is None else cv.decode(), cv is None, str(reason),
                       [_instance(d) for d in data], missing)


def _instance(data: dict[str, Any]) -> dict[str, Any]:
    def text(key: str) -> str | None:
        value = data.get(key)
        return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return {"instance": data.get("instance"),
            "sealer": {"domain": text("as-domain"), "selector": text("as-selector")},
            "signer": {"domain": text("ams-domain"), "selector": text("ams-selector")},
            "seal_valid": bool(data.get("as-valid")), "message_signature_valid": bool(data.get("ams-valid")),
            "cv": text("cv"), "results": header_text(data["aar-value"])[:MAX_TEXT] if data.get("aar-value") else None}


class ArcCheck:
    name: ClassVar[str] = CHECK

    def applies(self, rec: ItemRecord) -> bool:
        return rec.kind == "email" and rec.raw is not None

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        message = message_bytes(rec)
        if not message or not ARC_SEAL.search(message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]):
            return []  # most mail has no ARC: skip parsing it a second time
        try:
            chain = validate_chain(message, ctx.keys)
        except dkim.DKIMException as e:
            return [Finding(CHECK, "The message's ARC headers could not be read.", "info",
                            {"error": f"{type(e).__name__}: {e}"[:500]})]
        if chain is None:
            return []
        found = [_chain_finding(chain)]
        if chain.cv == "pass":
            found += _origin_findings(message, ctx.keys, chain)
        return found


def _sealers(chain: ChainResult) -> str:
    hops = sorted(chain.instances, key=lambda i: i["instance"] or 0)
    return ", ".join(f"{i['sealer']['domain']} (hop {i['instance']})" for i in hops) or "unknown sealers"


def _chain_finding(chain: ChainResult) -> Finding:
    evidence = {"cv": chain.cv, "ended": chain.ended, "reason": chain.reason, "hops": len(chain.instances),
                "instances": chain.instances, "missing_keys": chain.missing_keys}
    if not chain.verifiable:
        return Finding(CHECK, f"The message carries an ARC chain, but the keys of its sealers "
                              f"({', '.join(chain.missing_keys)}) are not in the case: it is unverifiable, not "
                              f"failed.", "info", {**evidence, "status": "no_key"})
    if chain.cv == "pass":
        return Finding(CHECK, f"The ARC chain is valid (cv=pass): every forwarder's seal checks out, sealed by "
                              f"{_sealers(chain)}.", "supports", {**evidence, "status": "pass"})
    if chain.ended:
        return Finding(CHECK, "The ARC chain ended: a forwarder recorded that it could not validate the chain "
                              "it received (cv=fail), so the chain vouches for nothing.", "info",
                       {**evidence, "status": "ended"})
    if "unknown signature algorithm" in chain.reason:
        return Finding(CHECK, "The ARC chain uses a signature algorithm that ARC validators do not support "
                              "(RFC 8617 defines only RSA-SHA256): it cannot be checked.", "info",
                       {**evidence, "status": "unsupported"})
    if chain.cv == "none":
        return Finding(CHECK, "The ARC headers do not form a chain that can be checked (cv=none).", "info",
                       {**evidence, "status": "none"})
    return Finding(CHECK, f"The ARC chain does not validate (cv=fail: {chain.reason[:200]}): the message changed "
                          f"after the last seal, or a sealer's software is at fault. DKIM is the judge here.",
                   "info", {**evidence, "status": "fail"})


def _origin_findings(message: bytes, keys: KeyStore, chain: ChainResult) -> list[Finding]:
    """DKIM signatures that no longer verify, or are gone, though hop 1 of the valid chain saw them pass."""
    dk = ArchiveDKIM(message)
    text = chain.first_results() or ""
    found, seen = [], set()
    for idx in range(len(dk.signature_headers())):
        try:
            sig = dk.signature(idx)
        except SignatureInvalid:
            continue
        seen.add(sig.domain)
        evidence = chain.origin_passed(sig.domain)
        if evidence is None:
            continue
        status = _dkim_status(dk, sig, keys.lookup(sig.selector, sig.domain))
        if status in ("verified", "no_key"):
            continue
        found.append(Finding(
            CHECK, f"{sig.domain}'s signature no longer checks out ({status}), but the valid ARC chain shows it "
                   f"passed at the first hop: the message is consistent with a mailing list or forwarder "
                   f"changing it, not with a forgery after delivery.", "supports",
            {**evidence, "domain": sig.domain, "selector": sig.selector, "signature": idx, "dkim_now": status}))
    for domain in sorted(set(_passed_domains(text)) - seen):
        found.append(Finding(
            CHECK, f"The first hop of the valid ARC chain saw a passing signature from {domain} that the message "
                   f"no longer carries: a forwarder removed it.", "supports",
            {**(chain.origin_passed(domain) or {}), "domain": domain, "dkim_now": "absent"}))
    return found


def _passed_domains(text: str) -> list[str]:
    return [r["domain"] for r in dkim_results(text) if r["result"] == "pass" and r["domain"]]


def _dkim_status(dk: ArchiveDKIM, sig: Any, records: list[KeyRecord]) -> str:
    """A quick DKIM result, without undos: verified, body hash mismatch, header signature fails, no_key."""
    keys = []
    for rec in records:
        try:
            key = parse_key(rec.record)
        except KeyUnusable:
            continue
        if key_accepts(key, sig) is None:
            keys.append(key)
    if not keys:
        return "no_key"
    headers = any(dk.headers_verify(sig, key) for key in keys)
    body = dk.body_matches(sig)
    if headers and body:
        return "verified"
    return "body hash mismatch" if headers else "header signature fails"


CHECKS = [ArcCheck]
