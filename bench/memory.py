"""Peak memory of a scan at two dump sizes, one 4x the other: it must not grow with the dump.

Usage: .venv/bin/python bench/memory.py [--emails 5000] [--documents 250]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import OUT, build_dump, leaksift, run_sampled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=5_000)
    ap.add_argument("--documents", type=int, default=250)
    args = ap.parse_args()
    rows = []
    for factor in (1, 4):
        dump = build_dump(args.emails * factor, args.documents * factor)
        db = OUT / f"mem-{factor}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        run = run_sampled(leaksift("scan", str(dump / "leak"), "--db", str(db), "--jobs", "2", "-q", "--no-checks"))
        assert run.returncode == 0
        rows.append({"emails": args.emails * factor, "documents": args.documents * factor,
                     "seconds": round(run.seconds, 1), "peak_rss_main_mb": round(run.peak_rss_main / 2**20),
                     "peak_rss_worker_mb": round(run.peak_rss_worker / 2**20)})
    growth = rows[1]["peak_rss_main_mb"] / max(rows[0]["peak_rss_main_mb"], 1)
    worker_growth = rows[1]["peak_rss_worker_mb"] / max(rows[0]["peak_rss_worker_mb"], 1)
    print(json.dumps({"runs": rows, "main_rss_growth_for_4x_dump": round(growth, 2),
                      "worker_rss_growth_for_4x_dump": round(worker_growth, 2)}, indent=1))
    if max(growth, worker_growth) > 1.5:  # flat means far from the 4x the dump grew
        sys.exit("peak memory grew with the dump")


if __name__ == "__main__":
    main()
