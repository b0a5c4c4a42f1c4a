"""A bounded load test of the web app on loopback: concurrent searches on a built case, every answer right.

The figures at 50,000 items and 50 concurrent clients come from bench/web_load.py (bench/README.md); this test runs
the same case builder, query mix and client on a small case, so the benchmark cannot rot, and fails when a search
errs, returns a page without results, or the slowest searches take seconds.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import web_load  # noqa: E402

from leaksift.store import open_store  # noqa: E402
from leaksift.store.sqlite import _WEB_SORTS, _fts_words, _web_filters  # noqa: E402
from leaksift.web import create_app  # noqa: E402

ITEMS, REQUESTS, CONCURRENCY = 3000, 300, 20
P95_LIMIT_S = 3.0  # generous: CI shares 2 cores with the client, the server and the case build


def test_concurrent_searches_all_answer_in_bounded_time(tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    web_load.build_case(db, ITEMS)
    port = web_load.free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(str(db)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        # fire() asserts that every answer is a 200 page with results
        timed = asyncio.run(web_load.fire(f"http://127.0.0.1:{port}", web_load.queries(random.Random(7), REQUESTS),
                                          CONCURRENCY))
    finally:
        server.should_exit = True
        thread.join(10)
    latencies = sorted(t for t, _ in timed)
    assert len(latencies) == REQUESTS
    p95 = latencies[int(0.95 * REQUESTS) - 1]
    assert p95 < P95_LIMIT_S, f"p95 {p95:.2f} s over {REQUESTS} searches"


def reference_page(db: sqlite3.Connection, words: str, sort: str, limit: int, offset: int, cap: int,
                   **filters: str) -> tuple[int, list[dict[str, object]]]:
    """search_page the plain way (one count, one sorted join, a snippet per row): what every faster path must
    give, to the order and the snippet."""
    fts = _fts_words(words)
    where, args = _web_filters(filters.get("kind"), filters.get("verdict"), filters.get("sender"),
                               filters.get("domain"), filters.get("date_from"), filters.get("date_to"), None)
    base = "FROM items i LEFT JOIN blobs b ON b.sha256 = i.sha256"
    if fts:
        base = ("FROM blobs_fts JOIN blobs b ON b.rowid = blobs_fts.rowid JOIN items i ON i.sha256 = b.sha256")
        where, args = ["blobs_fts MATCH ?", *where], [fts, *args]
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    if sort == "relevance" and not fts:
        sort = "-date" if filters.get("sender") or filters.get("domain") or filters.get("date_from") else "path"
    order = "blobs_fts.rank, i.id" if sort == "relevance" else _WEB_SORTS[sort]
    total = db.execute(f"SELECT count(*) FROM (SELECT 1 {base}{cond} LIMIT ?)", (*args, cap + 1)).fetchone()[0]
    snip = "snippet(blobs_fts, -1, char(2), char(3), ' … ', 16)" if fts else "substr(b.text, 1, 200)"
    rows = db.execute(f"SELECT i.id, i.path, i.kind, i.verdict, i.size, b.subject, b.from_display, b.from_addr, "
                      f"b.date, {snip} AS snippet {base}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
                      (*args, limit, offset))
    return total, [dict(r) for r in rows]


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path = tmp_path_factory.mktemp("load") / "case.db"
    web_load.build_case(db_path, 1500)
    return db_path


def test_search_pages_match_the_plain_queries(small_case: Path) -> None:
    """The bench's mix, every sort, later pages and small count caps (which send many-match searches newest
    first down the date-index walk): search_page gives what the plain queries give."""
    db_path = small_case
    store = open_store(db_path)
    store.read_mostly()
    plain = sqlite3.connect(db_path)
    plain.row_factory = sqlite3.Row
    rng = random.Random(3)
    try:
        for n, q in enumerate(web_load.queries(rng, 400)):
            words = q.pop("q")
            page = int(q.pop("page", "1"))
            sort = q.pop("sort", None) or rng.choice(["relevance", "date", "-date", "path"])
            if n % 4 == 0:
                q.setdefault("kind", rng.choice(["email", "document"]))
            cap = 1000 if n % 2 else rng.choice([5, 20, 60])
            got = store.search_page(words, sort=sort, limit=25, offset=(page - 1) * 25, count_cap=cap, **q)
            want = reference_page(plain, words, sort, 25, (page - 1) * 25, cap, **q)
            assert got == want, (words, sort, page, cap, q)
    finally:
        plain.close()
        store.close()


def test_newest_first_walk_is_exact_or_declines(small_case: Path) -> None:
    """Bounded to the newest blobs, the walk gives the exact page when it fills there, else declines (None):
    undated documents never fill it."""
    store = open_store(small_case)
    plain = sqlite3.connect(small_case)
    plain.row_factory = sqlite3.Row
    try:
        counts = {w: plain.execute("SELECT count(*) FROM blobs_fts WHERE blobs_fts MATCH ?", (f'"{w}"',)).fetchone()[0]
                  for w in set(web_load.WORDS)}
        word = max(counts, key=counts.__getitem__)
        dated = plain.execute("SELECT count(*) FROM blobs WHERE date_utc IS NOT NULL").fetchone()[0]
        for kind, cap in (("email", 200), ("document", 1000)):
            assert 2 * 25 * 1500 // (cap + 1) + 25 < dated  # the walk is bounded
            where, args = _web_filters(kind, None, None, None, None, None, None)
            got = store._newest_ids(["blobs_fts MATCH ?", *where], [f'"{word}"', *args], 25, 0, cap)
            want = [r["id"] for r in reference_page(plain, word, "-date", 25, 0, cap, kind=kind)[1]]
            assert got == (want if kind == "email" else None), kind
    finally:
        plain.close()
        store.close()
