"""Ingest throughput on a generated dump, beside two floors measured in the same run.

Floors: `sha256sum` over the same files (both cores), and a bare Python loop that only parses each message
with the standard library (one core, as such a loop is usually written).
Usage: .venv/bin/python bench/ingest_throughput.py [--emails 20000] [--documents 1000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import email
import io
import json
import mailbox
import sqlite3
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

from common import OUT, build_dump, dump_files, leaksift, run_sampled


def bare_parse_loop(files: list[Path]) -> int:
    """Parse every message with the standard library and nothing else; returns the count."""
    n = 0

    def parse_bytes(name: str, data: bytes) -> None:
        nonlocal n
        low = name.lower()
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        parse_bytes(info.filename, zf.read(info))
        elif data[:2] == b"\x1f\x8b" or low.endswith(".tar"):
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                for m in tf:
                    if m.isfile():
                        parse_bytes(m.name, tf.extractfile(m).read())  # type: ignore[union-attr]
        elif data.startswith(b"From "):
            for msg in mailbox.mbox(_spill(data)):
                n += 1
        elif low.endswith(".emlx"):
            first, rest = data.split(b"\n", 1)
            email.message_from_bytes(rest[: int(first)])
            n += 1
        elif b"\nSubject:" in data[:4096] or b"\nFrom:" in data[:4096] or data.startswith(b"From:"):
            email.message_from_bytes(data)
            n += 1

    for path in files:
        if path.name == ".built":
            continue
        parse_bytes(path.name, path.read_bytes())
    return n


def _spill(data: bytes) -> str:
    path = OUT / "bare-loop.mbox"
    path.write_bytes(data)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=20_000)
    ap.add_argument("--documents", type=int, default=1_000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    dump = build_dump(args.emails, args.documents)
    leak = dump / "leak"
    files = dump_files(leak)
    total = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache so every contender reads from memory
        p.read_bytes()

    t0 = time.monotonic()
    subprocess.run(f"find '{leak}' -type f -print0 | xargs -0 -P {args.jobs} -n 256 sha256sum > /dev/null",
                   shell=True, check=True)
    sha_s = time.monotonic() - t0

    t0 = time.monotonic()
    parsed = bare_parse_loop(files)
    loop_s = time.monotonic() - t0

    db = OUT / f"case-{args.emails}-{args.documents}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix + ".full").unlink(missing_ok=True)
    run = run_sampled(leaksift("scan", str(leak), "--db", str(db), "--jobs", str(args.jobs), "-q", "--no-checks"))
    assert run.returncode == 0, "scan failed"
    full_db = Path(str(db) + ".full")
    full = run_sampled(leaksift("scan", str(leak), "--db", str(full_db), "--jobs", str(args.jobs), "-q",
                                "--keys", str(dump / "keys.zone")))
    assert full.returncode == 0, "scan with checks failed"
    con = sqlite3.connect(db)
    items = con.execute("SELECT count(*) FROM items").fetchone()[0]
    emails = con.execute("SELECT count(*) FROM items WHERE kind = 'email'").fetchone()[0]
    errors = con.execute("SELECT count(*) FROM items WHERE error IS NOT NULL").fetchone()[0]
    con.close()
    result = {
        "files": len(files), "bytes": total, "items": items, "emails": emails, "errors": errors,
        "messages_parsed_by_bare_loop": parsed,
        "sha256sum_s": round(sha_s, 2), "bare_loop_s": round(loop_s, 2), "leaksift_s": round(run.seconds, 2),
        "leaksift_items_per_s": round(items / run.seconds), "leaksift_mb_per_s": round(total / run.seconds / 1e6, 1),
        "sha256sum_mb_per_s": round(total / sha_s / 1e6, 1),
        "bare_loop_messages_per_s": round(parsed / loop_s),
        "ratio_vs_sha256sum": round(run.seconds / sha_s, 1),
        "ratio_vs_bare_loop": round(run.seconds / loop_s, 2),
        "peak_rss_main_mb": round(run.peak_rss_main / 2**20), "peak_rss_worker_mb": round(run.peak_rss_worker / 2**20),
        "scan_with_all_checks_s": round(full.seconds, 2),
        "scan_with_all_checks_peak_rss_main_mb": round(full.peak_rss_main / 2**20),
        "scan_with_all_checks_peak_rss_worker_mb": round(full.peak_rss_worker / 2**20),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
