"""Load test of the web app: 50 concurrent searches on a case of 50,000 items, over loopback.

    .venv/bin/python bench/web_load.py [--items 50000] [--concurrency 50] [--requests 1000] [--workers 1]
                                       [--client raw|httpx] [--slowest N]

Builds a synthetic case once under bench/out/ (ItemRecords written straight through store.write_items: realistic
subjects and bodies so FTS has work), runs `create_app` under uvicorn in its own process on a free loopback port,
and fires typical searches (words, filters, sorting, paging) from 50 concurrent clients, each on one keep-alive
connection. Prints p50/p95/max, searches a second, and the CPU the server and the client spent: they share the
cores, so the client is kept cheap (raw asyncio streams; --client httpx for the heavier one used before).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

WORDS = ("budget meeting campaign press release draft invoice transfer account offshore poll survey volunteers "
         "donation rally speech debate schedule travel hotel train flight venue security badge printing posters "
         "leaflets newsletter website social media video interview journalist television radio statement "
         "candidate minister mayor region council treasurer accountant lawyer contract supplier payment bank "
         "deadline tomorrow morning afternoon evening weekend monday tuesday wednesday thursday friday agenda "
         "report figures numbers forecast estimate version final confidential urgent please review attached "
         "thanks regards meeting nantes lyon paris lille marseille bordeaux toulouse rennes strasbourg dijon").split()
TOPICS = ("Budget forecast", "Press release", "Rally in", "Invoice", "Transfer", "Interview request", "Poll results",
          "Newsletter", "Travel plans", "Speech draft", "Venue booking", "Donation report", "Agenda for")
FIRST = "anne bruno claire david emma felix gael helene ines jules karim lea marc nina oscar paul rachel sophie".split()
LAST = "aubert besson clarke dumont ferrand garnier leroy marchetti petit lambert moreau roux".split()
DOMAINS = ("campaign.example", "press.example", "bank.example", "lists.example", "mail.example")
VERDICTS = ("verified",) * 40 + ("consistent",) * 52 + ("suspicious",) * 5 + ("tampered",) * 2 + ("unreadable",)


def vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    """Themed words among made-up ones, Zipf-weighted (word n about 1/n as frequent) like real prose."""
    made = {"".join(rng.choice("bcdfglmnprstv") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
            for _ in range(size)}
    words = list(WORDS) + sorted(made)
    rng.shuffle(words)
    return words, [1 / (n + 1) for n in range(len(words))]


def build_case(db: Path, items: int, seed: int = 2017) -> None:
    from leaksift.model import EmailFields, ItemRecord
    from leaksift.store import open_store

    rng = random.Random(seed)
    people = [(f"{f.title()} {l.title()}", f"{f}.{l}@{rng.choice(DOMAINS)}") for f in FIRST for l in LAST]
    start = datetime(2016, 6, 1, tzinfo=timezone(timedelta(hours=2)))
    vocab, weights = vocabulary(rng)
    store = open_store(db)
    batch: list[ItemRecord] = []
    try:
        for n in range(items):
            name, addr = rng.choice(people)
            folder = f"mailboxes/{addr.split('@')[0]}/{rng.choice(['INBOX', 'Sent', 'Archive'])}"
            body = " ".join(rng.choices(vocab, weights, k=rng.randint(40, 220)))
            subject = f"{rng.choice(TOPICS)} {rng.choice(WORDS)} {n % 97}"
            date = (start + timedelta(minutes=rng.randint(0, 60 * 24 * 365))).isoformat()
            document = n % 10 == 9
            text = f"Hello,\n\n{body}\n\nBest,\n{name.split()[0]}"
            raw = f"From: {name} <{addr}>\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n{text}\r\n".encode()
            batch.append(ItemRecord(
                id=f"{n:016x}", path=f"{folder}/{n}" + (".docx" if document else ""), parent=None,
                source=f"{folder}/{n}", depth=0, kind="document" if document else "email",
                mime="application/x-test" if document else "message/rfc822",
                sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), text=text, raw=None if document else raw,
                email=None if document else EmailFields(from_=f"{name} <{addr}>", from_addr=addr, date=date,
                                                         subject=subject, message_id=f"<{n}@{addr.split('@')[1]}>"),
                verdict=rng.choice(VERDICTS)))
            if len(batch) == 2000:
                store.write_items(batch)
                batch = []
        store.write_items(batch)
    finally:
        store.close()


def queries(rng: random.Random, n: int) -> list[dict[str, str]]:
    out = []
    for _ in range(n):
        q: dict[str, str] = {"q": rng.choice(WORDS)}
        roll = rng.random()
        if roll < 0.2:
            q["q"] += " " + rng.choice(WORDS)
        elif roll < 0.35:
            q["verdict"] = rng.choice(["verified", "tampered", "suspicious"])
        elif roll < 0.5:
            q["kind"] = "email"
            q["sort"] = "-date"
        elif roll < 0.6:
            q["sender"] = f"{rng.choice(FIRST)}.{rng.choice(LAST)}@campaign.example"
        elif roll < 0.7:
            q["date_from"], q["date_to"] = "2017-01-01", "2017-03-31"
        elif roll < 0.8:
            q["domain"] = rng.choice(DOMAINS)
        elif roll < 0.9:
            q["page"] = str(rng.randint(2, 8))
        out.append(q)
    return out


async def fire(base: str, plan: list[dict[str, str]], concurrency: int) -> list[tuple[float, dict[str, str]]]:
    """The plan from `concurrency` clients, each on one keep-alive connection (as a browser keeps one): asyncio
    streams and a minimal HTTP/1.1 reader, so the client costs a fraction of the CPU httpx does on the cores it
    shares with the server. Every answer must be a 200 page with results."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[tuple[float, dict[str, str]]] = []
    todo = list(plan)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while todo:
                params = todo.pop()
                t0 = time.perf_counter()
                status, body = await _get(reader, writer, f"{host}:{port}", "/search?" + urlencode(params))
                latencies.append((time.perf_counter() - t0, params))
                assert status == 200 and b"result" in body, (status, params)
        finally:
            writer.close()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def fire_httpx(base: str, plan: list[dict[str, str]], concurrency: int) -> list[tuple[float, dict[str, str]]]:
    """The same through httpx (the client used before 2026-12-02), for comparison: --client httpx."""
    latencies: list[tuple[float, dict[str, str]]] = []
    todo = list(plan)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        async def worker() -> None:
            while todo:
                params = todo.pop()
                t0 = time.perf_counter()
                r = await client.get("/search", params=params)
                latencies.append((time.perf_counter() - t0, params))
                assert r.status_code == 200 and "result" in r.text, (r.status_code, params)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, target: str) -> tuple[int, bytes]:
    """One GET on a kept-alive connection: the status and the body (Content-Length or chunked)."""
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = dict((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in head[1:] if line))
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    chunks = []
    while headers.get("transfer-encoding") == "chunked":
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunks.append((await reader.readexactly(size + 2))[:-2])  # each chunk ends with CRLF
        if size == 0:
            break
    return status, b"".join(chunks)


def app_from_env():  # noqa: ANN201 - the uvicorn factory for --workers > 1 (each process imports it)
    from leaksift.web import create_app

    return create_app(os.environ["LEAKSIFT_BENCH_DB"])


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of the server process and its workers so far."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    return sum(t.user + t.system for t in (p.cpu_times() for p in procs))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (leaksift serve runs one).")
    ap.add_argument("--slowest", type=int, default=0, help="Also print the N slowest searches.")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: keep-alive asyncio streams (default); httpx: the heavier client used before.")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"web-{args.items}.db"
    if not db.exists():
        t0 = time.monotonic()
        build_case(db.with_suffix(".tmp"), args.items)
        db.with_suffix(".tmp").rename(db)
        print(f"built a case of {args.items:,} items in {time.monotonic() - t0:.1f} s: {db}")
    port = free_port()
    code = ("import uvicorn; uvicorn.run('web_load:app_from_env', factory=True, "
            f"host='127.0.0.1', port={port}, workers={args.workers}, log_level='warning')")
    env = {**os.environ, "LEAKSIFT_BENCH_DB": str(db), "PYTHONPATH": str(Path(__file__).parent)}
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/static/style.css", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        run = fire if args.client == "raw" else fire_httpx
        rng = random.Random(7)
        asyncio.run(run(base, queries(rng, 100), args.concurrency))  # warm the page cache and the connections
        server_cpu0, cpu0, t0 = server_cpu(server.pid), time.process_time(), time.monotonic()
        timed = sorted(asyncio.run(run(base, queries(rng, args.requests), args.concurrency)), key=lambda t: t[0])
        wall, cpu, srv = time.monotonic() - t0, time.process_time() - cpu0, server_cpu(server.pid) - server_cpu0
    finally:
        server.terminate()
        server.wait(10)
    lat = [t for t, _ in timed]
    pct = statistics.quantiles(lat, n=100)
    print(f"{len(lat)} searches, {args.concurrency} concurrent, on {args.items:,} items, {args.workers} worker(s): "
          f"p50 {pct[49] * 1000:.0f} ms, p95 {pct[94] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms, "
          f"{len(lat) / wall:.0f} searches/s")
    # The client shares the cores: what it burns, the server cannot use.
    print(f"CPU over {wall:.1f} s: server {srv:.1f} s ({srv / len(lat) * 1000:.1f} ms a search), "
          f"{args.client} client {cpu:.1f} s ({cpu / len(lat) * 1000:.1f} ms a search)")
    if args.slowest:
        for t, params in timed[-args.slowest:]:
            print(f"  {t * 1000:.0f} ms {params}")


if __name__ == "__main__":
    main()
