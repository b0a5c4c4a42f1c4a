"""One DKIM signature of an archived message, one key record: each half checked on its own, on dkimpy's parts.

dkimpy's `DKIM.verify` answers one bool for "now": it judges `x=`/`t=` by today's clock, stops at a body hash
mismatch before looking at the header signature, turns every key problem into False, and reads a few tags more
strictly than the RFCs (one `q=` value, one `s=` service, `i=` without its quoted-printable decoding). An
archive verifier needs the two halves apart, the reason for each failure, and the signature judged at its own
time. So `ArchiveDKIM` (a dkimpy `DKIM`) keeps dkimpy's parser, canonicalisation, header selection and hashing,
and RSA/Ed25519 checks, and adds:

  - `signature(i)`: the i-th DKIM-Signature, validated by dkimpy minus the clock (see `validate`);
  - `body_hash(sig, body)`: the body hash of a body (the message's, or an undone variant);
  - `headers_verify(sig, key, headers)`: the header signature alone. The signed header block includes the
    DKIM-Signature with its own `bh=`, so this proves the signed headers whatever happened to the body.

Key records are read by `parse_key` with the RFC 6376/4871 rules dkimpy lacks (lists in `s=` and `h=`, `g=`,
`t=s`), and `key_accepts` says whether a record allows a signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import dkim
import nacl.exceptions
import nacl.signing
from dkim.canonicalization import CanonicalizationPolicy, InvalidCanonicalizationPolicyError
from dkim.crypto import (HASH_ALGORITHMS, DigestTooLargeError, RSASSA_PKCS1_v1_5_verify, UnparsableKeyError,
                         parse_public_key)
from dkim.util import InvalidTagValueList, parse_tag_value

from ..model import ItemRecord

SIG_HEADER = b"dkim-signature"
MAX_SIGNATURES = 20  # a hostile message may carry thousands; real mail carries a handful


class SignatureInvalid(Exception):
    """The signature header cannot be evaluated at all (syntax, version, algorithm, ...)."""


class KeyUnusable(Exception):
    """A key record that cannot verify anything (syntax, revoked, unknown type, ...)."""

    def __init__(self, reason: str, revoked: bool = False) -> None:
        super().__init__(reason)
        self.revoked = revoked


def message_bytes(rec: ItemRecord) -> bytes | None:
    """The message as it was held: for an .emlx, the counted bytes after the count line."""
    raw = rec.raw
    if raw is None:
        return None
    count = rec.metadata.get("emlx_byte_count")
    if isinstance(count, int) and count >= 0:
        start = raw.find(b"\n") + 1
        return raw[start:start + count]
    return raw


def has_bare_lf(data: bytes) -> bool:
    """Line ends stored as LF: mbox, Maildir and most Unix tools store mail so; SMTP carried CRLF."""
    return re.search(rb"(?<!\r)\n", data) is not None


def qp_decode(value: bytes) -> bytes:
    """dkim-quoted-printable (RFC 6376 section 2.11), as i= and z= are written."""
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), re.sub(rb"\s+", b"", value))


class SignerTags:
    """d= and s= of a signature's tag list (DKIM and DomainKeys alike)."""

    tags: dict[bytes, bytes]

    @property
    def domain(self) -> str:
        return self.tags[b"d"].decode("ascii", "replace").lower()

    @property
    def selector(self) -> str:
        return self.tags[b"s"].decode("ascii", "replace")


@dataclass
class Signature(SignerTags):
    """One DKIM-Signature header: where it is, its tags, and what it signs."""

    index: int
    position: int  # index of the signature among all the message's header fields (0 is the top)
    header: tuple[bytes, bytes]  # (name, value) exactly as in the message; value ends with CRLF
    tags: dict[bytes, bytes]
    include: tuple[bytes, ...]  # h=, lower-case, in order
    draft: bool = False  # a pre-RFC 4871 draft signature (v= absent or 0.5)


    @property
    def algorithm(self) -> str:
        return self.tags[b"a"].decode("ascii").lower()

    @property
    def hash_name(self) -> str:
        return self.algorithm.rsplit("-", 1)[1]

    @property
    def canonicalization(self) -> str:
        return self.policy.to_c_value().decode()

    @property
    def policy(self) -> CanonicalizationPolicy:
        return CanonicalizationPolicy.from_c_value(self.tags.get(b"c", b"simple/simple"))

    @property
    def length(self) -> int | None:
        return int(self.tags[b"l"]) if b"l" in self.tags else None

    @property
    def timestamp(self) -> int | None:
        return int(self.tags[b"t"]) if b"t" in self.tags else None

    @property
    def expires(self) -> int | None:
        return int(self.tags[b"x"]) if b"x" in self.tags else None

    @property
    def identity(self) -> bytes:
        return qp_decode(self.tags[b"i"]) if b"i" in self.tags else b"@" + self.tags[b"d"]

    @property
    def body_hash_tag(self) -> bytes:
        """The bh= value, base64 as written (blanks removed)."""
        return re.sub(rb"\s+", b"", self.tags[b"bh"])


def validate(tags: dict[bytes, bytes]) -> bool:
    """dkimpy's `validate_signature_fields`, with `t=`/`x=` judged without a clock. True for a draft signature.

    dkimpy compares t= and x= with time.time(): an archive must judge them against the message's own dates
    (dkim.py does), so they are taken out before dkimpy sees the tags and only their syntax is checked here.
    Pre-standard signatures (v= absent, or 0.5 as in draft-ietf-dkim-base-05) are read as RFC 4871 reads v=1:
    their hashing is the same, and mail of 2005-2007 carries them. `q=` is a colon-separated list (RFC 6376
    3.5) in which dns/txt must appear (drafts wrote "dns"), and i= is quoted-printable.
    """
    version = tags.get(b"v")
    if version not in (None, b"1", b"0.5"):
        raise SignatureInvalid(f"unsupported version v={version.decode('ascii', 'replace')}")
    draft = version != b"1"
    methods = [m.strip().lower() for m in tags.get(b"q", b"dns/txt").split(b":")]
    if b"dns/txt" not in methods and not (draft and b"dns" in methods):
        raise SignatureInvalid(f"no supported query method in q={tags[b'q'].decode('ascii', 'replace')}")
    for name, digits in ((b"t", 12), (b"x", 12), (b"l", 76)):
        if name in tags and not re.fullmatch(rb"\d{1,%d}" % digits, tags[name]):
            raise SignatureInvalid(f"{name.decode()}= is not a decimal number")
    if b"t" in tags and b"x" in tags and int(tags[b"x"]) < int(tags[b"t"]):
        raise SignatureInvalid("x= (expiry) is before t= (signing time)")
    checked = {k: v for k, v in tags.items() if k not in (b"v", b"t", b"x", b"q")}
    if b"i" in checked:
        checked[b"i"] = qp_decode(checked[b"i"])
    try:
        dkim.validate_signature_fields(checked, [b"a", b"b", b"bh", b"d", b"h", b"s"])
        CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
    except dkim.ValidationError as e:
        raise SignatureInvalid(str(e)) from e
    except InvalidCanonicalizationPolicyError as e:
        raise SignatureInvalid(f"unknown canonicalization c={e}") from e
    except IndexError as e:  # dkimpy indexes i= before checking its length: i= equal to d= without an @
        raise SignatureInvalid("i= is not an address in the signing domain") from e
    return draft


@dataclass
class PublicKey:
    """A usable key record."""

    kind: str  # rsa or ed25519
    bits: int
    key: Any  # dkimpy's RSA dict (modulus, publicExponent) or a nacl VerifyKey
    tags: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def testing(self) -> bool:
        return b"y" in self._flags

    @property
    def strict(self) -> bool:
        return b"s" in self._flags

    @property
    def _flags(self) -> list[bytes]:
        return [f.strip() for f in self.tags.get(b"t", b"").split(b":")]


@functools.lru_cache(maxsize=4096)  # a case has few keys and many messages: parse each record once
def parse_key(record: bytes) -> PublicKey:
    """A key record (RFC 6376 section 3.6.1) read as a verifier must, or KeyUnusable saying why not."""
    try:
        tags = parse_tag_value(record)
    except InvalidTagValueList as e:
        raise KeyUnusable(f"key record syntax error: {type(e).__name__} {e}") from e
    if tags.get(b"v", b"DKIM1") != b"DKIM1":
        raise KeyUnusable(f"key record version v={tags[b'v'].decode('ascii', 'replace')} is not DKIM1")
    services = [s.strip() for s in tags.get(b"s", b"*").split(b":")]
    if b"*" not in services and b"email" not in services:
        raise KeyUnusable(f"key is not for email (s={tags[b's'].decode('ascii', 'replace')})")
    if b"p" not in tags:
        raise KeyUnusable("key record has no p= tag")
    p = re.sub(rb"\s+", b"", tags[b"p"])
    if not p:
        raise KeyUnusable("key revoked (empty p=)", revoked=True)
    kind = tags.get(b"k", b"rsa").lower()
    try:
        der = base64.b64decode(p, validate=True)
    except binascii.Error as e:
        raise KeyUnusable(f"p= is not base64: {e}") from e
    if kind == b"ed25519":
        try:
            return PublicKey("ed25519", 256, nacl.signing.VerifyKey(der), tags)
        except (nacl.exceptions.ValueError, nacl.exceptions.TypeError) as e:
            raise KeyUnusable(f"not an Ed25519 public key: {e}") from e
    if kind != b"rsa":
        raise KeyUnusable(f"unknown key type k={kind.decode('ascii', 'replace')}")
    try:
        pk = parse_public_key(der)
    except (UnparsableKeyError, KeyError, IndexError, TypeError, ValueError) as e:
        raise KeyUnusable(f"p= is not an RSA public key: {e}") from e
    return PublicKey("rsa", pk["modulus"].bit_length(), pk, tags)


def key_accepts(key: PublicKey, sig: Signature) -> str | None:
    """Why this key record refuses this signature, or None.

    Beyond the key type, these are the signer's own restrictions: h= (hashes), t=s (no subdomain in i=) and
    g= (RFC 4871's local-part granularity; RFC 6376 dropped it, but a record that still carries it restricts
    what its owner vouched for, so honouring it can only withhold a proof, never invent one).
    """
    if key.kind != sig.algorithm.split("-")[0]:
        return f"key type {key.kind} does not match a={sig.algorithm}"
    if b"h" in key.tags:
        hashes = [h.strip().lower() for h in key.tags[b"h"].split(b":")]
        if sig.hash_name.encode() not in hashes:
            return f"key allows only h={key.tags[b'h'].decode('ascii', 'replace')}, signature uses {sig.hash_name}"
    local, _, domain = sig.identity.rpartition(b"@")
    if key.strict and domain.lower() != sig.tags[b"d"].lower():
        return "key has t=s: the identity i= must be in exactly the signing domain"
    if b"g" in key.tags:
        pattern = key.tags[b"g"].decode("ascii", "replace")
        if not granularity_matches(pattern, local.decode("ascii", "replace")):
            return f"key granularity g={pattern} does not match the identity's local part"
    return None


class ArchiveDKIM(dkim.DKIM):
    """dkimpy's DKIM for verifying at the message's own time, one half of a signature at a time."""

    def __init__(self, message: bytes) -> None:
        # minkey=0: dkimpy refuses keys under 1024 bits outright; we verify them and report them as proving nothing.
        try:
            super().__init__(message, minkey=0)
        except IndexError as e:  # dkimpy's parser on a folded line before any header field
            raise dkim.MessageFormatError("a continuation line comes before any header field") from e

    def signature_positions(self) -> list[int]:
        return [i for i, (n, _) in enumerate(self.headers) if n.lower() == SIG_HEADER][:MAX_SIGNATURES]

    def signature_headers(self) -> list[tuple[bytes, bytes]]:
        return [self.headers[i] for i in self.signature_positions()]

    def signature(self, idx: int) -> Signature:
        """The idx-th DKIM-Signature (0 is the topmost), validated; SignatureInvalid if it is unusable."""
        position = self.signature_positions()[idx]
        header = self.headers[position]
        try:
            tags = parse_tag_value(header[1])
        except InvalidTagValueList as e:
            raise SignatureInvalid(f"signature syntax error: {type(e).__name__} {e}") from e
        draft = validate(tags)
        include = tuple(h.strip().lower() for h in re.split(rb"\s*:\s*", tags[b"h"].strip()) if h.strip())
        if b"from" not in include:
            raise SignatureInvalid("h= does not list From, which every DKIM signature must sign")
        return Signature(idx, position, header, tags, include, draft)

    def canonical_body(self, sig: Signature, body: bytes | None = None) -> bytes:
        """The body as the signature's c= canonicalises it (the whole of it, before any l= cut)."""
        return sig.policy.canonicalize_body(self.body if body is None else body)

    def body_hash(self, sig: Signature, body: bytes | None = None) -> bytes:
        """base64 of the hash of `body` (default: the message's) as the signature computes it, l= applied."""
        canon = self.canonical_body(sig, body)
        if sig.length is not None:
            canon = canon[:sig.length]
        return base64.b64encode(HASH_ALGORITHMS[sig.algorithm.encode()](canon).digest())

    def body_matches(self, sig: Signature, body: bytes | None = None) -> bool:
        canon_len = len(self.canonical_body(sig, body))
        if sig.length is not None and sig.length > canon_len:
            return False  # a body shorter than l= says it lost signed text
        return _b64(self.body_hash(sig, body)) == _b64(sig.body_hash_tag)

    def headers_verify(self, sig: Signature, key: PublicKey,
                       headers: list[tuple[bytes, bytes]] | None = None) -> bool:
        """The header signature alone: h= headers and this DKIM-Signature (with its bh=) against b=."""
        headers = self.headers if headers is None else headers
        policy = sig.policy
        hasher = HASH_ALGORITHMS[sig.algorithm.encode()]()
        dkim.hash_headers(hasher, policy, policy.canonicalize_headers(headers), list(sig.include), sig.header,
                          sig.tags)
        try:
            signature = base64.b64decode(re.sub(rb"\s+", b"", sig.tags[b"b"]))
        except binascii.Error:
            return False
        if key.kind == "ed25519":
            try:
                key.key.verify(hasher.digest(), signature)
                return True
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
                return False  # a wrong signature, or one of the wrong length
        try:
            return RSASSA_PKCS1_v1_5_verify(hasher, signature, key.key)
        except (DigestTooLargeError, TypeError, ValueError):
            return False  # a modulus too small for the digest cannot have made this signature


def granularity_matches(pattern: str, text: str) -> bool:
    """g= matching: `*` is the only wildcard, case matters, and an empty g= matches nothing (RFC 4871 3.6.1)."""
    if not pattern:
        return False
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


def _b64(value: bytes) -> bytes | None:
    try:
        return base64.b64decode(value)
    except binascii.Error:
        return None

