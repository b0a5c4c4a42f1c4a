"""A bounded load test of the web app on loopback: concurrent searches on a built case, every answer right.

The figures at 50,000 items and 50 concurrent clients come from bench/web_load.py (bench/README.md); this test runs
the same case builder, query mix and client on a small case, so the benchmark cannot rot, and fails when a search
errs, returns a page without results, or the slowest searches take seconds.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import web_load  # noqa: E402

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
