"""Hostile dumps end as recorded errors or bounded results; the scan goes on."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import export_lines, scan_dump, shared_corpus, write_eml

PEAK_RSS = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "leaksift.cli", "scan", sys.argv[1], "--db", sys.argv[2], "-q",
                "--jobs", "2"], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


@pytest.mark.slow
def test_two_gigabyte_file_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    big = dump / "huge.bin"
    with open(big, "wb") as f:  # sparse: costs no disk, reads as 2 GB of zeros
        f.truncate(2 * 1024**3 + 17)
    write_eml(dump / "after.eml", 1)
    db = tmp_path / "case.db"
    res = subprocess.run([sys.executable, "-c", PEAK_RSS, str(dump), str(db)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    peak = int(res.stdout.strip())
    assert peak < 400 * 1024**2, f"peak RSS {peak / 1024**2:.0f} MB while reading a 2 GB file"
    rows = {r["path"]: r for r in export_lines(db)}
    assert rows["huge.bin"]["size"] == 2 * 1024**3 + 17
    zeros, h = bytes(1 << 24), hashlib.sha256()
    for _ in range(128):
        h.update(zeros)
    h.update(bytes(17))
    assert rows["huge.bin"]["sha256"] == h.hexdigest()
    assert rows["after.eml"]["kind"] == "email"


def test_corpus_ingests_without_a_crash(tmp_path: Path) -> None:
    """Every file of the reference corpus ends as items or a recorded error (skips without ../shared)."""
    roots = [shared_corpus(name) for name in ("ingest", "office", "pdf")]
    summary = {}
    for root in roots:
        db = tmp_path / f"{root.name}.db"
        stats = scan_dump(root, db)
        rows = export_lines(db)
        top = {r["path"] for r in rows if r["depth"] == 0}
        files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        assert top == files, f"{root.name}: files without an item: {sorted(files - top)[:10]}"
        assert stats.crashed == [], f"{root.name}: reader processes died on {stats.crashed}"
        parse_errors = [(r["path"], r["error"]) for r in rows if r["error_reason"] == "parse_error"]
        assert parse_errors == [], json.dumps(parse_errors[:20], indent=1)
        summary[root.name] = (len(files), len(rows))
    print(summary)
