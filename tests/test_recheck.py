"""Keys that arrive after a scan: `keys import` + `check` reach the verdicts a scan with the keys reaches,
and DNS is asked only with --dns, its answers kept with the time of the query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import export_lines
from typer.testing import CliRunner

from leaksift.checks.recheck import fetch_missing_keys, unverified_signatures
from leaksift.cli import app
from leaksift.keys import KeyRecord, parse_key_file
from leaksift.sample import build_sample
from leaksift.store import open_store

runner = CliRunner()
LEAK = "2017-05-05T22:00:00+02:00"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("recheck")
    build_sample(base / "leak", keys_out=base / "keys.zone")
    return base


def _verdicts(db: Path) -> dict[str, str]:
    return {r["path"]: r["verdict"] for r in export_lines(db)}


def _scan(sample: Path, db: Path, *extra: str) -> None:
    res = runner.invoke(app, ["scan", str(sample / "leak"), "--db", str(db), "--leaked-at", LEAK, "-q", *extra])
    assert res.exit_code == 0, res.output


def test_keys_after_the_scan_give_the_same_verdicts(sample: Path, tmp_path: Path, monkeypatch) -> None:
    def no_network(*a: object, **k: object) -> list:
        raise AssertionError("DNS queried without --dns")

    monkeypatch.setattr("leaksift.checks.recheck.fetch_dns", no_network)
    with_keys, later = tmp_path / "with.db", tmp_path / "later.db"
    _scan(sample, with_keys, "--keys", str(sample / "keys.zone"))
    _scan(sample, later)
    before = _verdicts(later)
    assert "verified" not in before.values()
    store = open_store(later)
    assert unverified_signatures(store)
    store.close()
    assert runner.invoke(app, ["keys", "import", str(sample / "keys.zone"), "--db", str(later)]).exit_code == 0
    res = runner.invoke(app, ["check", "--db", str(later)])
    assert res.exit_code == 0, res.output
    assert _verdicts(later) == _verdicts(with_keys)


def test_dns_answers_are_kept_with_their_time(sample: Path, tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    _scan(sample, db)
    zone = parse_key_file((sample / "keys.zone").read_bytes(), "zone")
    asked: list[tuple[str, str]] = []

    def fake_dns(selector: str, domain: str) -> list[KeyRecord]:
        asked.append((selector, domain))
        return [KeyRecord(r.domain, r.selector, r.record, "dns", fetched_at="2026-11-25T10:00:00+00:00")
                for r in zone if (r.selector, r.domain) == (selector, domain)]

    store = open_store(db)
    try:
        n = fetch_missing_keys(store, lookup=fake_dns)
        assert n > 0 and ("s2017", "campaign.example") in asked
        assert all(k.source == "dns" and k.fetched_at for k in store.keys())
    finally:
        store.close()
    res = runner.invoke(app, ["check", "--db", str(db)])
    assert res.exit_code == 0
    assert "verified" in _verdicts(db).values()
    listed = runner.invoke(app, ["keys", "list", "--db", str(db), "--json"])
    assert all(json.loads(line)["fetched_at"] for line in listed.output.splitlines())
