"""The key store: key files of every shape (zone, name-record lines, JSON Lines), key_info, DNS (monkeypatched)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dns.resolver
import pytest
from conftest import shared_corpus
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from leaksift.keys import (DnsLookupError, KeyFileError, KeyProblem, KeyRecord, KeyStore, fetch_dns, key_info,
                           parse_key_file)


def _rsa_p(bits: int, fmt: serialization.PublicFormat = serialization.PublicFormat.SubjectPublicKeyInfo) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return base64.b64encode(key.public_bytes(serialization.Encoding.DER, fmt)).decode()


def _ed_p(raw: bool = True) -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    if raw:
        data = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        data = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(data).decode()


def _by_name(records: list[KeyRecord]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for r in records:
        out.setdefault(r.name, []).append(r.record)
    return out


# --- the reference corpus --------------------------------------------------------------------------------


def test_dkimpy_zone_file() -> None:
    path = shared_corpus("dkim", "dkimpy") / "keys.zone"
    problems: list[KeyProblem] = []
    recs = parse_key_file(path.read_bytes(), str(path), problems)
    assert problems == []
    assert [r.name for r in recs] == [
        "20120113._domainkey.gmail.com", "test._domainkey.example.com", "brisbane._domainkey.football.example.com",
        "test._domainkey.football.example.com", "sed._domainkey.test.ex"]
    assert all(r.source == str(path) for r in recs)
    gmail = recs[0]
    assert (gmail.selector, gmail.domain) == ("20120113", "gmail.com")
    assert gmail.record.startswith(b"k=rsa; p=MIIBIjANBgkq") and b'"' not in gmail.record and b" " not in gmail.record[9:]
    assert key_info(gmail.record)["key_type"] == "rsa" and key_info(gmail.record)["bits"] == 2048
    brisbane = key_info(recs[2].record)
    assert (brisbane["key_type"], brisbane["bits"], brisbane["error"]) == ("ed25519", 256, None)
    assert key_info(recs[1].record)["bits"] == 1024


def test_mail_dkim_fake_dns() -> None:
    path = shared_corpus("dkim", "mail-dkim") / "FAKE_DNS.dat"
    problems: list[KeyProblem] = []
    recs = parse_key_file(path.read_bytes(), str(path), problems)
    assert len(recs) == 23
    # Mail::DKIM's fake answers for a missing name and a failing server are not records.
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [
        (24, "nonexistent._domainkey.messiah.edu"), (25, "test3._domainkey.blackhole.messiah.edu"),
        (26, "test3._domainkey.blackhole2.messiah.edu")]
    info = {r.name: key_info(r.record) for r in recs}
    assert info["testrevoked._domainkey.messiah.edu"]["revoked"] is True
    assert info["test1._domainkey.messiah.edu"]["bits"] == 512 and info["test1._domainkey.messiah.edu"]["testing"]
    assert info["s1024._domainkey.yahoo.com"]["bits"] == 1024
    assert info["s1024._domainkey.yahoo.com"]["notes"] == "A 1024 bit key"
    assert info["shan._domainkey.vmt2.cis.att.net"]["bits"] == 768
    assert info["test5._domainkey.messiah.edu"]["strict"] is True
    assert "DKIM3" in info["testbad1._domainkey.messiah.edu"]["error"]
    assert "bad tag list" in info["testbad2._domainkey.messiah.edu"]["error"]
    assert "foobar" in info["testbad3._domainkey.messiah.edu"]["error"]
    assert info["2023-05-ed25519._domainkey.wander.science"]["bits"] == 256
    assert "44 bytes" in info["invalid._domainkey.wander.science"]["error"]  # an SPKI where raw Ed25519 belongs
    empty = [r for r in recs if r.selector == "2023-05-ed25519-empty"]
    assert [r.record for r in empty] == [b""]  # `""`: an empty record, kept; key_info says why it is no key
    assert key_info(b"")["error"] == "no p= tag"
    # the trailing " ; " of a record is the record's own, kept as written
    assert next(r for r in recs if r.selector == "test2").record.endswith(b"AQ== ;")


def _key_header(path: Path) -> bytes:
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(lines[:next(i for i, line in enumerate(lines) if not line.strip())])


def test_mail_auth_key_headers() -> None:
    files = sorted(shared_corpus("dkim", "mail-auth").glob("*/*.txt"))
    assert len(files) == 8
    names: dict[str, list[str]] = {}
    for path in files:
        head = _key_header(path)
        problems: list[KeyProblem] = []
        recs = parse_key_file(head, str(path), problems)
        assert problems == [] and len(recs) == len(head.splitlines()), path
        assert all(key_info(r.record)["error"] is None for r in recs), path
        names[f"{path.parent.name}/{path.name}"] = [r.name for r in recs]
    assert names["dkim/001.txt"] == ["brisbane._domainkey.football.example.com", "test._domainkey.football.example.com"]
    assert names["arc/002.txt"] == ["rsa._domainkey.manchego.org", "ed._domainkey.scamorza.org"]
    root = shared_corpus("dkim", "mail-auth")
    bare = parse_key_file(_key_header(root / "dkim" / "002.txt"), "002")[0]  # p= is a bare RSAPublicKey
    assert bare.record.split(b"p=")[1].startswith(b"MIGJAoGB") and key_info(bare.record)["bits"] == 1024
    google = parse_key_file(_key_header(root / "arc" / "001.txt"), "001")[0]
    assert google.name == "arc-20160816._domainkey.google.com" and key_info(google.record)["bits"] == 2048


def test_sample_zone_equals_dns_records(tmp_path: Path) -> None:
    from leaksift.sample import build_sample, dns_records

    manifest = build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=12)
    recs = parse_key_file((tmp_path / "keys.zone").read_bytes(), "keys.zone")
    assert {f"{r.name}.".encode(): r.record for r in recs} == dns_records(manifest)
    assert len(recs) == 4
    bits = {r.domain: (key_info(r.record)["key_type"], key_info(r.record)["bits"]) for r in recs}
    assert bits == {"campaign.example": ("rsa", 2048), "press.example": ("ed25519", 256),
                    "bank.example": ("rsa", 1024), "lists.example": ("rsa", 512)}


# --- zone files ------------------------------------------------------------------------------------------


def _zone(p_rsa: str, p_ed: str) -> str:
    half = len(p_rsa) // 2
    return f"""; every syntax feature of a BIND zone file
sel1._domainkey.example.org IN TXT "v=DKIM1; p={p_ed}" ; no $ORIGIN yet: taken as written
$TTL 1h
$ORIGIN example.net.
@            IN  SOA ns1 hostmaster ( 2017050401 ; serial
                     7200 3600 1209600 3600 )
             IN  MX 10 mail         ; owner inherited: example.net
             IN  TXT "v=spf1 -all"  ; a TXT that is not a key
mail         A   192.0.2.1
s1._domainkey  300 IN TXT ( "v=DKIM1; k=rsa; " ; a comment inside the parentheses
                 "p={p_rsa[:half]}"
                 "{p_rsa[half:]}" )
               TXT "v=DKIM1; k=ed25519; p={p_ed}"  ; continuation record: owner s1._domainkey
s2._domainkey.example.net. IN 600 TXT "n=a\\"b\\;c; x=\\065\\059\\200;"
$ORIGIN sub
s3._domainkey 2d3h TXT "one;" "two" "; three"
@ TXT "v=DKIM1; p={p_ed}" ; sub.example.net: no selector
_domainkey IN TXT "o=-" ; the old policy record: no selector either
$ORIGIN s4._domainkey.example.com.
@ IN TXT v=DKIM1;
"""


def test_zone_every_feature() -> None:
    p_rsa, p_ed = _rsa_p(1024), _ed_p()
    text = _zone(p_rsa, p_ed)
    problems: list[KeyProblem] = []
    recs = parse_key_file(text.encode(), "hand.zone", problems)
    assert problems == []
    assert _by_name(recs) == {
        "sel1._domainkey.example.org": [f"v=DKIM1; p={p_ed}".encode()],
        "s1._domainkey.example.net": [f"v=DKIM1; k=rsa; p={p_rsa}".encode(), f"v=DKIM1; k=ed25519; p={p_ed}".encode()],
        "s2._domainkey.example.net": [b'n=a"b;c; x=A;\xc8;'],
        "s3._domainkey.sub.example.net": [b"one;two; three"],
        "s4._domainkey.example.com": [b"v=DKIM1"],  # unquoted: the ';' starts a comment
    }
    s1 = [key_info(r.record) for r in recs if r.selector == "s1"]
    assert [(i["key_type"], i["bits"]) for i in s1] == [("rsa", 1024), ("ed25519", 256)]
    # the same zone with CRLF line ends, upper/lower case names and a BOM
    crlf = "\ufeff" + text.replace("\n", "\r\n").replace("s1._domainkey", "S1._DomainKey")
    assert _by_name(parse_key_file(crlf.encode("utf-8"), "crlf.zone")) == _by_name(recs)


def test_zone_problems_are_reported_with_line_numbers() -> None:
    text = "\n".join([
        '$TTL 300',
        'ok._domainkey.example.com. TXT "v=DKIM1; p="',       # 2: fine (revoked)
        'bad1._domainkey.example.com. TXT "never closed',     # 3
        'bad2._domainkey.example.com. TXT "\\300"',           # 4: \DDD over 255
        '$INCLUDE /etc/passwd',                               # 5: never followed
        'bad3._domainkey.example.com. 300 IN',                # 6: no type
        'bad4._domainkey.example.com. TXT',                   # 7: no data
        'ok2._domainkey.example.com. TXT ( "v=DKIM1; "',      # 8: spans lines
        '   "p=" )',
        ') stray',                                            # 10
        'bad5._domainkey.example.com. TXT ( "p="',            # 11: never closed
        'late._domainkey.example.com. TXT "p="',
    ])
    problems: list[KeyProblem] = []
    recs = parse_key_file(text.encode(), "broken.zone", problems)
    assert [r.selector for r in recs] == ["ok", "ok2"]
    assert [p.line for p in problems] == [3, 4, 5, 6, 7, 10, 11]
    assert "not closed" in problems[0].reason and "\\300" in problems[1].reason
    assert "$INCLUDE" in problems[2].reason and "never closed" in problems[6].reason
    assert str(problems[0]).startswith("broken.zone:3: ")


def test_zone_owner_must_exist() -> None:
    with pytest.raises(KeyFileError, match=r"z:2: no owner name to inherit"):
        parse_key_file(b'$TTL 60\n   IN TXT "p="\n', "z")
    with pytest.raises(KeyFileError, match=r"'@' used before any \$ORIGIN"):
        parse_key_file(b'; c\n@ IN TXT "p="\n', "z")


def test_zone_without_keys_is_empty_not_an_error() -> None:
    assert parse_key_file(b"$ORIGIN example.com.\n@ IN A 192.0.2.1\nwww CNAME @\n", "z") == []
    assert parse_key_file(b"", "empty") == []


# --- name record lines -----------------------------------------------------------------------------------


def test_name_record_lines() -> None:
    text = (b"# keys\n"
            b"\n"
            b"a._domainkey.Example.COM.  v=DKIM1; k=rsa; p=AAAA\n"
            b'b._domainkey.example.com\t"v=DKIM1; " "p=BB\\"B"\n'
            b"_dmarc.example.com v=DMARC1; p=none\n"     # not a key: kept out silently
            b"c._domainkey.example.com\n"                # 6: no record
            b'd._domainkey.example.com "unclosed\n'     # 7
            b'f._domainkey.example.com "v=DKIM1;" p=AAAA\n'  # 8: quoted, then not
            b"e%._domainkey.example.com p=\n")           # 9: not a DNS name
    problems: list[KeyProblem] = []
    recs = parse_key_file(text, "fake.dat", problems)
    assert [(r.selector, r.domain, r.record) for r in recs] == [
        ("a", "example.com", b"v=DKIM1; k=rsa; p=AAAA"), ("b", "example.com", b'v=DKIM1; p=BB"B')]
    assert [p.line for p in problems] == [6, 7, 8, 9]
    assert "not a DNS name" in problems[3].reason


# --- JSON Lines ------------------------------------------------------------------------------------------


def test_jsonl_archive() -> None:
    rows = [
        {"domain": "Example.com", "selector": "s1", "record": "v=DKIM1; p=AAAA",
         "first_seen": "2016-03-01T00:00:00Z", "last_seen": "2018-01-05T12:00:00+00:00", "source": "archive"},
        {"domain": "example.com", "selector": "s1", "record": "v=DKIM1; p=BBBB", "first_seen": "2018-01-06"},
        {"name": "s2._domainkey.example.org.", "record": ["v=DKIM1; ", "p=CC"], "last_seen": None},
        {"domain": "example.net", "selector": "z", "value": "p=DD", "firstSeenAt": "2021-01-01T00:00:00Z",
         "lastSeenAt": "2022-01-01T00:00:00Z"},  # the zk-email API's spelling
        {"name": "_dmarc.example.com", "record": "v=DMARC1; p=none"},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json", "[1, 2]", json.dumps({"domain": "x.org", "record": "p="}),
                                             json.dumps({"name": "s._domainkey.x.org", "record": 5}),
                                             json.dumps({"name": "s._domainkey.x.org", "record": "p=", "first_seen": 7})]
    problems: list[KeyProblem] = []
    recs = parse_key_file("\n".join(lines).encode(), "archive.jsonl", problems)
    assert [(r.name, r.record, r.first_seen, r.last_seen) for r in recs] == [
        ("s1._domainkey.example.com", b"v=DKIM1; p=AAAA", "2016-03-01T00:00:00Z", "2018-01-05T12:00:00+00:00"),
        ("s1._domainkey.example.com", b"v=DKIM1; p=BBBB", "2018-01-06", None),
        ("s2._domainkey.example.org", b"v=DKIM1; p=CC", None, None),
        ("z._domainkey.example.net", b"p=DD", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"),
    ]
    assert [p.line for p in problems] == [6, 7, 8, 9, 10]
    assert "not JSON" in problems[0].reason and "not a JSON object" in problems[1].reason
    assert "first_seen" in problems[4].reason
    store = KeyStore()
    for r in recs:
        store.add(r)
    assert [r.record for r in store.lookup("S1", "example.com.")] == [b"v=DKIM1; p=AAAA", b"v=DKIM1; p=BBBB"]


# --- the store -------------------------------------------------------------------------------------------


def test_store_keeps_every_record_and_every_source(tmp_path: Path) -> None:
    (tmp_path / "a.zone").write_text('s._domainkey.example.com. TXT "v=DKIM1; p=AAAA"\n'
                                     's._domainkey.example.com. TXT "v=DKIM1; p=BBBB"\n'
                                     's._domainkey.example.com. TXT "v=DKIM1; p=AAAA"\n')  # an exact repeat
    (tmp_path / "b.dat").write_text("s._domainkey.example.com v=DKIM1; p=AAAA\nt._domainkey.example.com p=\n")
    store = KeyStore.from_files([tmp_path / "a.zone", tmp_path / "b.dat"])
    assert len(store) == 4
    found = store.lookup("s", "Example.com")
    assert [(r.record, Path(r.source).name) for r in found] == [
        (b"v=DKIM1; p=AAAA", "a.zone"), (b"v=DKIM1; p=BBBB", "a.zone"), (b"v=DKIM1; p=AAAA", "b.dat")]
    distinct = store.distinct("s", "example.com")
    assert list(distinct) == [b"v=DKIM1; p=AAAA", b"v=DKIM1; p=BBBB"]
    assert [Path(r.source).name for r in distinct[b"v=DKIM1; p=AAAA"]] == ["a.zone", "b.dat"]
    assert store.lookup("missing", "example.com") == [] and store.distinct("missing", "example.com") == {}
    assert sorted(r.selector for r in store) == ["s", "s", "s", "t"]


def test_from_files_raises_on_a_file_with_nothing_usable(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_bytes(b"%PDF-1.7\n\x00\x01\x02 binary\nstartxref\n")
    with pytest.raises(KeyFileError) as err:
        KeyStore.from_files([tmp_path / "junk.txt"])
    assert isinstance(err.value, ValueError)
    assert f"{tmp_path / 'junk.txt'}:1:" in str(err.value) and "2 more bad lines" in str(err.value)
    assert [p.line for p in err.value.problems] == [1, 2, 3]


# --- key_info --------------------------------------------------------------------------------------------


def test_key_info_rsa_sizes_and_formats() -> None:
    spki = key_info(f"v=DKIM1; k=rsa; p={_rsa_p(2048)}".encode())
    assert (spki["key_type"], spki["bits"], spki["error"], spki["revoked"]) == ("rsa", 2048, None, False)
    bare = key_info(f"p={_rsa_p(1024, serialization.PublicFormat.PKCS1)}".encode())  # k= absent: RSA
    assert (bare["key_type"], bare["bits"]) == ("rsa", 1024)
    folded = _rsa_p(1024)
    assert key_info(f"p={folded[:40]} \r\n\t{folded[40:]}".encode())["bits"] == 1024  # FWS inside p=


def test_key_info_ed25519_flags_and_errors() -> None:
    ed = key_info(f"v=DKIM1; k=ed25519; t=y:s; h=sha256; s=email; p={_ed_p()}".encode())
    assert (ed["key_type"], ed["bits"], ed["testing"], ed["strict"], ed["hashes"], ed["services"]) == (
        "ed25519", 256, True, True, ["sha256"], ["email"])
    revoked = key_info(b"v=DKIM1; k=rsa; p=")
    assert revoked["revoked"] is True and revoked["bits"] is None and revoked["error"] is None
    assert "not base64" in key_info(b"p=@@@@")["error"]
    assert "holds a" in key_info(f"k=rsa; p={_ed_p(raw=False)}".encode())["error"]
    assert "not an RSA public key" in key_info(b"k=rsa; p=AAAA")["error"]
    assert "unknown key type" in key_info(b"k=dsa; p=AAAA")["error"]
    assert "DuplicateTag" in key_info(b"p=AAAA; p=BBBB")["error"]
    assert "v=DKIM2" in key_info(b"v=DKIM2; p=AAAA")["error"]
    json.dumps(key_info(b"\xff\xfe garbage"))  # always JSON-able


# --- DNS, monkeypatched: no test touches the network ------------------------------------------------------


class _Txt:
    def __init__(self, *strings: bytes) -> None:
        self.strings = strings


def test_fetch_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def resolve(name: str, rdtype: str, **kw: object) -> list[_Txt]:
        asked.append((name, rdtype, kw.get("lifetime")))
        return [_Txt(b"v=DKIM1; ", b"p=AAAA"), _Txt(b"v=DKIM1; p=")]

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    before = datetime.now(timezone.utc)
    recs = fetch_dns("Sel", "Example.COM.", timeout=2.5)
    assert asked == [("Sel._domainkey.Example.COM.", "TXT", 2.5)]
    assert [(r.name, r.record, r.source) for r in recs] == [
        ("sel._domainkey.example.com", b"v=DKIM1; p=AAAA", "dns"), ("sel._domainkey.example.com", b"v=DKIM1; p=", "dns")]
    when = datetime.fromisoformat(recs[0].fetched_at or "")
    assert when.utcoffset() == timedelta(0) and abs(when - before) < timedelta(seconds=5)


@pytest.mark.parametrize("exc, empty", [(dns.resolver.NXDOMAIN, True), (dns.resolver.NoAnswer, True),
                                        (dns.resolver.LifetimeTimeout, False), (dns.resolver.NoNameservers, False)])
def test_fetch_dns_failures(monkeypatch: pytest.MonkeyPatch, exc: type[Exception], empty: bool) -> None:
    def resolve(name: str, rdtype: str, **kw: object) -> list[_Txt]:
        raise exc()

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    if empty:
        assert fetch_dns("s", "example.com", 1) == []
    else:
        with pytest.raises(DnsLookupError, match="s._domainkey.example.com"):
            fetch_dns("s", "example.com", 1)
