"""Shared test helpers: the reference corpus, sample leaks, and reading items back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("LEAKSIFT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_corpus(*parts: str) -> Path:
    """A folder of ../shared/corpus, or skip: a user's clone does not have it."""
    path = SHARED.joinpath("corpus", *parts)
    if not path.exists():
        pytest.skip(f"reference corpus {path} is absent (it lives in ../shared beside the checkout)")
    return path


@pytest.fixture
def corpus():
    return shared_corpus


def scan_dump(dump: Path, db: Path | str, jobs: int = 2, **kw):
    """Scan a dump into a case (a SQLite path or a postgresql:// URL) with the real worker processes; returns
    the ScanStats."""
    from leaksift.scan import Scanner
    from leaksift.store import open_store

    store = open_store(db)
    try:
        return Scanner(store=store, root=dump, jobs=jobs, **kw).run()
    finally:
        store.close()


def export_lines(db: Path | str) -> list[dict]:
    """The JSONL export of a case (a SQLite path or a postgresql:// URL), parsed."""
    import io
    import json

    from leaksift.report.export import write_jsonl
    from leaksift.store import open_store

    store = open_store(db)
    try:
        buf = io.StringIO()
        write_jsonl(store.iter_items(), buf)
    finally:
        store.close()
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def write_eml(path: Path, n: int, body: str = "", **headers: str) -> Path:
    """A small plain message, numbered so every file differs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = {"From": f"Person {n} <p{n}@campaign.example>", "To": "team@campaign.example",
         "Subject": f"Note {n} on the budget", "Date": "Thu, 04 May 2017 10:00:00 +0200",
         "Message-ID": f"<{n}@campaign.example>"}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    text = "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n" + (body or f"Message number {n}.\r\n")
    path.write_bytes(text.encode("utf-8"))
    return path


# Flags for Debian's Chromium on a closed network, run as root in CI: no sandbox, no background fetches.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium() -> str:
    """Debian's Chromium (installed by scripts/test-services.sh), or skip where it could not be installed."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is absent: scripts/test-services.sh could not install Debian's chromium here")
    return path


def chromedriver() -> str:
    """Debian's ChromeDriver, or skip where it could not be installed."""
    import shutil

    path = shutil.which("chromedriver")
    if not path:
        pytest.skip("ChromeDriver is absent: scripts/test-services.sh could not install chromium-driver here")
    return path


# --- PostgreSQL: a real server for the tests (tests/pg.py), and `case_url` to run a test on both backends
@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server in a temp dir on a free loopback port, for the whole session; skips without binaries."""
    from pg import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
                    "(scripts/test-services.sh installs Debian's postgresql)")
    server = PgServer(bindir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def case_url(request, tmp_path: Path) -> str:
    """Where a test's case lives, once per backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "case.db")
    return request.getfixturevalue("pg_server").new_database()
