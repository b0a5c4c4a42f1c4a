"""ARC check: chains sealed here (a small RFC 8617 sealer on dkimpy's hashing) validated with the key store."""

from __future__ import annotations

import base64
import hashlib
import json

import dkim
from dkim.canonicalization import CanonicalizationPolicy

from leaksift.checks.arc import ArcCheck, ArchiveARC, validate_chain
from leaksift.checks.base import CheckContext
from leaksift.checks.dkim import DkimCheck
from leaksift.keys import KeyRecord, KeyStore
from leaksift.model import Finding
from test_check_dkim import BANK, CAMPAIGN, T0, item, main, message, sign, store

RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
SEALER = BANK  # bank.example plays the list server here: a 1024-bit RSA key dkimpy accepts for ARC
AMS_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def _sign_header(name: bytes, value: bytes, include: list[bytes], headers: list) -> bytes:
    """b= for a header whose value ends with 'b=': hash the selected headers, then the header itself."""
    h = hashlib.sha256()
    dkim.hash_headers(h, RELAXED, RELAXED.canonicalize_headers(headers), include, (name, b" " + value), {})
    return base64.b64encode(SEALER.sign_digest(h.digest()))


def seal(msg: bytes, results: str, instance: int = 1, cv: str = "none", t: int = T0 + 120,
         extra: bytes = b"") -> bytes:
    """One ARC set (AAR, AMS, AS) on top of msg, as a list server adds it."""
    d, s = SEALER.domain.encode(), SEALER.selector.encode()
    aar = b"ARC-Authentication-Results: i=%d; lists.bank.example; %s\r\n" % (instance, results.encode())
    withaar = aar + msg
    parsed = dkim.DKIM(withaar)
    bh = base64.b64encode(hashlib.sha256(RELAXED.canonicalize_body(parsed.body)).digest())
    include = AMS_HEADERS + [b"arc-authentication-results"]
    ams_value = (b"i=%d; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s; t=%d;%s h=%s; bh=%s; b=" %
                 (instance, d, s, t, extra, b":".join(include), bh))
    ams = b"ARC-Message-Signature: " + ams_value + _sign_header(b"ARC-Message-Signature", ams_value, include,
                                                                parsed.headers) + b"\r\n"
    headers = dkim.DKIM(ams + withaar).headers
    sets = sorted(((_instance(v), n.lower()) for n, v in headers if n.lower().startswith(b"arc-")))
    as_value = b"i=%d; a=rsa-sha256; cv=%s; d=%s; s=%s; t=%d; b=" % (instance, cv.encode(), d, s, t)
    # The seal covers every ARC field, hop by hop (AAR, AMS, AS of i=1, then i=2 ...); fields are picked
    # from the bottom of the message up, where the older hops are.
    b = _sign_header(b"ARC-Seal", as_value, [name for _, name in sets], headers)
    return b"ARC-Seal: " + as_value + b + b"\r\n" + ams + withaar


def _instance(value: bytes) -> int:
    return int(ArchiveARC.INSTANCE_RE.search(value).group(1))


def keys(*extra) -> KeyStore:
    return store(CAMPAIGN, SEALER, *extra)


def arc_run(raw: bytes, ks: KeyStore | None = None) -> list[Finding]:
    found = ArcCheck().run(item(raw), CheckContext(keys=ks or keys()))
    json.dumps([f.evidence for f in found])
    return found


def chain(found: list[Finding]) -> Finding:
    return [f for f in found if "cv" in f.evidence and "instances" in f.evidence][0]


def test_valid_chain_reports_cv_and_sealers() -> None:
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example")
    assert dkim.arc_verify(raw, dnsfunc=lambda n, timeout=5: SEALER.record.encode())[0] == dkim.CV_Pass
    found = arc_run(raw)
    top = chain(found)
    assert top.check == "arc" and top.effect == "supports" and top.evidence["cv"] == "pass"
    assert top.evidence["instances"][0]["sealer"] == {"domain": "bank.example", "selector": "mail2016"}
    assert "bank.example (hop 1)" in top.summary
    assert len(found) == 1  # the origin signature verifies: nothing to explain
    assert arc_run(sign(message())) == []  # no ARC headers, nothing said


def test_two_hop_chain() -> None:
    once = seal(sign(message()), "dkim=pass header.d=campaign.example")
    twice = seal(once, "arc=pass", instance=2, cv="pass", t=T0 + 240)
    top = chain(arc_run(twice))
    assert top.evidence["cv"] == "pass" and top.evidence["hops"] == 2


def test_broken_origin_with_first_hop_pass_is_consistent_with_a_list_change() -> None:
    listed = sign(message()).replace(b"48 000", b"48 000 [lien de d\xc3\xa9sinscription]")  # changed by the list
    raw = seal(listed, "dkim=pass header.d=campaign.example")
    found = arc_run(raw)
    origin = [f for f in found if f.evidence.get("dkim_now")]
    assert len(origin) == 1 and origin[0].effect == "supports"
    assert origin[0].evidence["dkim_now"] == "body hash mismatch"
    assert "list or forwarder" in origin[0].summary
    # and the DKIM check does not call it tampering: the ARC chain explains the body change
    dkim_found = DkimCheck().run(item(raw), CheckContext(keys=keys()))
    explained = [f for f in dkim_found if "arc" in f.evidence]
    assert explained and explained[0].effect == "info" and "contradicts" not in {f.effect for f in dkim_found}
    # without the chain the same change contradicts
    assert "contradicts" in {f.effect for f in DkimCheck().run(item(listed), CheckContext(keys=keys()))}


def test_first_hop_that_saw_a_failure_explains_nothing() -> None:
    listed = sign(message()).replace(b"48 000", b"480 000")
    raw = seal(listed, "dkim=fail header.d=campaign.example")
    assert not [f for f in arc_run(raw) if f.evidence.get("dkim_now")]
    assert "contradicts" in {f.effect for f in DkimCheck().run(item(raw), CheckContext(keys=keys()))}


def test_removed_signature_seen_at_first_hop() -> None:
    raw = seal(message(), "dkim=pass header.d=campaign.example")  # the list dropped the author's signature
    found = arc_run(raw)
    assert [f.evidence["dkim_now"] for f in found if "dkim_now" in f.evidence] == ["absent"]


def test_missing_sealer_key_is_unverifiable_not_failed() -> None:
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example")
    top = chain(arc_run(raw, store(CAMPAIGN)))
    assert top.evidence["status"] == "no_key" and top.effect == "info" and top.evidence["missing_keys"]


def test_change_after_the_last_seal_fails_the_chain() -> None:
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example").replace(b"48 000", b"480 000")
    top = chain(arc_run(raw))
    assert top.evidence["cv"] == "fail" and top.evidence["status"] == "fail" and top.effect == "info"
    assert not [f for f in arc_run(raw) if f.evidence.get("dkim_now")]


def test_chain_ended_by_a_recorded_failure() -> None:
    once = seal(sign(message()), "dkim=pass header.d=campaign.example")
    ended = seal(once, "arc=fail", instance=2, cv="fail", t=T0 + 240)
    top = chain(arc_run(ended))
    assert top.evidence["ended"] and top.evidence["cv"] == "fail" and top.evidence["status"] == "ended"


def test_expiry_in_a_seal_is_not_judged_by_today() -> None:
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example", extra=b" x=%d;" % (T0 + 3600))
    dns = {b"mail2016._domainkey.bank.example.": SEALER.record.encode()}
    assert dkim.arc_verify(raw, dnsfunc=lambda n, timeout=5: dns.get(n))[0] == dkim.CV_Fail  # "x= value is past"
    assert validate_chain(raw, keys()).cv == "pass"


def test_every_record_of_a_sealer_selector_is_tried() -> None:
    ks = KeyStore()
    ks.add(KeyRecord("bank.example", "mail2016", CAMPAIGN.record.encode(), "old.zone"))  # a replaced key first
    ks.add(KeyRecord("bank.example", "mail2016", SEALER.record.encode(), "new.zone"))
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example")
    assert validate_chain(raw, ks).cv == "pass"


def test_dkim_check_names_arc_for_the_dkim_summary_untouched() -> None:
    raw = seal(sign(message()), "dkim=pass header.d=campaign.example")
    assert main(DkimCheck().run(item(raw), CheckContext(keys=keys()))).effect == "proves"
