"""Search latency on a large case, both backends: p50/p95 of five typical queries.

    .venv/bin/python bench/search_latency.py --items 1000000 [--pg postgresql://...] [--runs 15]

Builds a synthetic case of N items (90% emails, 10% documents; subjects and ~70-word bodies drawn from a
Zipf-weighted vocabulary, with names, a planted phrase and a planted rare word) through each store's own
write path (`write_items`, batches of 5,000: SQLite inserts + FTS5 triggers; PostgreSQL COPY + merge + GIN),
reports the build time (with the ANALYZE / VACUUM ANALYZE after the load) and size, then times each query
`--runs` times after one warm-up.
Without --pg a throwaway server is started as the tests do (tests/pg.py: Debian's binaries, loopback).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from leaksift.model import EmailFields, ItemRecord  # noqa: E402
from leaksift.store import open_store  # noqa: E402

FIRST = ("Émilie", "Jean", "Claire", "Marc", "Sophie", "Paul", "Nadia", "Hugo", "Léa", "Karim", "Anne", "Louis")
LAST = ("Durand", "Martin", "Bernard", "Lefèvre", "Moreau", "Girard", "Roussel", "Fontaine", "Chevalier",
        "Blanchard", "Mercier", "Gauthier", "Perrin", "Morel", "Faure", "Andrieu", "Okafor", "Nakamura")
COMMON = ("le la les de des du un une et à en pour sur avec dans par pas est sont nous vous je il elle the of and to "
          "in is for on that with this be we budget réunion meeting sondage presse campagne équipe contrat "
          "facture virement compte rendu demain lundi projet note merci bonjour cordialement").split()
VERDICTS = (("consistent", 0.80), ("verified", 0.10), ("suspicious", 0.05), ("tampered", 0.03),
            ("unreadable", 0.02))
RARE = "quetzalcoatl"  # planted in 20 items
PHRASE = "virement offshore vers Nassau"  # planted in 0.1% of items
BATCH = 5000

QUERIES = [  # (label, query, kind, verdict)
    ("name", "Durand", None, None),
    ("phrase", '"virement offshore"', None, None),
    ("rare word", RARE, None, None),
    ("common word, verdict=tampered", "budget", None, "tampered"),
    ("word, kind=document", "contrat", "document", None),
]


def _vocabulary(rng: random.Random, size: int = 40_000) -> list[str]:
    syl = ["ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "zo", "an", "er", "ou",
           "ti", "que", "ment", "tion", "eur", "ais", "ille"]
    words = {"".join(rng.choice(syl) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)}
    synthetic = sorted(words)[:size]
    rng.shuffle(synthetic)  # so the Zipf rank is not alphabetical
    return COMMON + synthetic


def records(n: int, seed: int = 7) -> Iterator[list[ItemRecord]]:
    """N synthetic items in batches, the same for every backend (word draws vectorised with numpy)."""
    import numpy as np

    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    vocab = np.array(_vocabulary(rng), dtype=object)
    zipf = 1 / np.arange(1, len(vocab) + 1)  # Zipf: a few words everywhere, most rare
    zipf /= zipf.sum()
    verdicts, vweights = zip(*VERDICTS)
    rare_at = set(rng.sample(range(n), min(20, n)))
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        lengths = gen.integers(40, 101, size)
        words = vocab[gen.choice(len(vocab), int(lengths.sum()), p=zipf)]
        subjects = vocab[gen.choice(len(vocab), size * 5, p=zipf)]
        verdict_of = gen.choice(len(verdicts), size, p=vweights)
        ends = np.cumsum(lengths)
        batch = []
        for k in range(size):
            i = start + k
            body = list(words[ends[k] - lengths[k]:ends[k]])
            if rng.random() < 0.3:
                body.insert(rng.randrange(len(body)), f"{rng.choice(FIRST)} {rng.choice(LAST)}")
            if rng.random() < 0.001:
                body.insert(rng.randrange(len(body)), PHRASE)
            if i in rare_at:
                body.append(RARE)
            batch.append(_record(i, " ".join(body), " ".join(subjects[k * 5:k * 5 + 3 + i % 3]),
                                 verdicts[verdict_of[k]], rng))
        yield batch


def _record(i: int, text: str, subject: str, verdict: str, rng: random.Random) -> ItemRecord:
    is_doc = i % 10 == 9
    em = None if is_doc else EmailFields(
        from_=f"{rng.choice(FIRST)} {rng.choice(LAST)} <p{i % 5000}@campaign.example>",
        from_addr=f"p{i % 5000}@campaign.example", to=["team@campaign.example"],
        date=f"2017-{1 + i % 5:02d}-{1 + i % 28:02d}T10:00:00+02:00", subject=subject,
        message_id=f"<{i}@campaign.example>")
    folder = f"custodian{i % 40}/folder{i % 7}"
    return ItemRecord(
        id=f"{i:016x}", path=f"{folder}/{i:07d}.{'docx' if is_doc else 'eml'}", parent=None, source=folder,
        depth=0, kind="document" if is_doc else "email", mime="text/plain", sha256=f"{i:064x}",
        size=len(text), text=text, metadata={"title": subject} if is_doc else {}, email=em, verdict=verdict)


def build(url: str, n: int) -> float:
    store = open_store(url)
    try:
        t0 = time.monotonic()
        done = 0
        for batch in records(n):
            store.write_items(batch)
            done += len(batch)
            if done % 100_000 == 0:
                print(f"  {done:,} items, {time.monotonic() - t0:.0f} s", file=sys.stderr)
        _analyze(url)
        return time.monotonic() - t0
    finally:
        store.close()


def _analyze(url: str) -> None:
    """What a DBA (or autovacuum, later) does after a bulk load: fresh statistics; for PostgreSQL also a vacuum,
    which moves the GIN index's pending entries into the index proper."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            con.execute("VACUUM ANALYZE")
    else:
        import sqlite3

        con = sqlite3.connect(url)
        con.execute("ANALYZE")
        con.close()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def time_queries(url: str, runs: int) -> list[dict]:
    store = open_store(url)
    out = []
    try:
        for label, query, kind, verdict in QUERIES:
            hits = len(store.search(query, kind=kind, verdict=verdict, limit=50))  # warm-up
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                store.search(query, kind=kind, verdict=verdict, limit=50)
                times.append((time.perf_counter() - t0) * 1000)
            out.append({"query": label, "q": query, "hits_on_page": hits, "p50_ms": round(statistics.median(times), 1),
                        "p95_ms": round(_pct(times, 95), 1)})
    finally:
        store.close()
    return out


def _size(url: str, sqlite_path: Path | None) -> int:
    if sqlite_path is not None:
        return sum(p.stat().st_size for p in sqlite_path.parent.glob(sqlite_path.name + "*"))
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pg", help="a postgresql:// URL of an empty database (default: a throwaway server)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "search_latency.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leaksift-search-bench-"))
    server = None
    results = {"items": args.items, "runs": args.runs, "backends": {}}
    try:
        for backend in args.backends.split(","):
            sqlite_path = None
            if backend == "sqlite":
                sqlite_path = work / "case.db"
                url = str(sqlite_path)
            elif args.pg:
                url = args.pg
            else:
                sys.path.insert(0, str(ROOT / "tests"))
                from pg import PgServer, find_bindir

                bindir = find_bindir()
                if bindir is None:
                    print("no PostgreSQL binaries: skipping postgresql", file=sys.stderr)
                    continue
                server = PgServer(bindir)
                server.start()
                url = server.new_database()
            print(f"{backend}: building {args.items:,} items", file=sys.stderr)
            seconds = build(url, args.items)
            entry = {"build_s": round(seconds, 1), "items_per_s": round(args.items / seconds),
                     "size_mb": round(_size(url, sqlite_path) / 1e6), "queries": time_queries(url, args.runs)}
            results["backends"][backend] = entry
            print(json.dumps({backend: entry}, indent=1, ensure_ascii=False))
    finally:
        if server is not None:
            server.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
