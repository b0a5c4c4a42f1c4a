"""DKIM: does the signing domain's signature still vouch for this message, and for which parts of it?

Every DKIM-Signature (and DomainKey-Signature) of a message is checked on its own, with every key record the
case holds for its selector; the first record that verifies wins and the finding names it and its source. Each
signature gets one summary finding; failures are split into their two halves (body hash, header signature),
because a changed body does not unprove the From, Date and Subject that the header signature still covers.

How the effects are chosen (docs/verdicts.md lists the innocent explanations):
  - proves: both halves verify, the key counts (RSA of 1024 bits or more, or Ed25519), the hash is SHA-256,
    and nothing shown lies outside what was signed. Only lossless undos (LF line ends, mbox `>From `) allowed.
  - supports: a real signature that leaves something unproven: SHA-1 (collisions can be bought), header-only
    (Outlook rebuilt the body), a list's footer or subject tag set aside, text beyond l=, a duplicated header.
  - contradicts: the body no longer matches and nothing innocent explains it; a From, Subject or Date added
    above the signed one (what readers see is not what was signed).
  - weakens: a header signature that fails (a relay may rewrite headers, or the selector's key was replaced),
    a body change on a list message that no undo explains, a signature that had expired (x=) when the
    message was delivered, or a message dated outside the period its key was seen in DNS.
  - info: no key (unverifiable, never failed), unusable keys or signatures, keys under 1024 bits (anyone can
    factor them: they point nowhere), what the signature covers, domain alignment, recorded server results.
`x=` is judged against the signature's own `t=` and the message's dates, never against today: an archive asks
whether the signature was valid when the message was delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property
from typing import Any, ClassVar

import dkim as dkimpy

from ..keys import KeyRecord
from ..model import Finding, ItemRecord
from .arc import ChainResult, validate_chain
from .authres import display_text, header_text, recorded_findings
from .base import CheckContext
from .dkimverify import (ArchiveDKIM, KeyUnusable, PublicKey, Signature, SignatureInvalid, has_bare_lf,
                         key_accepts, message_bytes, parse_key)
from .domainkeys import DkInvalid, DkSignature, dk_positions, dk_refusal, dk_verify, parse_dk, signed_fields
from .headers import hop_time
from .undo import (SINGLETONS, BodyFix, HeaderFix, added_singletons, body_fix, drop_added_headers,
                   untag_subject)

CHECK = "dkim"
MAX_KEYS = 20  # records tried per selector
EXPIRY_SLACK = timedelta(hours=10)  # dkimpy's leeway for clocks, kept for t=/x= against the message's dates
KEY_PERIOD_SLACK = timedelta(days=3)  # archives see keys at crawl times, not the day they were published
MAX_SHOWN = 2000  # characters of unsigned text shown in a finding
REBUILT = ("outlook_restored", "msg_reexported")  # Outlook stores bodies in its own form: the bytes are new
DISPLAYED = (b"from", b"sender", b"reply-to", b"to", b"cc", b"subject", b"date", b"message-id")
SERIOUS = (b"from", b"subject", b"date")  # an unsigned second one of these changes what the reader believes
LOSSLESS_UNDOS = ("lf_to_crlf", "mboxrd_unescape", "mboxo_unescape")


def _iso(ts: int | float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _text(value: bytes, limit: int = 500) -> str:
    return header_text(value)[:limit]


def _shown(value: bytes) -> str:
    """A header value as a reader sees it (encoded words decoded), capped."""
    return display_text(value)[:500]


def _names(names: list[bytes] | tuple[bytes, ...]) -> list[str]:
    return [n.decode("ascii", "replace") for n in names]


class MessageFacts:
    """What the findings need to know about the message beyond one signature, computed once."""

    def __init__(self, dk: ArchiveDKIM, message: bytes, rec: ItemRecord, ctx: CheckContext) -> None:
        self.dk, self.message, self.rec, self.ctx = dk, message, rec, ctx
        self.transforms = list(rec.transforms)
        self.rebuilt = any(t in self.transforms for t in REBUILT)
        self.is_list = any(n.lower() == b"list-id" for n, _ in dk.headers)
        self.bare_lf = "lf_line_endings" in self.transforms or has_bare_lf(message)
        self.verified_domains: set[str] = set()  # signatures that verify in full, once all are checked

    def resigned_by(self, domain: str) -> list[str]:
        """On a list message, the other domains whose signatures verify the message as it is (the list's)."""
        return sorted(self.verified_domains - {domain}) if self.is_list else []

    def values(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.dk.headers if n.lower() == name]

    @cached_property
    def date(self) -> datetime | None:
        """The Date a signature covers: the lowest Date field (signed instances are picked bottom-up)."""
        dates = self.values(b"date")
        return _parse_date(header_text(dates[-1])) if dates else None

    def delivered(self, position: int) -> datetime | None:
        """When the last server stamped the message, counting only Received fields above the header at
        `position`: those were added after it (the ones below were there when the signer signed)."""
        above = [v for n, v in self.dk.headers[:position] if n.lower() == b"received"]
        times = [t for t in (hop_time(header_text(v)) for v in above) if t is not None]
        return max(times) if times else None

    @cached_property
    def from_domain(self) -> str | None:
        """The domain of the From readers see (the topmost)."""
        froms = self.values(b"from")
        if not froms:
            return None
        addrs = [a for _, a in getaddresses([header_text(froms[0])]) if "@" in a]
        return addrs[0].rpartition("@")[2].lower().rstrip(".") if addrs else None

    @cached_property
    def arc(self) -> ChainResult | None:
        """The ARC chain, validated only when a failure needs explaining (most messages never ask)."""
        return validate_chain(self.message, self.ctx.keys)

    def arc_explains(self, domain: str) -> dict[str, Any] | None:
        """Evidence that a valid ARC chain saw this domain's signature pass at the first hop, or None."""
        return self.arc.origin_passed(domain) if self.arc is not None else None


def _parse_date(text: str) -> datetime | None:
    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@dataclass
class Outcome:
    """One signature checked against the key records of its selector."""

    sig: Signature
    body_ok: bool
    computed_bh: str
    body_fix: BodyFix | None = None
    key: KeyRecord | None = None  # the record that verified the header signature
    pubkey: PublicKey | None = None
    header_fix: HeaderFix | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # the header variant that verified
    tried: list[dict[str, Any]] = field(default_factory=list)
    usable: int = 0  # records that could check the signature

    @property
    def headers_ok(self) -> bool:
        return self.key is not None

    @property
    def body_verified(self) -> bool:
        return self.body_ok or self.body_fix is not None

    @property
    def dropped_headers(self) -> bool:
        return self.header_fix is not None and "drop_added_headers" in self.header_fix.undo

    def undos(self, facts: MessageFacts) -> list[str]:
        out = ["lf_to_crlf"] if facts.bare_lf else []
        out += self.body_fix.undo if self.body_fix else []
        out += [u for u in (self.header_fix.undo if self.header_fix else []) if u != "drop_added_headers"]
        return out


class DkimCheck:
    name: ClassVar[str] = CHECK

    def applies(self, rec: ItemRecord) -> bool:
        return rec.kind == "email" and rec.raw is not None

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        message = message_bytes(rec)
        if not message:
            return []
        try:
            dk = ArchiveDKIM(message)
        except dkimpy.DKIMException as e:
            return [Finding(CHECK, "The message's headers could not be read, so its signatures were not checked.",
                            "info", {"error": f"{type(e).__name__}: {e}"[:500]})]
        facts = MessageFacts(dk, message, rec, ctx)
        found: list[Finding] = []
        count = len(dk.signature_headers())
        # Every signature is checked before any is reported: a list's own valid signature explains why the
        # author's no longer verifies.
        results = [self._signature(facts, idx) for idx in range(count)]
        facts.verified_domains = {r.sig.domain for r in results
                                  if isinstance(r, Outcome) and r.headers_ok and r.body_verified}
        for result in results:
            found += _report(facts, result) if isinstance(result, Outcome) else result
        dks = dk_positions(dk.headers)
        for position in dks:
            found += _domainkeys(facts, position)
        if not count and not dks:
            found.append(Finding(CHECK, "This message carries no DKIM signature: no server vouched for it.",
                                 "info", {"signatures": 0}))
        return found + recorded_findings(dk.headers, CHECK)

    # --- one signature ---------------------------------------------------------------------------------

    def _signature(self, facts: MessageFacts, idx: int) -> list[Finding] | Outcome:
        """The findings of a signature that cannot be checked, or the Outcome of checking it."""
        dk = facts.dk
        try:
            sig = dk.signature(idx)
        except SignatureInvalid as e:
            name, value = dk.signature_headers()[idx]
            return [Finding(CHECK, "A DKIM signature is present but cannot be checked: it is malformed or of an "
                                   "unsupported kind, so it proves nothing either way.", "info",
                            {"signature": idx, "status": "invalid", "reason": str(e)[:500],
                             "header": _text(value, 1000)})]
        base = _base_evidence(sig)
        records = facts.ctx.keys.lookup(sig.selector, sig.domain)[:MAX_KEYS]
        if not records:
            return [Finding(CHECK, f"{sig.domain} signed this message, but its key (selector {sig.selector}) is "
                                   f"not in the case: the signature is unverifiable (no key), not failed.", "info",
                            {**base, "status": "no_key"})]
        usable, tried = _usable_keys(records, sig)
        if not usable:
            return [Finding(CHECK, f"{sig.domain}'s key records for selector {sig.selector} cannot check this "
                                   f"signature (revoked, malformed or restricted): it is unverifiable, not "
                                   f"failed.", "info", {**base, "status": "key_unusable", "keys_tried": tried})]
        return _evaluate(facts, sig, usable, tried)


def _base_evidence(sig: Signature) -> dict[str, Any]:
    return {"signature": sig.index, "domain": sig.domain, "selector": sig.selector, "algorithm": sig.algorithm,
            "canonicalization": sig.canonicalization, "signed_at": _iso(sig.timestamp),
            "expires": _iso(sig.expires), "length": sig.length, "length_limited": sig.length is not None,
            "pre_standard_draft": sig.draft,
            "covered_headers": _names(sig.include)}


Candidate = tuple[dict[str, Any], KeyRecord, PublicKey]  # (its keys_tried entry, the record, its key)


def _usable_keys(records: list[KeyRecord], sig: Signature) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """The records that can check this signature, and an entry per record saying what became of it."""
    usable: list[Candidate] = []
    tried: list[dict[str, Any]] = []
    for rec in records:
        entry: dict[str, Any] = {"source": rec.source, "first_seen": rec.first_seen, "last_seen": rec.last_seen}
        tried.append(entry)
        try:
            key = parse_key(rec.record)
        except KeyUnusable as e:
            entry.update(result="revoked" if e.revoked else "unusable", reason=str(e))
            continue
        refusal = key_accepts(key, sig)
        entry.update(result="refused" if refusal else "not tried", reason=refusal, bits=key.bits)
        if not refusal:
            usable.append((entry, rec, key))
    return usable, tried


def _evaluate(facts: MessageFacts, sig: Signature, usable: list[Candidate], tried: list[dict[str, Any]]) -> Outcome:
    """Both halves of one signature: the body (with undos), then the header signature with each record in
    turn (with undos) until one verifies."""
    dk = facts.dk
    body_ok = dk.body_matches(sig)
    outcome = Outcome(sig, body_ok, dk.body_hash(sig).decode(), tried=tried, usable=len(usable))
    if not body_ok:
        outcome.body_fix = body_fix(dk, sig, facts.transforms, facts.is_list)
    for headers, fix in _header_variants(facts, sig):
        for entry, rec, key in usable:
            if dk.headers_verify(sig, key, headers):
                outcome.key, outcome.pubkey, outcome.header_fix, outcome.headers = rec, key, fix, headers
                entry["result"] = "verified"
                return outcome
            entry["result"] = "header signature fails"
    return outcome


def _header_variants(facts: MessageFacts, sig: Signature):
    """The headers as they are, then with a list's subject tag off, then without headers added on top."""
    headers = facts.dk.headers
    yield headers, None
    untagged = untag_subject(headers) if facts.is_list else None
    if untagged is not None:
        yield untagged, HeaderFix(["list_subject_tag"])
    duplicated = [n for n in SINGLETONS if sum(1 for h, _ in headers if h.lower() == n) > 1]
    for base, undo in ((headers, []), (untagged, ["list_subject_tag"])):
        dropped = drop_added_headers(base, duplicated) if base is not None and duplicated else None
        if dropped is not None:
            yield dropped[0], HeaderFix(undo + ["drop_added_headers"],
                                        [(n.decode("ascii", "replace"), _shown(v)) for n, v in dropped[1]])


# --- findings ----------------------------------------------------------------------------------------------

def _report(facts: MessageFacts, o: Outcome) -> list[Finding]:
    sig = o.sig
    evidence = {**_base_evidence(sig), "keys_tried": o.tried, "body_hash_computed": o.computed_bh,
                "body_hash_signed": sig.body_hash_tag.decode("ascii", "replace")}
    if not o.headers_ok:
        return _header_failure(facts, o, evidence) + ([] if o.body_verified else _body_failure(facts, o, evidence))
    assert o.pubkey is not None and o.key is not None
    evidence.update(key_bits=o.pubkey.bits, key_type=o.pubkey.kind, key_source=o.key.source,
                    key_first_seen=o.key.first_seen, key_last_seen=o.key.last_seen,
                    key_testing=o.pubkey.testing, undo=o.undos(facts),
                    body="verified" if o.body_verified else "header-only",
                    signed_fields=_signed_fields(facts, sig, o), uncovered_headers=_uncovered(facts, sig))
    extra: list[Finding] = []
    caveats: list[str] = []
    extra += _added_headers(facts, o, evidence, caveats)
    extra += _unsigned_tail(facts, o, evidence, caveats)
    extra += _key_strength(o, evidence, caveats)
    extra += _coverage(facts, sig, evidence)
    extra += _alignment(facts, sig)
    extra += _expiry(facts, sig, evidence)
    extra += _key_period(facts, o, evidence)
    if not o.body_verified:
        extra += _body_failure(facts, o, evidence)
    return [_summary(facts, o, evidence, caveats)] + extra


def _summary(facts: MessageFacts, o: Outcome, evidence: dict[str, Any], caveats: list[str]) -> Finding:
    sig, domain = o.sig, o.sig.domain
    fields = ", ".join(dict.fromkeys(n.capitalize() for n in _names(sig.include)
                                     if n in ("from", "date", "subject", "to"))) or "From"
    undo = [u for u in evidence["undo"] if u not in LOSSLESS_UNDOS]
    if o.pubkey and o.pubkey.kind == "rsa" and o.pubkey.bits < 1024:
        effect = "info"
        text = (f"{domain}'s signature checks out, but with a {o.pubkey.bits}-bit key that anyone can break, "
                f"so it proves nothing.")
    elif not o.body_verified:
        effect = "supports"
        text = (f"{domain}'s signature checks out for the signed headers ({fields}) but not for the body"
                + (": Outlook rebuilt the body, so only the headers can be checked." if facts.rebuilt else "."))
    else:
        effect = "supports" if (caveats or undo or sig.algorithm == "rsa-sha1" or o.dropped_headers) else "proves"
        parts = {"list_footer": "footer", "list_subject_tag": "subject tag"}
        named = [parts[u] for u in undo if u in parts]
        after = f" once the mailing list's {' and '.join(named)} {'is' if len(named) == 1 else 'are'} set aside" \
            if named else ""
        text = f"{domain}'s DKIM signature checks out{after}: {domain} sent this message's signed headers " \
               f"({fields}) and body as they are here."
        if o.dropped_headers:
            text = (f"{domain}'s DKIM signature checks out only once the header fields added above the signed "
                    f"ones are set aside: {domain} signed this message, but not all of what a mail program shows.")
        elif effect == "supports":
            text = text[:-1] + ", with the caveats listed beside it."
    evidence["caveats"] = caveats
    return Finding(CHECK, text, effect, {**evidence, "status": "verified" if o.body_verified else "header_only"})


def _signed_fields(facts: MessageFacts, sig: Signature, o: Outcome) -> dict[str, str]:
    """The values the signature vouches for, of the fields readers look at (the instances dkimpy picked)."""
    picked = dkimpy.select_headers(o.headers, list(sig.include))
    out: dict[str, str] = {}
    for name, value in picked:
        key = name.lower().decode("ascii", "replace")
        if name.lower() in DISPLAYED and key not in out:
            out[key] = _shown(value)
    return out


def _uncovered(facts: MessageFacts, sig: Signature) -> list[str]:
    names: list[str] = []
    for name, _ in facts.dk.headers:
        low = name.lower()
        if low not in sig.include and low != b"dkim-signature" and low.decode("ascii", "replace") not in names:
            names.append(low.decode("ascii", "replace"))
    return names[:100]


def _added_headers(facts: MessageFacts, o: Outcome, evidence: dict[str, Any], caveats: list[str]) -> list[Finding]:
    """A singleton field shown more often than signed: the top instances are unsigned, and readers see them."""
    sig, headers = o.sig, facts.dk.headers
    found = []
    if o.header_fix and o.dropped_headers:
        dropped = o.header_fix.dropped
        names = sorted({n.lower().encode() for n, _ in dropped})
        verifies_only_without = True
    else:
        names = list(added_singletons(headers, sig.include))
        dropped = None
        verifies_only_without = False
    for name in names:
        label = name.decode().capitalize() if name != b"message-id" else "Message-ID"
        shown = [_shown(v) for n, v in headers if n.lower() == name]
        signed = evidence["signed_fields"].get(name.decode())
        unsigned = ([v for n, v in dropped if n.lower() == name.decode()] if dropped is not None
                    else shown[:len(shown) - sig.include.count(name)])
        effect = "contradicts" if name in SERIOUS else "weakens"
        how = ("the signature only verifies once the extra one is set aside"
               if verifies_only_without else "the signature covers only the lower one")
        found.append(Finding(
            CHECK, f"This message has {len(shown)} {label} headers and {how}: the {label} a mail program shows "
                   f"({unsigned[0] if unsigned else '?'}) was added after {sig.domain} signed it.",
            effect, {"signature": sig.index, "domain": sig.domain, "header": label, "shown": shown,
                     "unsigned": unsigned, "signed": signed, "times_signed": sig.include.count(name),
                     "verifies_only_without_added": verifies_only_without}))
        caveats.append(f"added {label}")
    return found


def _unsigned_tail(facts: MessageFacts, o: Outcome, evidence: dict[str, Any], caveats: list[str]) -> list[Finding]:
    """Body text the signature does not cover: beyond l=, or a list footer set aside."""
    sig, found = o.sig, []
    if sig.length is not None and o.body_ok:
        canon = facts.dk.canonical_body(sig)
        tail = canon[sig.length:]
        evidence["unsigned_body_bytes"] = len(tail)
        if tail.strip():
            effect = "info" if facts.is_list else "weakens"
            found.append(Finding(
                CHECK, f"The signature covers only the first {sig.length} bytes of the body (l=); the "
                       f"{len(tail)} bytes after them are not signed and anyone could have added them"
                       + (" (on a mailing list, usually its footer)." if facts.is_list else "."),
                effect, {"signature": sig.index, "domain": sig.domain, "signed_length": sig.length,
                         "unsigned_bytes": len(tail), "unsigned_text": tail.decode("utf-8", "replace")[:MAX_SHOWN],
                         "truncated": len(tail) > MAX_SHOWN}))
            caveats.append("unsigned text after l=")
    if o.body_fix and o.body_fix.removed:
        removed = o.body_fix.removed
        found.append(Finding(
            CHECK, f"The signature checks out once the text a mailing list added at the end is set aside; that "
                   f"text ({len(removed)} bytes) is not signed.", "info",
            {"signature": sig.index, "domain": sig.domain, "undo": "list_footer",
             "unsigned_text": removed.decode("utf-8", "replace")[:MAX_SHOWN], "truncated": len(removed) > MAX_SHOWN}))
    return found


def _key_strength(o: Outcome, evidence: dict[str, Any], caveats: list[str]) -> list[Finding]:
    sig, key, found = o.sig, o.pubkey, []
    assert key is not None
    if sig.algorithm == "rsa-sha1":
        found.append(Finding(
            CHECK, f"{sig.domain} signed with RSA-SHA1, a weak algorithm: SHA-1 collisions can be bought, so this "
                   f"signature supports the message but does not prove it.", "info",
            {"signature": sig.index, "domain": sig.domain, "algorithm": sig.algorithm, "weak": True}))
        caveats.append("rsa-sha1")
    if key.kind == "rsa" and key.bits < 1024:
        found.append(Finding(
            CHECK, f"The key that checks this signature is only {key.bits} bits: such keys can be factored in "
                   f"hours, so anyone could have made this signature and it proves nothing.", "info",
            {"signature": sig.index, "domain": sig.domain, "key_bits": key.bits, "proves_nothing": True}))
    elif key.kind == "rsa" and key.bits < 2048:
        found.append(Finding(
            CHECK, f"The key is {key.bits} bits: accepted by DKIM, but within reach of a well-funded attacker; "
                   f"the proof is as strong as that key.", "info",
            {"signature": sig.index, "domain": sig.domain, "key_bits": key.bits, "caveat": True}))
    if key.testing:
        found.append(Finding(
            CHECK, f"{sig.domain} published this key in testing mode (t=y): receivers were told not to rely on "
                   f"it, though the signature itself checks out.", "info",
            {"signature": sig.index, "domain": sig.domain, "key_testing": True}))
    return found


def _coverage(facts: MessageFacts, sig: Signature, evidence: dict[str, Any]) -> list[Finding]:
    present = {n.lower() for n, _ in facts.dk.headers}
    missing = [n for n in DISPLAYED if n in present and n not in sig.include]
    if not missing:
        return []
    names = _names(missing)
    return [Finding(CHECK, f"The signature does not cover these shown headers, which could have been changed "
                           f"without breaking it: {', '.join(names)}.", "info",
                    {"signature": sig.index, "domain": sig.domain, "not_covered": names,
                     "covered_headers": evidence["covered_headers"]})]


def _alignment(facts: MessageFacts, sig: Signature) -> list[Finding]:
    d, f = sig.domain.rstrip("."), facts.from_domain
    if f is None:
        relation, text = "no_from", f"The message has no From address to compare with the signing domain {d}."
    elif f == d:
        relation, text = "exact", f"The signing domain {d} is the From address's domain."
    elif f.endswith("." + d) or d.endswith("." + f):
        relation, text = "subdomain", f"The signing domain {d} and the From domain {f} are the same organisation " \
                                      f"(one is a subdomain of the other)."
    elif _org(f) == _org(d):
        relation, text = "organisational", f"The signing domain {d} and the From domain {f} share the parent " \
                                            f"domain {_org(d)}."
    else:
        relation, text = "none", f"The signing domain {d} is not the From domain {f}: {d} vouches for the " \
                                  f"message, not for the sender's address (usual for lists and mail services)."
    return [Finding(CHECK, text, "info", {"signature": sig.index, "signing_domain": d, "from_domain": f,
                                          "alignment": relation})]


def _org(domain: str) -> str:
    """The organisational domain, approximately: the last two labels, three under a short second level
    (co.uk, com.au). A public-suffix list would be exact; this only labels an info finding."""
    labels = domain.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _expiry(facts: MessageFacts, sig: Signature, evidence: dict[str, Any]) -> list[Finding]:
    """x= and t= against the message's own dates: was the signature valid when the message was delivered?"""
    found = []
    t, x = sig.timestamp, sig.expires
    delivered = facts.delivered(sig.position)
    reference = delivered or facts.date
    judged = {"signature": sig.index, "domain": sig.domain, "signed_at": _iso(t), "expires": _iso(x),
              "delivered": delivered.isoformat() if delivered else None,
              "date": facts.date.isoformat() if facts.date else None,
              "judged_against": "delivery" if delivered else ("date" if facts.date else None)}
    if x is not None:
        expires = datetime.fromtimestamp(x, timezone.utc)
        if reference is None:
            found.append(Finding(CHECK, "The signature carries an expiry date (x=) but the message has no date to "
                                        "judge it against.", "info", judged))
        elif expires + EXPIRY_SLACK < reference:
            found.append(Finding(
                CHECK, f"The signature had already expired ({expires:%Y-%m-%d %H:%M} UTC) when the message was "
                       f"{'delivered' if delivered else 'dated'} ({reference:%Y-%m-%d %H:%M}): a receiver would "
                       f"not have accepted it (a long queue can explain it).", "weakens", judged))
        else:
            found.append(Finding(
                CHECK, f"The signature expires on {expires:%Y-%m-%d} (x=); it was valid when the message was "
                       f"{'delivered' if delivered else 'dated'}, which is the time an archive judges it at, "
                       f"not today.", "info", judged))
    if t is not None and delivered is not None:
        signed = datetime.fromtimestamp(t, timezone.utc)
        if signed > delivered + EXPIRY_SLACK:
            found.append(Finding(
                CHECK, f"The signature says it was made ({signed:%Y-%m-%d %H:%M} UTC) after the message was "
                       f"delivered ({delivered:%Y-%m-%d %H:%M}): impossible for the sender's server unless a "
                       f"clock was wrong.", "weakens", judged))
    evidence["expiry"] = judged
    return found


def _key_period(facts: MessageFacts, o: Outcome, evidence: dict[str, Any]) -> list[Finding]:
    key = o.key
    assert key is not None
    first, last = _parse_iso(key.first_seen), _parse_iso(key.last_seen)
    if first is None and last is None:
        return []
    when = facts.date or (datetime.fromtimestamp(o.sig.timestamp, timezone.utc) if o.sig.timestamp else None)
    if when is None:
        return []
    early = first is not None and when < first - KEY_PERIOD_SLACK
    late = last is not None and when > last + KEY_PERIOD_SLACK
    period = {"signature": o.sig.index, "domain": o.sig.domain, "key_source": key.source,
              "first_seen": key.first_seen, "last_seen": key.last_seen, "message_date": when.isoformat(),
              "slack_days": KEY_PERIOD_SLACK.days}
    evidence["key_period"] = {**period, "inside": not (early or late)}
    if not (early or late):
        return []
    where = "before that key was first seen" if early else "after that key was last seen"
    return [Finding(CHECK, f"The message is dated {when:%Y-%m-%d}, {where} in DNS ({key.first_seen or '?'} to "
                           f"{key.last_seen or '?'}): the date or the key does not fit.", "weakens", period)]


def _body_failure(facts: MessageFacts, o: Outcome, evidence: dict[str, Any]) -> list[Finding]:
    sig = o.sig
    detail = {"signature": sig.index, "domain": sig.domain, "body_hash_signed": evidence["body_hash_signed"],
              "body_hash_computed": o.computed_bh, "canonicalization": sig.canonicalization,
              "length": sig.length, "undos_tried": _undos_tried(facts, sig), "transforms": facts.transforms}
    if facts.rebuilt:
        return [Finding(CHECK, "The body does not match the signature, as expected: Outlook stores the body in its "
                               "own form, so the body half cannot be checked.", "info", {**detail, "expected": True})]
    arc = facts.arc_explains(sig.domain)
    if arc is not None:
        return [Finding(CHECK, f"The body no longer matches {sig.domain}'s signature, but a valid ARC chain shows "
                               f"the signature passed at the first hop: a mailing list or forwarder changed it.",
                        "info", {**detail, "arc": arc})]
    resigned = facts.resigned_by(sig.domain)
    if resigned:
        return [Finding(CHECK, f"The body no longer matches {sig.domain}'s signature, but this is a mailing-list "
                               f"message that {', '.join(resigned)} signed as distributed: the list changed it.",
                        "info", {**detail, "resigned_by": resigned})]
    if facts.is_list:
        return [Finding(CHECK, f"The body no longer matches {sig.domain}'s signature. This is a mailing-list "
                               f"message and lists often rewrite bodies, but no known list change explains it.",
                        "weakens", detail)]
    return [Finding(CHECK, f"The body was changed after {sig.domain} signed it: its hash no longer matches the "
                           f"one in the signature, and no storage or list change explains it.", "contradicts",
                    detail)]


def _header_failure(facts: MessageFacts, o: Outcome, evidence: dict[str, Any]) -> list[Finding]:
    sig = o.sig
    detail = {**evidence, "status": "header_signature_fails" if o.body_verified else "failed",
              "body": "verified" if o.body_verified else "mismatch", "undos_tried": _undos_tried(facts, sig)}
    arc = facts.arc_explains(sig.domain)
    if arc is not None:
        return [Finding(CHECK, f"{sig.domain}'s signature no longer checks out, but a valid ARC chain shows it "
                               f"passed at the first hop: a mailing list or forwarder changed the message.",
                        "info", {**detail, "arc": arc})]
    resigned = facts.resigned_by(sig.domain)
    if resigned:
        return [Finding(CHECK, f"{sig.domain}'s signature no longer checks out, but this is a mailing-list message "
                               f"that {', '.join(resigned)} signed as distributed: the list changed it.", "info",
                        {**detail, "resigned_by": resigned})]
    body = "The body still matches, so the change is in the headers or the key." if o.body_verified else ""
    return [Finding(CHECK, f"{sig.domain}'s header signature does not check out with any of the {o.usable} "
                           f"usable key record(s) in the case: a signed header was changed, or the key was replaced "
                           f"under the same selector. {body}".strip(), "weakens", detail)]


def _undos_tried(facts: MessageFacts, sig: Signature) -> list[str]:
    out = ["lf_to_crlf"] if facts.bare_lf else []
    if "mbox_from_escaped" in facts.transforms:
        out += ["mboxrd_unescape", "mboxo_unescape"]
    if facts.is_list:
        out += ["list_subject_tag"] + (["list_footer"] if sig.length is None else [])
    out.append("drop_added_headers")
    return out


# --- DomainKeys ------------------------------------------------------------------------------------------

def _domainkeys(facts: MessageFacts, position: int) -> list[Finding]:
    dk = facts.dk
    base = {"standard": "DomainKeys", "position": position}
    try:
        sig = parse_dk(dk.headers, position)
    except DkInvalid as e:
        return [Finding(CHECK, "An old DomainKeys signature is present but malformed, so it proves nothing.",
                        "info", {**base, "status": "invalid", "reason": str(e)})]
    base.update(domain=sig.domain, selector=sig.selector, canonicalization=sig.method,
                covered_headers=_names(sig.include) if sig.include is not None else "all below the signature")
    records = facts.ctx.keys.lookup(sig.selector, sig.domain)[:MAX_KEYS]
    if not records:
        return [Finding(CHECK, f"{sig.domain} signed this message with DomainKeys, but its key (selector "
                               f"{sig.selector}) is not in the case: unverifiable (no key), not failed.", "info",
                        {**base, "status": "no_key"})]
    tried = []
    for rec in records:
        try:
            key = parse_key(rec.record)
            refusal = dk_refusal(dk.headers, sig, key)
            ok = refusal is None and dk_verify(dk.headers, dk.body, sig, key)
        except KeyUnusable as e:
            tried.append({"source": rec.source, "result": "unusable", "reason": str(e)})
            continue
        tried.append({"source": rec.source, "result": "verified" if ok else ("refused" if refusal else "fails"),
                      "reason": refusal, "bits": key.bits})
        if ok:
            return _dk_pass(facts, sig, rec, key, {**base, "keys_tried": tried})
    if all(t["result"] in ("unusable", "refused") for t in tried):
        return [Finding(CHECK, f"{sig.domain}'s DomainKeys signature cannot be checked with the key records in "
                               f"the case (unusable, or not vouching for this sender).", "info",
                        {**base, "status": "key_unusable", "keys_tried": tried})]
    return [Finding(CHECK, f"{sig.domain}'s DomainKeys signature does not check out: the message or its signed "
                           f"headers changed after signing (DomainKeys cannot tell which), or the key was "
                           f"replaced.", "weakens", {**base, "status": "failed", "keys_tried": tried})]


def _dk_pass(facts: MessageFacts, sig: DkSignature, rec: KeyRecord, key: PublicKey,
             evidence: dict[str, Any]) -> list[Finding]:
    signed = {n.lower().decode("ascii", "replace"): _shown(v) for n, v in reversed(signed_fields(facts.dk.headers, sig))
              if n.lower() in DISPLAYED}
    evidence.update(status="verified", algorithm="rsa-sha1", key_bits=key.bits, key_source=rec.source,
                    signed_fields=signed, undo=["lf_to_crlf"] if facts.bare_lf else [])
    if key.bits < 1024:
        return [Finding(CHECK, f"{sig.domain}'s old DomainKeys signature checks out, but with a {key.bits}-bit key "
                               f"that anyone can break, so it proves nothing.", "info", evidence)]
    return [Finding(CHECK, f"{sig.domain}'s old DomainKeys signature checks out: {sig.domain} sent this message. "
                           f"DomainKeys uses SHA-1, so this supports the message without proving it.", "supports",
                    evidence)]


CHECKS = [DkimCheck]
