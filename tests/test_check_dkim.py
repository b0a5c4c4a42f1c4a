"""DKIM check: every finding fires on a message built to show it and stays quiet on its genuine counterpart.

Messages are signed with the sample's keys (`derive_keys`) by `DatedDKIM` (chosen t=/x=), or by dkimpy itself
where DatedDKIM has no option (rsa-sha1, l=). The last tests run the sample generator's named cases end to end.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import dkim
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from leaksift.checks.base import CheckContext
from leaksift.checks.dkim import DkimCheck
from leaksift.checks.dkimverify import ArchiveDKIM, KeyUnusable, key_accepts, parse_key
from leaksift.checks.domainkeys import DkSignature, signed_data
from leaksift.keys import KeyRecord, KeyStore
from leaksift.model import Finding, ItemRecord
from leaksift.sample.dkimsign import RELAXED, SIMPLE, DatedDKIM
from leaksift.sample.keys import derive_keys
from leaksift.sample.mailboxes import mboxrd_escape

KEYS = derive_keys(2017)
CAMPAIGN, PRESS, BANK, LISTS, GMAIL = (KEYS[d] for d in ("campaign.example", "press.example", "bank.example",
                                                         "lists.example", "gmail.example"))
SENT = datetime(2017, 3, 14, 9, 29, 58, tzinfo=timezone.utc)
T0 = int(SENT.timestamp()) + 1
BODY = "Hélène,\r\n\r\nLe virement de 48 000 € vers Atlantis Trust est parti ce matin.\r\n\r\nJulien\r\n"


def message(body: str = BODY, **headers: str | None) -> bytes:
    """A plain CRLF message; header keyword arguments use _ for - and None removes a header."""
    h: dict[str, str | None] = {
        "From": "Julien Ferrand <julien.ferrand@campaign.example>", "To": "helene.marchetti@campaign.example",
        "Subject": "Virement offshore", "Date": format_datetime(SENT), "Message-ID": "<v1@campaign.example>",
        "MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "8bit"}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None).encode() + b"\r\n" + body.encode()


def sign(msg: bytes, key=CAMPAIGN, t: int = T0, x: int | None = None, canon=RELAXED,
         include: list[bytes] | None = None) -> bytes:
    return DatedDKIM(msg, signature_algorithm=key.algorithm).sign_at(key, t, x, canon, include) + msg


def pem(key) -> bytes:
    return key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())


def delivered(raw: bytes, when: datetime = SENT + timedelta(minutes=1)) -> bytes:
    """The message as the recipient's server stored it: a Received field on top."""
    return (f"Received: from mail.campaign.example by mx.campaign.example with ESMTP id 4F2;\r\n"
            f"\t{format_datetime(when)}\r\n").encode() + raw


def store(*keys, source: str = "keys.zone", **dates: str) -> KeyStore:
    ks = KeyStore()
    for key in keys:
        ks.add(KeyRecord(domain=key.domain, selector=key.selector, record=key.record.encode(), source=source,
                         **dates))
    return ks


ALL = store(CAMPAIGN, PRESS, BANK, LISTS)


def item(raw: bytes, transforms: list[str] | tuple[str, ...] = ()) -> ItemRecord:
    return ItemRecord(id="x", path="x.eml", parent=None, source="x.eml", depth=0, kind="email",
                      mime="message/rfc822", sha256=None, size=len(raw), raw=raw, transforms=list(transforms))


def run(raw: bytes, keys: KeyStore = ALL, transforms: list[str] | tuple[str, ...] = ()) -> list[Finding]:
    found = DkimCheck().run(item(raw, transforms), CheckContext(keys=keys))
    json.dumps([f.evidence for f in found])  # evidence must be JSON-able
    return found


def main(found: list[Finding], sig: int = 0) -> Finding:
    """The one finding of a signature that carries its status (its summary, or why it could not be checked)."""
    mine = [f for f in found if f.evidence.get("signature") == sig and "status" in f.evidence]
    assert len(mine) == 1, [f.summary for f in found]
    return mine[0]


def about(found: list[Finding], text: str) -> list[Finding]:
    return [f for f in found if text in f.summary]


def effects(found: list[Finding]) -> set[str]:
    return {f.effect for f in found}


# --- the summary of a good signature ---------------------------------------------------------------------

def test_strong_signature_proves_with_its_evidence() -> None:
    found = run(delivered(sign(message())))
    top = main(found)
    assert top.effect == "proves" and top.check == "dkim"
    ev = top.evidence
    assert ev["status"] == "verified" and ev["body"] == "verified" and ev["undo"] == []
    assert (ev["domain"], ev["selector"], ev["algorithm"], ev["key_bits"]) == \
        ("campaign.example", "s2017", "rsa-sha256", 2048)
    assert ev["key_source"] == "keys.zone" and "from" in ev["covered_headers"] and "subject" in ev["covered_headers"]
    assert ev["signed_fields"]["subject"] == "Virement offshore"
    assert effects(found) <= {"proves", "info"}
    # dkimpy agrees on the same bytes (t= is 2017 and there is no x=, so today's clock does not matter here)
    assert dkim.verify(delivered(sign(message())), dnsfunc=lambda name, timeout=5: CAMPAIGN.record.encode())


def test_ed25519_signature_proves() -> None:
    top = main(run(sign(message(From="Rachel Moore <rachel.moore@press.example>"), key=PRESS)))
    assert top.effect == "proves" and top.evidence["algorithm"] == "ed25519-sha256"
    assert top.evidence["key_type"] == "ed25519"


def test_unsigned_message_is_said_so_and_signed_is_not() -> None:
    assert [f.evidence for f in run(message())] == [{"signatures": 0}]
    assert not about(run(sign(message())), "no DKIM signature")


# --- keys: none, several, unusable -----------------------------------------------------------------------

def test_missing_key_is_unverifiable_never_failed() -> None:
    found = run(sign(message(From="julien.perso@gmail.example"), key=GMAIL))
    top = main(found)
    assert top.evidence["status"] == "no_key" and top.effect == "info" and "unverifiable (no key)" in top.summary
    assert effects(found) == {"info"}
    assert main(run(sign(message()))).evidence["status"] != "no_key"


def test_every_record_of_a_selector_is_tried_and_the_winner_named() -> None:
    ks = KeyStore()
    # an older key once published under the same selector, then the real one, from another file
    ks.add(KeyRecord("campaign.example", "s2017", BANK.record.encode(), "archive-2016.jsonl",
                     first_seen="2016-01-01T00:00:00Z", last_seen="2016-12-31T00:00:00Z"))
    ks.add(KeyRecord("campaign.example", "s2017", CAMPAIGN.record.encode(), "dns-2017.zone"))
    top = main(run(sign(message()), ks))
    assert top.effect == "proves" and top.evidence["key_source"] == "dns-2017.zone"
    assert [t["result"] for t in top.evidence["keys_tried"]] == ["header signature fails", "verified"]
    only_old = KeyStore()
    only_old.add(KeyRecord("campaign.example", "s2017", BANK.record.encode(), "archive-2016.jsonl"))
    assert main(run(sign(message()), only_old)).evidence["status"] == "header_signature_fails"


def test_revoked_or_malformed_key_is_unusable_not_failed() -> None:
    p = CAMPAIGN.public_b64.encode()
    for record in (b"v=DKIM1; k=rsa; p=", b"v=DKIM1; k=rsa; p=!!notbase64", b"v=DKIM3; p=" + p, b"k=dsa; p=" + p):
        ks = KeyStore()
        ks.add(KeyRecord("campaign.example", "s2017", record, "keys.zone"))
        found = run(sign(message()), ks)
        assert main(found).evidence["status"] == "key_unusable" and effects(found) == {"info"}, record


def test_key_record_restrictions_are_honoured() -> None:
    msg = sign(message())
    sig = ArchiveDKIM(msg).signature(0)
    key = parse_key(CAMPAIGN.record.encode())
    assert key_accepts(key, sig) is None
    assert "h=sha1" in key_accepts(parse_key(CAMPAIGN.record.encode() + b"; h=sha1"), sig)
    assert "granularity" in key_accepts(parse_key(CAMPAIGN.record.encode() + b"; g=nobody"), sig)
    assert key_accepts(parse_key(CAMPAIGN.record.encode() + b"; g=*"), sig) is None
    with pytest.raises(KeyUnusable):
        parse_key(b"v=DKIM1; s=chat; p=" + CAMPAIGN.public_b64.encode())
    assert parse_key(b"v=DKIM1; s=email:chat; p=" + CAMPAIGN.public_b64.encode()).bits == 2048


def test_malformed_signature_is_info() -> None:
    raw = sign(message(), t=T0, x=T0 - 10)  # x= before t= is not a valid signature
    found = run(raw)
    assert main(found).evidence["status"] == "invalid" and "x=" in main(found).evidence["reason"]
    assert effects(found) == {"info"}


# --- body vs headers -------------------------------------------------------------------------------------

def test_changed_body_contradicts_with_both_hashes_and_headers_still_proven() -> None:
    raw = delivered(sign(message())).replace("48 000".encode(), "480 000".encode())
    found = run(raw)
    top = main(found)
    assert top.evidence["status"] == "header_only" and top.effect == "supports"
    assert top.evidence["signed_fields"]["from"].startswith("Julien Ferrand")
    body = [f for f in found if f.effect == "contradicts"]
    assert len(body) == 1 and "body was changed" in body[0].summary
    ev = body[0].evidence
    assert ev["body_hash_signed"] != ev["body_hash_computed"] and len(base64.b64decode(ev["body_hash_computed"])) == 32
    assert "contradicts" not in effects(run(delivered(sign(message()))))


def test_outlook_rebuilt_body_is_expected_and_headers_are_the_proof() -> None:
    raw = sign(message()).replace(b"\r\n\r\nJulien", b"\r\n\r\n\r\nJulien")  # Outlook re-wraps the body
    found = run(raw, transforms=["outlook_restored"])
    top = main(found)
    assert top.evidence["body"] == "header-only" and top.effect == "supports" and "Outlook" in top.summary
    assert [f.effect for f in found if "expected" in f.evidence] == ["info"]
    assert "contradicts" not in effects(found)
    assert "contradicts" in effects(run(raw))  # the same bytes as a plain .eml: no excuse


def test_changed_signed_header_weakens_with_body_still_matching() -> None:
    raw = sign(message()).replace(b"Subject: Virement offshore", b"Subject: Virement interne")
    found = run(raw)
    top = main(found)
    assert top.evidence["status"] == "header_signature_fails" and top.evidence["body"] == "verified"
    assert top.effect == "weakens" and "proves" not in effects(found)


def test_both_halves_failing_reports_both() -> None:
    raw = sign(message()).replace(b"Subject: Virement offshore", b"Subject: Autre").replace(b"48 000", b"99 000")
    found = run(raw)
    assert main(found).evidence["status"] == "failed"
    assert effects(found) >= {"weakens", "contradicts"}


# --- undos -----------------------------------------------------------------------------------------------

def test_lf_line_ends_are_undone_and_named() -> None:
    lf = sign(message()).replace(b"\r\n", b"\n")
    top = main(run(lf, transforms=["lf_line_endings"]))
    assert top.effect == "proves" and top.evidence["undo"] == ["lf_to_crlf"]
    assert main(run(lf)).evidence["undo"] == ["lf_to_crlf"]  # bare LFs are seen even when not recorded
    assert main(run(sign(message()))).evidence["undo"] == []


MBOX_BODY = ("Voici les retours :\r\n\r\nFrom the field: la salle était pleine.\r\n"
             ">From the archive: moitié moins en 2012.\r\nFrom now on, on compte.\r\n")


def test_mboxrd_escaping_is_undone_only_when_recorded() -> None:
    signed = sign(message(body=MBOX_BODY))
    stored = mboxrd_escape(signed.replace(b"\r\n", b"\n"))
    assert b">>From the archive" in stored
    top = main(run(stored, transforms=["mbox_from_escaped", "lf_line_endings"]))
    assert top.effect == "proves" and top.evidence["undo"] == ["lf_to_crlf", "mboxrd_unescape"]
    found = run(stored, transforms=["lf_line_endings"])  # ingest did not say the mbox escaped anything
    assert main(found).evidence["body"] == "header-only" and "contradicts" in effects(found)


def test_mboxo_escaping_is_undone_line_by_line() -> None:
    signed = sign(message(body=MBOX_BODY))
    stored = re.sub(rb"(?m)^From ", b">From ", signed)  # mboxo: the original >From stays as it was
    assert stored.count(b">From ") == 3
    top = main(run(stored, transforms=["mbox_from_escaped"]))
    assert top.effect == "proves" and "mboxo_unescape" in top.evidence["undo"]


LIST_ID = "Campagne interne <interne.lists.example>"


def test_list_footer_is_set_aside_where_list_id_is_present() -> None:
    signed = sign(message(List_Id=LIST_ID))
    footer = b"_______________________________________________\r\ninterne mailing list\r\nhttps://lists.example/\r\n"
    found = run(signed + footer)
    top = main(found)
    assert top.effect == "supports" and top.evidence["undo"] == ["list_footer"] and "footer" in top.summary
    shown = [f for f in found if f.evidence.get("undo") == "list_footer"]
    assert shown and "interne mailing list" in shown[0].evidence["unsigned_text"]
    assert "contradicts" not in effects(found)
    assert "contradicts" in effects(run(sign(message()) + footer))  # no List-Id: not excused


def test_list_footer_part_is_set_aside() -> None:
    body = ("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLe texte.\r\n--b1--\r\n")
    signed = sign(message(body=body, List_Id=LIST_ID, Content_Type='multipart/mixed; boundary="b1"'))
    listed = signed.replace(b"--b1--", b"--b1\r\nContent-Type: text/plain\r\n\r\nPied de liste\r\n--b1--")
    top = main(run(listed))
    assert top.evidence["status"] == "verified" and top.evidence["undo"] == ["list_footer"]


def test_list_subject_tag_is_set_aside() -> None:
    signed = sign(message(List_Id=LIST_ID))
    tagged = signed.replace(b"Subject: Virement", b"Subject: [interne] Virement")
    top = main(run(tagged))
    assert top.evidence["undo"] == ["list_subject_tag"] and top.effect == "supports"
    untagged_list = signed.replace(b"List-Id", b"X-List").replace(b"Subject: Virement", b"Subject: [interne] Virement")
    assert main(run(untagged_list)).evidence["status"] == "header_signature_fails"


def test_list_resigned_message_explains_the_authors_broken_signature() -> None:
    author = sign(message(List_Id=LIST_ID))
    changed = author.replace(b"48 000", b"48 000 (confirm\xc3\xa9)")  # the list re-encoded something
    relisted = sign(changed, key=BANK)  # the list's own server signs what it distributes
    found = run(relisted)
    author_body = [f for f in found if f.evidence.get("domain") == "campaign.example" and "resigned_by" in f.evidence]
    assert author_body and author_body[0].effect == "info"
    assert author_body[0].evidence["resigned_by"] == ["bank.example"]
    assert "contradicts" not in effects(found) and "weakens" not in effects(found)
    alone = run(changed)  # no list signature: the list can only be suspected
    assert "weakens" in effects(alone) and "contradicts" not in effects(alone)


# --- algorithm and key strength --------------------------------------------------------------------------

def test_rsa_sha1_is_reported_weak_and_does_not_prove() -> None:
    raw = dkim.sign(message(), b"s2017", b"campaign.example", pem(CAMPAIGN),
                    signature_algorithm=b"rsa-sha1") + message()
    found = run(raw)
    assert main(found).effect == "supports" and main(found).evidence["algorithm"] == "rsa-sha1"
    assert about(found, "RSA-SHA1") and not about(run(sign(message())), "RSA-SHA1")


def test_key_sizes_512_proves_nothing_1024_caveat_2048_clean() -> None:
    weak = run(sign(message(From="La lettre <lettre@lists.example>"), key=LISTS))
    assert main(weak).effect == "info" and "proves nothing" in main(weak).summary
    assert [f.evidence["key_bits"] for f in weak if f.evidence.get("proves_nothing")] == [512]
    assert about(weak, "testing mode")  # lists.example publishes t=y
    assert "proves" not in effects(weak)
    mid = run(sign(message(From="Banque <notices@bank.example>"), key=BANK))
    assert main(mid).effect == "proves" and [f.evidence["key_bits"] for f in mid if f.evidence.get("caveat")] == [1024]
    strong = run(sign(message()))
    assert not [f for f in strong if f.evidence.get("caveat") or f.evidence.get("proves_nothing")]
    assert not about(strong, "testing mode")


# --- l= ----------------------------------------------------------------------------------------------------

def test_text_beyond_l_is_shown() -> None:
    signed = dkim.sign(message(), b"s2017", b"campaign.example", pem(CAMPAIGN), length=True) + message()
    found = run(signed + "P.S. Finalement c'était 480 000 €.\r\n".encode())
    tail = [f for f in found if "unsigned_text" in f.evidence and f.evidence.get("signed_length")]
    assert len(tail) == 1 and tail[0].effect == "weakens" and "480 000" in tail[0].evidence["unsigned_text"]
    assert main(found).effect == "supports" and main(found).evidence["length_limited"]
    assert not main(run(sign(message()))).evidence["length_limited"]
    clean = run(signed)
    assert not [f for f in clean if f.evidence.get("signed_length")] and main(clean).effect == "proves"


# --- signed vs shown headers -----------------------------------------------------------------------------

SIGNED_ONCE = [b"from", b"to", b"subject", b"date", b"message-id", b"content-type"]


def test_added_from_above_a_once_signed_from_contradicts() -> None:
    signed = sign(message(), include=SIGNED_ONCE)
    forged = b"From: Helene Marchetti <helene.marchetti@campaign.example>\r\n" + signed
    found = run(forged)
    added = [f for f in found if f.evidence.get("header") == "From"]
    assert len(added) == 1 and added[0].effect == "contradicts"
    assert added[0].evidence["unsigned"] == ["Helene Marchetti <helene.marchetti@campaign.example>"]
    assert added[0].evidence["signed"].startswith("Julien Ferrand")
    assert main(found).effect == "supports"  # never a clean proof
    assert not [f for f in run(signed) if f.evidence.get("header")]


def test_added_subject_contradicts_though_dkimpy_passes_and_added_cc_weakens() -> None:
    signed = sign(message(Cc="thomas.leroy@campaign.example"), include=SIGNED_ONCE + [b"cc"])
    forged = b"Subject: Tout va bien\r\nCc: claire.dumont@campaign.example\r\n" + signed
    assert dkim.verify(forged, dnsfunc=lambda name, timeout=5: CAMPAIGN.record.encode())  # dkimpy is fooled
    found = run(forged)
    assert {f.evidence["header"]: f.effect for f in found if f.evidence.get("header")} == \
        {"Subject": "contradicts", "Cc": "weakens"}


def test_added_from_breaking_an_oversigned_signature_is_found() -> None:
    signed = sign(message())  # default h= signs From twice: an added From breaks the signature
    forged = b"From: Helene Marchetti <helene.marchetti@campaign.example>\r\n" + signed
    found = run(forged)
    added = [f for f in found if f.evidence.get("header") == "From"]
    assert len(added) == 1 and added[0].effect == "contradicts" and added[0].evidence["verifies_only_without_added"]
    assert main(found).evidence["status"] == "verified" and main(found).effect == "supports"


def test_uncovered_shown_headers_are_listed() -> None:
    found = run(sign(message(Reply_To="x@elsewhere.example"), include=[b"from", b"to", b"date"]))
    cover = [f for f in found if "not_covered" in f.evidence]
    assert len(cover) == 1 and set(cover[0].evidence["not_covered"]) == {"subject", "message-id", "reply-to"}
    assert not [f for f in run(sign(message())) if "not_covered" in f.evidence]


def test_alignment_exact_subdomain_none() -> None:
    def alignment(raw: bytes) -> str:
        return [f.evidence["alignment"] for f in run(raw) if "alignment" in f.evidence][0]
    assert alignment(sign(message())) == "exact"
    assert alignment(sign(message(From="julien@paris.campaign.example"))) == "subdomain"
    assert alignment(sign(message(From="julien.perso@gmail.example"))) == "none"


# --- dates: x=, t= and the key's period --------------------------------------------------------------------

def test_expiry_is_judged_at_delivery_not_today() -> None:
    raw = delivered(sign(message(), key=CAMPAIGN, x=T0 + 7 * 86400))
    assert not dkim.verify(raw, dnsfunc=lambda name, timeout=5: CAMPAIGN.record.encode())  # dkimpy: "x= is past"
    found = run(raw)
    assert main(found).effect == "proves"
    valid = [f for f in found if "judged_against" in f.evidence]
    assert [f.effect for f in valid] == ["info"] and valid[0].evidence["judged_against"] == "delivery"
    assert not [f for f in run(delivered(sign(message()))) if "judged_against" in f.evidence]


def test_expired_before_delivery_weakens() -> None:
    raw = delivered(sign(message(), x=T0 + 3600), when=SENT + timedelta(days=2))
    found = run(raw)
    expired = [f for f in found if "already expired" in f.summary]
    assert len(expired) == 1 and expired[0].effect == "weakens"
    assert not about(run(delivered(sign(message(), x=T0 + 3600))), "already expired")


def test_received_below_the_signature_does_not_date_delivery() -> None:
    # the submission hop is stamped before signing; a t= after it is normal
    pre = delivered(message(), when=SENT - timedelta(days=400))
    assert not about(run(sign(pre)), "after the message was delivered")
    late = delivered(sign(message(), t=T0 + 3 * 86400))  # signed three days after the delivery stamp
    assert [f.effect for f in about(run(late), "after the message was delivered")] == ["weakens"]


def test_date_outside_the_keys_seen_period_weakens() -> None:
    raw = sign(message())
    inside = run(raw, store(CAMPAIGN, first_seen="2016-11-01T00:00:00Z", last_seen="2017-06-01T00:00:00Z"))
    assert main(inside).evidence["key_period"]["inside"] and "weakens" not in effects(inside)
    outside = run(raw, store(CAMPAIGN, first_seen="2017-04-01T00:00:00Z", last_seen="2018-06-01T00:00:00Z"))
    period = about(outside, "before that key was first seen")
    assert len(period) == 1 and period[0].effect == "weakens"
    near = run(raw, store(CAMPAIGN, first_seen="2017-03-16T00:00:00Z"))  # two days: within the slack
    assert not about(near, "first seen")


# --- server results are recorded, not counted ----------------------------------------------------------------

def test_authentication_results_are_recorded_as_text_not_proof() -> None:
    raw = (b"Authentication-Results: mx.campaign.example; dkim=pass header.d=campaign.example;\r\n"
           b"\tspf=pass smtp.mailfrom=campaign.example\r\n"
           b"Received-SPF: pass (mx.campaign.example: domain of campaign.example designates 192.0.2.1)\r\n"
           + message())
    found = run(raw)
    recorded = [f for f in found if f.evidence.get("not_proof")]
    assert {f.evidence["field"] for f in recorded} == {"Authentication-Results", "Received-SPF"}
    assert all(f.effect == "info" for f in recorded)
    ar = [f for f in recorded if f.evidence["field"] == "Authentication-Results"][0]
    assert ar.evidence["dkim"] == [{"result": "pass", "domain": "campaign.example"}]
    assert "proves" not in effects(found)  # a dkim=pass written in a file proves nothing
    assert not [f for f in run(message()) if f.evidence.get("not_proof")]


# --- DomainKeys ----------------------------------------------------------------------------------------------

def dk_sign(msg: bytes, key=BANK, method: str = "nofws") -> bytes:
    """A DomainKey-Signature over the whole message, as Yahoo! signed in 2006."""
    tags = {b"a": b"rsa-sha1", b"q": b"dns", b"c": method.encode(), b"d": key.domain.encode(),
            b"s": key.selector.encode(), b"h": b"from:to:subject:date"}
    d = ArchiveDKIM(msg)
    sig = DkSignature(-1, tags, method, (b"from", b"to", b"subject", b"date"))
    data = signed_data(d.headers, d.body, sig)
    b = base64.b64encode(key.private.sign(data, padding.PKCS1v15(), hashes.SHA1()))
    return (f"DomainKey-Signature: a=rsa-sha1; q=dns; c={method}; d={key.domain}; s={key.selector};\r\n"
            f"\th=from:to:subject:date; b={b.decode()}\r\n").encode() + msg


def test_domainkeys_signature_supports_and_a_changed_one_weakens() -> None:
    msg = message(From="Banque <notices@bank.example>")
    for method in ("nofws", "simple"):
        found = run(dk_sign(msg, method=method))
        dk = [f for f in found if f.evidence.get("standard") == "DomainKeys"]
        assert [(f.effect, f.evidence["status"]) for f in dk] == [("supports", "verified")], method
    changed = run(dk_sign(msg).replace(b"48 000", b"480 000"))
    assert [f.effect for f in changed if f.evidence.get("standard")] == ["weakens"]
    other_sender = run(dk_sign(message()))  # From is campaign.example: bank.example does not vouch for it
    assert [f.evidence["status"] for f in other_sender if f.evidence.get("standard")] == ["key_unusable"]


# --- robustness -----------------------------------------------------------------------------------------------

def test_hostile_headers_do_not_break_the_check() -> None:
    junk = b"DKIM-Signature: v=1; a=rsa-sha256; d=\x00; s=\r\n" * 50 + message()
    found = run(junk)
    assert all(f.effect == "info" for f in found) and len([f for f in found if "status" in f.evidence]) == 20
    assert DkimCheck().run(item(b"not a header line\r\n\r\nbody"), CheckContext(keys=ALL))[0].effect == "info"


def test_mutated_messages_never_break_the_checks() -> None:
    import random

    from leaksift.checks.arc import ArcCheck
    rng = random.Random(2017)
    seeds = [sign(message(List_Id=LIST_ID)), sign(message(), key=PRESS), dk_sign(message(From="a@bank.example"))]
    inserts = [b";", b"=", b"l=;", b"i=campaign.example;", b"\r\n", b" ", b"b=AAAA;", b"x=;", b"t=9999999999999;"]
    for _ in range(300):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(raw))
            roll = rng.random()
            if roll < 0.4:
                raw[pos] = rng.randrange(256)
            elif roll < 0.7:
                del raw[pos:pos + rng.randint(1, 20)]
            else:
                raw[pos:pos] = rng.choice(inserts)
        for check in (DkimCheck(), ArcCheck()):
            found = check.run(item(bytes(raw)), CheckContext(keys=ALL))
            assert all(f.effect in ("proves", "supports", "weakens", "contradicts", "info") for f in found)


def test_check_leaves_dkimpy_untouched() -> None:
    before = (dkim.validate_signature_fields, dkim.ARC.verify_instance, dkim.DKIM.verify)
    run(delivered(sign(message(), x=T0 + 60)))
    assert (dkim.validate_signature_fields, dkim.ARC.verify_instance, dkim.DKIM.verify) == before


# --- the sample generator's named cases, end to end through ingest ------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    from leaksift.ingest.base import Limits
    from leaksift.ingest.engine import Engine
    from leaksift.ingest.registry import default_registry
    from leaksift.sample import build_sample, dns_records

    base = tmp_path_factory.mktemp("sample")
    manifest = build_sample(base / "leak", emails=40, documents=12)
    ks = KeyStore()
    for name, record in dns_records(manifest).items():
        selector, _, domain = name.decode().rstrip(".").partition("._domainkey.")
        ks.add(KeyRecord(domain, selector, record, "sample.zone"))
    engine = Engine(default_registry(), Limits(), tmp_dir=base / "tmp")
    by_path = {}
    for name in manifest.files:
        for rec in engine.ingest_file(base / "leak", name):
            if rec.kind == "email":
                by_path[rec.path] = rec
    yield manifest, ks, by_path
    shutil.rmtree(base, ignore_errors=True)


def _sample_findings(sample, case: str) -> list[tuple[object, list[Finding]]]:
    manifest, ks, by_path = sample
    out = []
    for msg in manifest.case(case):
        for loc in msg.locations:
            rec = by_path[loc.path.replace("!", "/").replace("#", "/")]
            out.append((loc, DkimCheck().run(rec, CheckContext(keys=ks))))
    assert out, case
    return out


def test_sample_every_location_gets_its_expected_result(sample) -> None:
    manifest, ks, by_path = sample
    for msg in manifest.messages:
        for loc in msg.locations:
            rec = by_path[loc.path.replace("!", "/").replace("#", "/")]
            found = DkimCheck().run(rec, CheckContext(keys=ks))
            status = main(found).evidence["status"] if loc.dkim != "none" else None
            if loc.dkim == "pass":
                assert status == "verified", loc.path
                strong = msg.algorithm == "ed25519-sha256" or msg.key_bits >= 1024
                assert ("proves" in effects(found)) == strong, loc.path
            elif loc.dkim == "fail":
                assert "contradicts" in effects(found) and "proves" not in effects(found), loc.path
            elif loc.dkim == "no_key":
                assert status == "no_key" and effects(found) == {"info"}, loc.path
            else:
                assert about(found, "no DKIM signature"), loc.path


def test_sample_named_cases(sample) -> None:
    for loc, found in _sample_findings(sample, "body_altered"):
        assert main(found).evidence["body"] == "header-only" and about(found, "body was changed")
    for loc, found in _sample_findings(sample, "extra_from"):
        assert [f.effect for f in found if f.evidence.get("header") == "From"] == ["contradicts"]
    for loc, found in _sample_findings(sample, "weak_key"):
        bits = main(found).evidence["key_bits"]
        assert bits < 2048 and (main(found).effect == "info") == (bits < 1024)
    for loc, found in _sample_findings(sample, "expiring"):
        assert main(found).effect == "proves" and about(found, "valid when the message was delivered")
    for loc, found in _sample_findings(sample, "mbox_escape"):
        assert "mboxrd_unescape" in main(found).evidence["undo"] and main(found).effect == "proves"
    for loc, found in _sample_findings(sample, "eml_lf"):
        assert main(found).evidence["undo"] == ["lf_to_crlf"]
    for loc, found in _sample_findings(sample, "no_key"):
        assert main(found).evidence["status"] == "no_key"


def test_bh_helper_matches_dkimpy() -> None:
    raw = sign(message())
    d = ArchiveDKIM(raw)
    sig = d.signature(0)
    canon = sig.policy.canonicalize_body(d.body)
    assert d.body_hash(sig) == base64.b64encode(hashlib.sha256(canon).digest()) == sig.body_hash_tag
    assert sig.canonicalization == "relaxed/relaxed" and SIMPLE != RELAXED
