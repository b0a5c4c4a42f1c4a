"""Email checks throughput on generated messages, beside a bare loop calling dkimpy's verify on the same messages.

Both are measured in the same run on the same raw bytes, with keys already loaded and messages already read:
- the floor: one process, `dkim.verify(raw, dnsfunc=...)` per message, nothing else;
- leaksift: every item check (DKIM per signature with diagnosis and undo, ARC, headers) on both cores.
Usage: .venv/bin/python bench/checks_throughput.py [--emails 10000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import dkim
from common import build_dump

from leaksift.checks import CheckContext, default_item_checks, run_item_checks
from leaksift.checks.dkimverify import message_bytes
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry
from leaksift.keys import KeyStore, parse_key_file
from leaksift.model import ItemRecord
from leaksift.scan import walk_dump

_STATE: dict = {}


def _init(keys: KeyStore) -> None:
    _STATE["checks"] = default_item_checks()
    _STATE["ctx"] = CheckContext(keys=keys)


def _check(batch: list[ItemRecord]) -> int:
    n = 0
    for rec in batch:
        n += len(run_item_checks(rec, _STATE["checks"], _STATE["ctx"]).findings)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    dump = build_dump(args.emails, 12)
    keys = KeyStore()
    for rec in parse_key_file((dump / "keys.zone").read_bytes(), "keys.zone"):
        keys.add(rec)
    records: list[ItemRecord] = []
    engine = Engine(default_registry(), Limits())
    for src in walk_dump(dump / "leak"):
        for rec in engine.ingest_file(dump / "leak", src.relpath):
            if rec.kind == "email" and rec.raw and not rec.mime.startswith("application/vnd.ms-outlook"):
                rec.findings = []
                records.append(rec)
    zone = {f"{r.name}.".encode(): r.record for r in keys}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return zone.get(name)

    messages = [message_bytes(r) for r in records]  # an .emlx holds the message after its count line
    t0 = time.monotonic()
    passed = sum(1 for raw in messages if dkim.verify(raw, dnsfunc=dnsfunc, minkey=512))
    bare_s = time.monotonic() - t0

    batches = [records[i:i + 200] for i in range(0, len(records), 200)]
    with mp.get_context("forkserver").Pool(args.jobs, initializer=_init, initargs=(keys,)) as pool:
        pool.map(_check, [[] for _ in range(args.jobs)])  # workers started and imported, as in a running scan
        t0 = time.monotonic()
        findings = sum(pool.map(_check, batches))
        ours_s = time.monotonic() - t0
    print(json.dumps({
        "messages": len(records), "dkimpy_verify_passed": passed, "findings": findings,
        "bare_dkimpy_loop_s": round(bare_s, 2), "leaksift_checks_s": round(ours_s, 2),
        "bare_messages_per_s": round(len(records) / bare_s), "leaksift_messages_per_s": round(len(records) / ours_s),
        "ratio_leaksift_to_bare": round(ours_s / bare_s, 2),
    }, indent=1))


if __name__ == "__main__":
    main()
