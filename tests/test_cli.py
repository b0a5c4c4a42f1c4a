"""The command-line contract: options and outputs other tools rely on."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import write_eml
from typer.testing import CliRunner

from leaksift.cli import app

runner = CliRunner()


@pytest.fixture
def case(tmp_path: Path) -> Path:
    dump = tmp_path / "dump"
    write_eml(dump / "inbox" / "1.eml", 1, body="Le virement offshore est parti.\r\n", Subject="Virement")
    write_eml(dump / "inbox" / "2.eml", 2, body="Meeting about the budget.\r\n", Subject="Budget")
    (dump / "notes.txt").write_text("offshore account list, no transfer yet\n")
    keys = tmp_path / "keys.zone"
    keys.write_text('s1._domainkey.campaign.example. IN TXT "v=DKIM1; k=rsa; p=AAAA"\n')
    db = tmp_path / "case.db"
    res = runner.invoke(app, ["scan", str(dump), "--db", str(db), "--keys", str(keys),
                              "--leaked-at", "2017-05-05T22:00:00+02:00", "--jobs", "2", "-q"])
    assert res.exit_code == 0, res.output
    return db


def test_scan_prints_summary_and_stores_options(case: Path) -> None:
    con = sqlite3.connect(case)
    assert con.execute("SELECT value FROM meta WHERE key='leaked_at'").fetchone()[0] == "2017-05-05T22:00:00+02:00"
    path, content = con.execute("SELECT path, content FROM key_files").fetchone()
    assert path.endswith("keys.zone") and b"campaign.example" in content


def test_leaked_at_needs_an_offset(tmp_path: Path) -> None:
    dump = tmp_path / "d"
    write_eml(dump / "1.eml", 1)
    res = runner.invoke(app, ["scan", str(dump), "--db", str(tmp_path / "c.db"), "--leaked-at", "2017-05-05"])
    assert res.exit_code != 0 and "offset" in res.output


def test_search_with_boolean_query_and_filters(case: Path) -> None:
    res = runner.invoke(app, ["search", "--db", str(case), "offshore AND virement", "--json"])
    assert res.exit_code == 0, res.output
    hits = [json.loads(line) for line in res.output.splitlines()]
    assert [h["path"] for h in hits] == ["inbox/1.eml"]
    res = runner.invoke(app, ["search", "--db", str(case), "offshore", "--kind", "document", "--json"])
    assert "notes.txt" in res.output and "inbox/1.eml" not in res.output
    res = runner.invoke(app, ["search", "--db", str(case), "offshore", "--verdict", "tampered"])
    assert res.exit_code == 0 and "0 hits" in res.output
    res = runner.invoke(app, ["search", "--db", str(case), "offshore", "--kind", "spreadsheet"])
    assert res.exit_code != 0


def test_search_reports_a_bad_query(case: Path) -> None:
    res = runner.invoke(app, ["search", "--db", str(case), 'AND "unclosed'])
    assert res.exit_code == 2 and "bad query" in res.output


def test_export_jsonl_and_csv_carry_the_contract(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.jsonl"
    res = runner.invoke(app, ["export", "--db", str(case), "--format", "jsonl", "--output", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    required = {"id", "path", "kind", "mime", "sha256", "size", "parent", "message_id", "from", "date",
                "subject", "verdict", "findings", "error"}
    for r in rows:
        assert required <= set(r)
        assert r["verdict"] in {"verified", "consistent", "suspicious", "tampered", "unreadable"}
        assert isinstance(r["findings"], list)
    csv_out = tmp_path / "items.csv"
    res = runner.invoke(app, ["export", "--db", str(case), "--format", "csv", "--output", str(csv_out)])
    assert res.exit_code == 0
    table = list(csv.DictReader(io.StringIO(csv_out.read_text())))
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    assert {"id", "path", "kind", "sha256", "verdict", "findings", "error"} <= set(table[0])
    res = runner.invoke(app, ["export", "--db", str(case), "--format", "xml"])
    assert res.exit_code != 0


def test_show_one_item(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.jsonl"
    runner.invoke(app, ["export", "--db", str(case), "--output", str(out)])
    row = next(json.loads(line) for line in out.read_text().splitlines() if json.loads(line)["path"] == "notes.txt")
    res = runner.invoke(app, ["show", "--db", str(case), row["id"]])
    assert res.exit_code == 0, res.output
    assert "notes.txt" in res.output and row["sha256"] in res.output and "findings" in res.output
    res = runner.invoke(app, ["show", "--db", str(case), "0000000000000000"])
    assert res.exit_code == 1


def test_commands_refuse_a_missing_case(tmp_path: Path) -> None:
    res = runner.invoke(app, ["export", "--db", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and not (tmp_path / "none.db").exists()


def test_keys_import_and_list(tmp_path: Path) -> None:
    from leaksift.sample import build_sample

    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone")
    db = tmp_path / "case.db"
    res = runner.invoke(app, ["keys", "import", str(tmp_path / "keys.zone"), "--db", str(db)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.txt"
    bad.write_text("x._domainkey.example.org NXDOMAIN\n")
    res = runner.invoke(app, ["keys", "import", str(bad), "--db", str(db)])
    assert res.exit_code == 2 and "cannot read keys" in res.output
    res = runner.invoke(app, ["keys", "list", "--db", str(db), "--json"])
    rows = [json.loads(line) for line in res.output.splitlines()]
    by_name = {(r["selector"], r["domain"]): r for r in rows}
    assert by_name[("s2017", "campaign.example")]["bits"] == 2048
    assert by_name[("s2017", "campaign.example")]["source"].endswith("keys.zone")
    assert any(r["key_type"] == "ed25519" for r in rows)
    res = runner.invoke(app, ["keys", "import", str(tmp_path / "keys.zone"), "--db", str(db)])
    assert "0 new key records" in " ".join(res.output.split())


def test_progress_shows_rates_and_errors(tmp_path: Path, monkeypatch) -> None:
    dump = tmp_path / "dump"
    for i in range(5):
        write_eml(dump / f"{i}.eml", i)
    (dump / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setenv("LEAKSIFT_PROGRESS", "1")
    res = runner.invoke(app, ["scan", str(dump), "--db", str(tmp_path / "c.db")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "items/s" in text and "MB/s" in text and "1 errors" in text
    assert "kind: email" in text and "error: " in text  # the summary table at the end


def test_no_checks_ingests_only(tmp_path: Path) -> None:
    from leaksift.sample import build_sample

    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone")
    db = tmp_path / "case.db"
    res = runner.invoke(app, ["scan", str(tmp_path / "leak"), "--db", str(db), "--keys", str(tmp_path / "keys.zone"),
                              "--no-checks", "-q"])
    assert res.exit_code == 0, res.output
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM findings").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM items").fetchone()[0] > 100
