"""The sample's DKIM keys, derived from the seed, and the BIND zone file that publishes them.

Keys are derived, not generated: a SHAKE-256 stream over (seed, domain, selector) drives a prime search
(random odd start with the top two bits set, then the next candidate that passes a small-prime sieve and
Miller-Rabin with the first 8 primes as bases). The same seed therefore gives the same keys, the same
signatures (RSA PKCS#1 v1.5 and Ed25519 are deterministic) and the same zone file on every run and machine.
This is for fixtures only; never use it for real keys.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import nacl.signing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

if TYPE_CHECKING:
    from .manifest import SampleManifest

TTL = 3600


def _small_primes(limit: int) -> list[int]:
    flags = bytearray([1]) * limit
    for i in range(2, int(limit ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytes(len(range(i * i, limit, i)))
    return [i for i in range(3, limit) if flags[i]]


_SMALL_PRIMES = _small_primes(20_000)
# Fixed bases are enough for random (not adversarial) candidates: a composite that survives the sieve and
# eight rounds is far less likely than a hardware error.
_MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19)


@dataclass(frozen=True)
class KeySpec:
    domain: str
    selector: str
    kind: str  # rsa or ed25519
    bits: int
    published: bool  # written to the zone file
    note: str
    flags: str = ""  # extra tags of the DNS record, e.g. "t=y"


KEY_SPECS = (
    KeySpec("campaign.example", "s2017", "rsa", 2048, True, "the campaign's outbound mail key"),
    KeySpec("press.example", "ed2017", "ed25519", 256, True, "Ed25519 (RFC 8463); some signatures carry x="),
    KeySpec("bank.example", "mail2016", "rsa", 1024, True, "1024-bit RSA: verifies, but a weak key"),
    KeySpec("lists.example", "lists", "rsa", 512, True, "512-bit test key (t=y): a pass proves nothing",
            flags="t=y"),
    KeySpec("gmail.example", "20161025", "rsa", 2048, False, "not published: signatures cannot be checked"),
)


@dataclass(frozen=True)
class DkimKey:
    spec: KeySpec
    private: rsa.RSAPrivateKey | nacl.signing.SigningKey
    public_b64: str  # the p= value: SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519

    @property
    def domain(self) -> str:
        return self.spec.domain

    @property
    def selector(self) -> str:
        return self.spec.selector

    @property
    def name(self) -> str:
        """The DNS name dkimpy asks for: selector._domainkey.domain. (with the final dot)."""
        return f"{self.spec.selector}._domainkey.{self.spec.domain}."

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if self.spec.kind == "ed25519" else b"rsa-sha256"

    @property
    def record(self) -> str:
        flags = f"{self.spec.flags}; " if self.spec.flags else ""
        return f"v=DKIM1; k={self.spec.kind}; {flags}p={self.public_b64}"

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest as DKIM does (PKCS#1 v1.5 for RSA, Ed25519 over the digest)."""
        if isinstance(self.private, nacl.signing.SigningKey):
            return self.private.sign(digest).signature
        return self.private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


class _Stream:
    """Deterministic bytes: SHAKE-256 in counter mode over a label."""

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0

    def read(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._label + self._counter.to_bytes(8, "big")).digest(n)

    def odd_int(self, bits: int) -> int:
        n = int.from_bytes(self.read((bits + 7) // 8), "big") >> (-bits % 8)
        return n | (3 << (bits - 2)) | 1  # top two bits set: p*q has exactly 2*bits bits


def _probable_prime(n: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _MR_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(stream: _Stream, bits: int, e: int) -> int:
    """The first probable prime in a sieved window after a random start (p-1 coprime with e)."""
    window = 8192  # odd candidates start, start+2, ...
    while True:
        start = stream.odd_int(bits)
        composite = bytearray(window)
        for p in _SMALL_PRIMES:
            first = (-start) % p  # start + first is divisible by p
            if first % 2:
                first += p
            composite[first // 2::p] = b"\x01" * len(range(first // 2, window, p))
        for i in range(window):
            cand = start + 2 * i
            if composite[i] or cand.bit_length() != bits or (cand - 1) % e == 0:
                continue
            if _probable_prime(cand):
                return cand


def _rsa_key(label: str, bits: int) -> rsa.RSAPrivateKey:
    stream, e = _Stream(label), 65537
    p = _prime(stream, bits // 2, e)
    q = _prime(stream, bits // 2, e)
    while q == p:
        q = _prime(stream, bits // 2, e)
    p, q = max(p, q), min(p, q)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)  # built from checked primes


def _derive(seed: int, spec: KeySpec) -> DkimKey:
    label = f"leaksift-sample/{seed}/{spec.domain}/{spec.selector}"
    if spec.kind == "ed25519":
        signing = nacl.signing.SigningKey(_Stream(label).read(32))
        return DkimKey(spec, signing, base64.b64encode(bytes(signing.verify_key)).decode())
    key = _rsa_key(label, spec.bits)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return DkimKey(spec, key, base64.b64encode(spki).decode())


@lru_cache(maxsize=4)
def derive_keys(seed: int) -> dict[str, DkimKey]:
    """The sample's keys for a seed, by signing domain. Cached: the prime search takes a few tenths of a second."""
    return {spec.domain: _derive(seed, spec) for spec in KEY_SPECS}


def zone_text(keys: dict[str, DkimKey], seed: int) -> str:
    """The published keys as a BIND zone fragment: absolute names, $TTL, comments, long records split."""
    lines = [
        "; DKIM keys of the leaksift sample leak (fictional; every domain is reserved).",
        f"; Derived from seed {seed}; regenerate with the same seed to get the same keys.",
        f"$TTL {TTL}",
        "",
    ]
    for key in keys.values():
        if not key.spec.published:
            continue
        lines.append(f"; {key.domain}: {key.spec.kind.upper()} {key.spec.bits} bits - {key.spec.note}")
        lines.extend(_record_lines(key))
        lines.append("")
    lines.append("; gmail.example's selector 20161025 signs part of the sample but is deliberately absent.")
    return "\n".join(lines) + "\n"


def _record_lines(key: DkimKey) -> list[str]:
    head = f"v=DKIM1; k={key.spec.kind}; " + (f"{key.spec.flags}; " if key.spec.flags else "")
    body = f"p={key.public_b64}"
    chunks = [body[i:i + 120] for i in range(0, len(body), 120)]
    if len(chunks) == 1:
        return [f'{key.name}\t{TTL}\tIN\tTXT\t"{head}{body}"']
    out = [f'{key.name}\t{TTL}\tIN\tTXT\t( "{head}"']
    out += [f'\t\t"{c}"' for c in chunks[:-1]]
    out.append(f'\t\t"{chunks[-1]}" )')
    return out


def write_zone(path: Path, keys: dict[str, DkimKey], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(zone_text(keys, seed), encoding="ascii")


_COMMENT = re.compile(r';[^"\n]*$', re.M)
_RECORD = re.compile(r'^(\S+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(\(.*?\)|"[^\n]*")', re.M | re.S)


def parse_zone(text: str) -> dict[bytes, bytes]:
    """TXT records of a zone file like the one written here (absolute names): name -> joined strings."""
    clean = _COMMENT.sub("", text)
    return {m.group(1).encode(): "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
            for m in _RECORD.finditer(clean)}


def dns_records(source: "SampleManifest | Path | str") -> dict[bytes, bytes]:
    """DNS name -> TXT record bytes, from a manifest (its published keys) or a zone file path."""
    if isinstance(source, (str, Path)):
        return parse_zone(Path(source).read_text(encoding="ascii"))
    return {k.name.encode(): k.record.encode() for k in source.keys if k.published}


def dnsfunc(records: dict[bytes, bytes]) -> Callable[..., bytes | None]:
    """A `dnsfunc` for dkimpy's verify that answers from `records` and never touches the network."""
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)
    return lookup
