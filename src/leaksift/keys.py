"""The DKIM key store: key records from files (and, only when asked, DNS), with where each came from.

A selector may have several records (a key rotated, or an archive that saw several): all are kept and all are
tried. A missing key makes a signature unverifiable, never failed.

Key files come in three shapes, told apart by their first meaningful line (`parse_key_file`):
  - BIND zone files: `$ORIGIN`/`$TTL`, `;` comments, parentheses, several quoted strings joined, optional TTL
    and class, owner omitted on continuation records; record types other than TXT are skipped;
  - `name record` lines, one a line, `#` comments (Mail::DKIM's FAKE_DNS.dat, mail-auth's test files);
  - JSON Lines of archived records: `domain` + `selector` (or `name`), `record` (or `value`), `first_seen`
    and `last_seen` (or `firstSeenAt`/`lastSeenAt`, as the zk-email archive spells them).
Only names with `._domainkey.` are keys; other names are skipped. Nothing here executes or fetches anything,
except `fetch_dns`, which the caller runs only when the user asked for DNS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.util import InvalidTagValueList, parse_tag_value


@dataclass(frozen=True)
class KeyRecord:
    domain: str  # lower-case, no trailing dot
    selector: str  # lower-case
    record: bytes  # the TXT record, its strings joined
    source: str  # the key file's path, or "dns"
    first_seen: str | None = None  # ISO 8601, from archives of key records
    last_seen: str | None = None
    fetched_at: str | None = None  # for DNS answers: when the query was made

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True)
class KeyProblem:
    """A line of a key file that could not be read (it is skipped; the rest of the file still counts)."""

    source: str
    line: int  # 1-based; for a record spanning lines, the line where it starts
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


class KeyFileError(ValueError):
    """A key file with unreadable lines and not one key record."""

    def __init__(self, source: str, problems: list[KeyProblem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
        super().__init__(f"no key record could be read: {problems[0]}{more}")


class DnsLookupError(OSError):
    """DNS could not answer (timeout, SERVFAIL, no server): unlike NXDOMAIN, this says nothing about the key."""


def parse_key_file(data: bytes, source: str, problems: list[KeyProblem] | None = None) -> list[KeyRecord]:
    """The DKIM key records of a key file, in file order; `source` is recorded on each.

    Unreadable lines are skipped and appended to `problems` when a list is given. If there are unreadable
    lines and not one record, raises KeyFileError (a ValueError) naming the first bad line. A readable file
    without DKIM names (a zone of A records, an empty file) gives [].
    """
    text = data.decode("latin-1").removeprefix("\xef\xbb\xbf")  # latin-1 keeps every byte of the records
    found: list[KeyProblem] = []
    parse = {"zone": _parse_zone, "lines": _parse_lines, "jsonl": _parse_jsonl}[_detect(text)]
    records = list(parse(text, source, found))
    if found and not records:
        raise KeyFileError(source, found)
    if problems is not None:
        problems.extend(found)
    return records


_RR_TYPES = frozenset("A AAAA CNAME DNAME MX NS PTR SOA SPF SRV TXT CAA DS DNSKEY TLSA HINFO".split())
_CLASSES = frozenset({"IN", "CH", "HS", "CS"})
_TTL = re.compile(r"\d+|(\d+[wdhms])+", re.I)
_DNS_NAME = re.compile(r"[a-z0-9_*-]+(\.[a-z0-9_*-]+)*\.?")


def _detect(text: str) -> str:
    """zone, lines or jsonl, from the first line that says."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            return "jsonl"
        if line.startswith(("$", ";")):
            return "zone"
        head = re.split(r'["=]', line, maxsplit=1)[0].split()
        return "zone" if any(w.upper() in _RR_TYPES for w in head) else "lines"
    return "lines"


def _key_record(name: str, record: bytes, source: str, **dates: str | None) -> KeyRecord | str | None:
    """A KeyRecord for a DKIM name, None for another name, or the reason the name is unusable."""
    name = name.lower()
    if not _DNS_NAME.fullmatch(name):
        return f"not a DNS name: {name[:80]!r}"
    selector, sep, domain = name.rstrip(".").partition("._domainkey.")
    if not sep or not selector or not domain:
        return None
    return KeyRecord(domain=domain, selector=selector, record=record, source=source, **dates)


# --- zone files ------------------------------------------------------------------------------------------


@dataclass
class _Token:
    text: str
    quoted: bool


@dataclass
class _Entry:
    """One logical line of a zone file: parentheses join physical lines."""

    line: int
    indented: bool  # starts with blank space: the owner is the previous record's
    tokens: list[_Token] = field(default_factory=list)
    error: str | None = None


def _zone_entries(text: str) -> Iterator[_Entry]:
    """Split a zone file into logical lines of tokens (RFC 1035 section 5.1 presentation format)."""
    pos, line, depth, opened = 0, 1, 0, 0
    entry = _Entry(1, False)
    line_start = True
    while pos < len(text):
        c = text[pos]
        if c == "\n":
            line, pos, line_start = line + 1, pos + 1, True
            if depth == 0:
                if entry.tokens or entry.error:
                    yield entry
                entry = _Entry(line, False)
            continue
        if line_start and depth == 0 and not entry.tokens:
            entry.line, entry.indented = line, c in " \t"
        line_start = False
        if c in " \t\r":
            pos += 1
        elif c == ";":
            pos = _line_end(text, pos)
        elif c == "(":
            opened = opened if depth else line
            depth, pos = depth + 1, pos + 1
        elif c == ")":
            if depth == 0:
                entry.error = entry.error or "')' without '('"
            depth, pos = max(depth - 1, 0), pos + 1
        else:
            token, pos, lines, error = _read_token(text, pos)
            line += lines
            if error:  # give up on this logical line at the end of the physical one
                entry.error, depth, pos = entry.error or error, 0, _line_end(text, pos)
            else:
                entry.tokens.append(token)
    if depth:
        entry.error = entry.error or f"'(' on line {opened} is never closed"
    if entry.tokens or entry.error:
        yield entry


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _read_token(text: str, pos: int) -> tuple[_Token, int, int, str | None]:
    """A quoted string or a bare word from pos, escapes decoded: (token, next pos, newlines crossed, error)."""
    quoted = text[pos] == '"'
    pos += quoted
    out: list[str] = []
    lines = 0
    while pos < len(text):
        c = text[pos]
        if quoted and c == '"':
            return _Token("".join(out), True), pos + 1, lines, None
        if c == "\n" or (not quoted and c in ' \t\r;()"'):
            break
        if c == "\\":
            digits = text[pos + 1:pos + 4]
            if digits[:1].isdigit():
                if not (len(digits) == 3 and digits.isdigit() and int(digits) < 256):
                    return _Token("", quoted), pos, lines, f"bad escape '\\{digits}' (\\DDD is a byte, 000-255)"
                out.append(chr(int(digits)))
                pos += 4
                continue
            if pos + 1 == len(text):
                break
            lines += text[pos + 1] == "\n"
            out.append(text[pos + 1])
            pos += 2
            continue
        out.append(c)
        pos += 1
    if quoted:
        return _Token("", True), pos, lines, "quoted string not closed on its line"
    return _Token("".join(out), False), pos, lines, None


def _absolute(name: str, origin: str | None) -> str | None:
    """An owner name made absolute as BIND does; without $ORIGIN a name is taken as written."""
    if name == "@":
        return origin
    if name.endswith(".") or not origin:
        return name
    return f"{name}.{origin}"


def _parse_zone(text: str, source: str, problems: list[KeyProblem]) -> Iterator[KeyRecord]:
    origin: str | None = None
    owner: str | None = None
    for entry in _zone_entries(text):
        if entry.error:
            problems.append(KeyProblem(source, entry.line, entry.error))
            continue
        words = [t.text for t in entry.tokens]
        if not entry.indented and not entry.tokens[0].quoted and words[0].startswith("$"):
            directive = words[0].upper()
            if directive == "$ORIGIN" and len(words) == 2:
                origin = _absolute(words[1], origin)
                origin = origin if origin.endswith(".") else origin + "."
            elif directive != "$TTL":  # $INCLUDE is refused: a key file never makes us read another file
                problems.append(KeyProblem(source, entry.line, f"directive not supported or malformed: {' '.join(words)[:80]}"))
            continue
        rest = entry.tokens
        if not entry.indented:
            owner, rest = _absolute(words[0], origin), rest[1:]
            if owner is None:
                problems.append(KeyProblem(source, entry.line, "'@' used before any $ORIGIN"))
                continue
        elif owner is None:
            problems.append(KeyProblem(source, entry.line, "no owner name to inherit"))
            continue
        rtype, strings = _split_rr(rest)
        if rtype is None:
            problems.append(KeyProblem(source, entry.line, f"no record type in: {' '.join(words)[:80]}"))
        elif rtype == "TXT":
            yield from _checked(owner, [s.text for s in strings], source, entry.line, problems)


def _split_rr(tokens: list[_Token]) -> tuple[str | None, list[_Token]]:
    """Skip the optional TTL and class (either order): the record type and its data."""
    for i, tok in enumerate(tokens):
        if tok.quoted:
            return None, []
        if not (_TTL.fullmatch(tok.text) or tok.text.upper() in _CLASSES):
            return tok.text.upper(), tokens[i + 1:]
    return None, []


def _checked(name: str, strings: list[str], source: str, line: int,
             problems: list[KeyProblem], **dates: str | None) -> Iterator[KeyRecord]:
    """The KeyRecord for name and its joined strings, or a problem; nothing for a name that is not DKIM."""
    if not strings:
        problems.append(KeyProblem(source, line, f"{name}: TXT record without data"))
        return
    rec = _key_record(name, "".join(strings).encode("latin-1"), source, **dates)
    if isinstance(rec, str):
        problems.append(KeyProblem(source, line, rec))
    elif rec is not None:
        yield rec


# --- name record lines -----------------------------------------------------------------------------------


def _parse_lines(text: str, source: str, problems: list[KeyProblem]) -> Iterator[KeyRecord]:
    """`selector._domainkey.domain RECORD`, the record bare or in quotes, one a line."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, record = (line.split(None, 1) + [""])[:2]
        if record.startswith('"'):
            strings = _quoted_strings(record)
            if strings is None:
                problems.append(KeyProblem(source, number, f"{name}: bad quoted record"))
                continue
        elif "=" not in record:  # NXDOMAIN, ~~SERVFAIL~~ (Mail::DKIM's fake answers), or no record at all
            problems.append(KeyProblem(source, number, f"{name}: not a key record: {record[:80]!r}"))
            continue
        else:
            strings = [record]
        yield from _checked(name, strings, source, number, problems)


def _quoted_strings(text: str) -> list[str] | None:
    """The strings of `"a" "b"`, escapes decoded; None unless the text is only quoted strings."""
    entries = list(_zone_entries(text))
    if len(entries) != 1 or entries[0].error or not all(t.quoted for t in entries[0].tokens):
        return None
    return [t.text for t in entries[0].tokens]


# --- JSON Lines ------------------------------------------------------------------------------------------

_ALIASES = {"record": ("record", "value"), "first_seen": ("first_seen", "firstSeenAt"),
            "last_seen": ("last_seen", "lastSeenAt")}


def _field(obj: dict[str, Any], key: str) -> Any:
    return next((obj[k] for k in _ALIASES[key] if obj.get(k) is not None), None)


def _parse_jsonl(text: str, source: str, problems: list[KeyProblem]) -> Iterator[KeyRecord]:
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(raw.encode("latin-1").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(KeyProblem(source, number, f"not JSON: {e}"))
            continue
        fields = _json_fields(obj)
        if isinstance(fields, str):
            problems.append(KeyProblem(source, number, fields))
            continue
        name, strings, dates = fields
        yield from _checked(name, strings, source, number, problems, **dates)


def _json_fields(obj: Any) -> tuple[str, list[str], dict[str, str | None]] | str:
    """(name, record strings, dates) of one archived record, or what is wrong with it."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if isinstance(obj.get("domain"), str) and isinstance(obj.get("selector"), str):
        name = f"{obj['selector']}._domainkey.{obj['domain']}"
    elif isinstance(obj.get("name"), str):
        name = obj["name"]
    else:
        return "no domain and selector, nor name"
    record = _field(obj, "record")
    if isinstance(record, str):
        record = [record]
    if not isinstance(record, list) or not all(isinstance(s, str) for s in record):
        return f"{name}: no record (a string, or a list of strings)"
    dates = {key: _field(obj, key) for key in ("first_seen", "last_seen")}
    bad = [k for k, v in dates.items() if v is not None and not isinstance(v, str)]
    if bad:
        return f"{name}: {bad[0]} is not a string"
    # The record is text in JSON; as bytes it is its UTF-8 (DKIM records are ASCII).
    return name, [s.encode("utf-8").decode("latin-1") for s in record], dates


# --- the store -------------------------------------------------------------------------------------------


@dataclass
class KeyStore:
    """Key records by (selector, domain). One KeyRecord per source: the same record from two files is kept
    twice (each with its own source and dates), an exact repeat once. `distinct` groups them by record."""

    records: dict[tuple[str, str], list[KeyRecord]] = field(default_factory=dict)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], problems: list[KeyProblem] | None = None) -> KeyStore:
        """A store of every key file's records (see parse_key_file for `problems` and errors)."""
        store = cls()
        for path in paths:
            for rec in parse_key_file(Path(path).read_bytes(), str(path), problems):
                store.add(rec)
        return store

    def add(self, rec: KeyRecord) -> None:
        key = (rec.selector.lower(), rec.domain.lower().rstrip("."))
        have = self.records.setdefault(key, [])
        if rec not in have:
            have.append(rec)

    def lookup(self, selector: str, domain: str) -> list[KeyRecord]:
        """Every record of the selector, from every source, in the order added."""
        return list(self.records.get((selector.lower(), domain.lower().rstrip(".")), []))

    def distinct(self, selector: str, domain: str) -> dict[bytes, list[KeyRecord]]:
        """Each distinct record of the selector once (a key to try), with the KeyRecords of every source."""
        out: dict[bytes, list[KeyRecord]] = {}
        for rec in self.lookup(selector, domain):
            out.setdefault(rec.record, []).append(rec)
        return out

    def __len__(self) -> int:
        return sum(len(v) for v in self.records.values())

    def __iter__(self) -> Iterator[KeyRecord]:
        for recs in self.records.values():
            yield from recs


# --- what a record holds ---------------------------------------------------------------------------------


def key_info(record: bytes) -> dict[str, Any]:
    """The tags of a key record (RFC 6376 section 3.6.1) and its key: a JSON-able dict.

    key_type ("rsa" when k= is absent), bits (RSA modulus length; 256 for Ed25519), revoked (empty p=),
    testing (t=y), strict (t=s), version, hashes (h=), services (s=), notes (n=), and error: why the record
    or its key cannot be used, else None. Never raises.
    """
    info: dict[str, Any] = {"key_type": None, "bits": None, "revoked": False, "testing": False, "strict": False,
                            "version": None, "hashes": None, "services": None, "notes": None, "error": None}
    try:
        tags = {k.decode("ascii", "replace"): v.decode("ascii", "replace")
                for k, v in parse_tag_value(record).items()}
    except InvalidTagValueList as e:
        info["error"] = f"bad tag list: {e.__class__.__name__} {e}"
        return info
    flags = tags.get("t", "").split(":")
    info.update(key_type=tags.get("k", "rsa").lower(), version=tags.get("v"), notes=tags.get("n"),
                testing="y" in flags, strict="s" in flags,
                hashes=_colon_list(tags.get("h")), services=_colon_list(tags.get("s")))
    if info["version"] not in (None, "DKIM1"):
        info["error"] = f"v={info['version']}: not a DKIM1 key record"
    elif "p" not in tags:
        info["error"] = "no p= tag"
    elif not tags["p"].strip():
        info["revoked"] = True
    else:
        info["bits"], info["error"] = _key_bits(info["key_type"], tags["p"])
    return info


def _colon_list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(":") if v.strip()]


def _key_bits(key_type: str, p: str) -> tuple[int | None, str | None]:
    """The key size of p= for k=key_type, or why there is none."""
    try:
        der = base64.b64decode(re.sub(r"\s+", "", p), validate=True)
    except binascii.Error as e:
        return None, f"p= is not base64: {e}"
    if key_type == "ed25519":
        if len(der) != 32:
            return None, f"an Ed25519 p= holds the raw 32-byte key, this one has {len(der)} bytes"
        ed25519.Ed25519PublicKey.from_public_bytes(der)
        return 256, None
    if key_type != "rsa":
        return None, f"unknown key type k={key_type}"
    try:  # SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey: cryptography reads both
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError) as e:
        return None, f"p= is not an RSA public key: {e}"
    if not isinstance(key, rsa.RSAPublicKey):
        return None, f"k=rsa but p= holds a {type(key).__name__}"
    return key.key_size, None


# --- DNS, only when the user asked for it ----------------------------------------------------------------


def fetch_dns(selector: str, domain: str, timeout: float = 5.0) -> list[KeyRecord]:
    """The TXT records at selector._domainkey.domain, as DNS answers now (source "dns", fetched_at set).

    [] when the name or its TXT records do not exist; DnsLookupError when DNS could not say. Call it only
    when the user passed --dns: it touches the network.
    """
    import dns.exception
    import dns.resolver

    name = f"{selector}._domainkey.{domain.rstrip('.')}."
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=timeout, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as e:
        raise DnsLookupError(f"{name}: {e.__class__.__name__}: {e}") from e
    return [KeyRecord(domain=domain.lower().rstrip("."), selector=selector.lower(), record=b"".join(r.strings),
                      source="dns", fetched_at=fetched_at) for r in answer]
