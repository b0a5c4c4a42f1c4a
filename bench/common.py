"""Shared helpers for the benchmarks: build a dump once, run a command while sampling memory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def build_dump(emails: int, documents: int, seed: int = 2017) -> Path:
    """The generated sample leak at this size, built once and kept under bench/out."""
    from leaksift.sample import build_sample

    dump = OUT / f"dump-{emails}-{documents}"
    marker = dump / ".built"
    if not marker.exists():
        import shutil

        shutil.rmtree(dump, ignore_errors=True)
        t0 = time.monotonic()
        build_sample(dump / "leak", keys_out=dump / "keys.zone", emails=emails, documents=documents, seed=seed)
        marker.write_text(f"{time.monotonic() - t0:.1f}")
    return dump


def dump_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass
class Run:
    seconds: float
    peak_rss_main: int  # bytes
    peak_rss_worker: int  # largest single child process
    returncode: int


def run_sampled(cmd: list[str], interval: float = 0.05) -> Run:
    """Run a command; sample the RSS of it and of each of its descendants."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak_main = peak_child = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_main, peak_child
        while not stop.is_set():
            try:
                peak_main = max(peak_main, ps.memory_info().rss)
                for child in ps.children(recursive=True):
                    try:
                        peak_child = max(peak_child, child.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            time.sleep(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace")[-4000:])
    return Run(time.monotonic() - t0, peak_main, peak_child, proc.returncode)


def leaksift(*args: str) -> list[str]:
    return [sys.executable, "-m", "leaksift.cli", *args]
