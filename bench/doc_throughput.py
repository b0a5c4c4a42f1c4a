"""Document throughput on the real files of the shared corpus, beside ExifTool on the same files in the same run.

The files: every document of ../shared/corpus/office, /pdf and /images when present (real files written by many
programs); Outlook .msg files are left out (they are emails, and `exiftool -r` skips them too).
- ExifTool: `exiftool -json -r --ext msg DIR...`, one Perl process (one core), metadata only; a fresh process each
  repetition (that is how it is run), output parsed to count the files it reported.
- leaksift: what a scan's worker does with each file: `Engine.ingest_file` (typing by content, every metadata
  field, text extraction, PDF revision recovery, children of containers) then every item check and the verdict
  (`run_item_checks`, `verdict.apply`), on 2 worker processes (a multiprocessing Pool, one file a task) and on 1
  process. "warm": processes started, imports and engine ready (a running scan); "cold": the time includes starting
  fresh interpreters and importing everything (a scan of this corpus alone pays that once).
- leaksift's own scan workers (`scan_workers`): the scan's reader pool itself (`scan._Pool` and `scan._worker`),
  fed as a scan feeds it (largest first in windows of 512, each worker holding up to 256 sources or 1 MiB ahead),
  so each record is also packed for the writer and each source is counted as begun; this process only receives
  the records (no database). The closest figure to a running scan's readers.
- Per file type, CPU seconds of ExifTool (`-ext`, less its start) and of leaksift in one process.
- Also, once: `leaksift scan --jobs 2` end to end on a copy of the files (the writer, SQLite with its FTS index and
  the case checks included).
- `--floors`: where the time of the largest share, the Word bodies, goes: every story part of the corpus' docx files
  read in this process by expat with no handler at all (namespaces off, then on), by expat calling a Python
  function that does nothing at each element's start and end, by ElementTree's C tree builder, and by leaksift's
  own Word reader; the best of `--reps` passes each. No reading that calls Python per element can go below the
  no-op handlers' figure.
ExifTool comes from Debian's libimage-exiftool-perl, installed by scripts/bench-services.sh when missing.
Usage: .venv/bin/python bench/doc_throughput.py [--reps 3] [--jobs 2] [--no-scan] [--floors]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from xml.etree import ElementTree
from xml.parsers import expat

import psutil
from common import OUT, ROOT, leaksift, run_sampled

from leaksift import scan, verdict
from leaksift.checks import CheckContext, default_item_checks, run_item_checks
from leaksift.ingest import office
from leaksift.ingest.base import Limits
from leaksift.ingest.engine import Engine
from leaksift.ingest.registry import default_registry

SHARED = Path(os.environ.get("LEAKSIFT_SHARED", ROOT.parent / "shared"))  # as tests/conftest.py finds it
CORPUS = SHARED / "corpus"
FOLDERS = ("office", "pdf", "images")
SKIP_EXT = "msg"

_STATE: dict[str, Any] = {}


def corpus_files() -> list[str]:
    """Relative paths (to CORPUS) of the documents, in walk order."""
    folders = [CORPUS / f for f in FOLDERS if (CORPUS / f).is_dir()]
    if not folders:
        sys.exit(f"doc_throughput: the reference corpus is absent ({CORPUS}/office, /pdf); "
                 "it lives in ../shared beside the checkout, or set LEAKSIFT_SHARED")
    return [str(p.relative_to(CORPUS)) for d in folders for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix.lower() != f".{SKIP_EXT}"]


def ensure_exiftool() -> str:
    subprocess.run(["bash", str(ROOT / "scripts" / "bench-services.sh")], check=False)
    exe = shutil.which("exiftool")
    if exe is None:
        sys.exit("doc_throughput: exiftool is missing and could not be installed "
                 "(apt-get install libimage-exiftool-perl, as root)")
    return exe


def run_exiftool(exe: str) -> tuple[float, float, int]:
    """One `exiftool -json -r` over the corpus folders; (seconds, CPU seconds, files reported)."""
    dirs = [f for f in FOLDERS if (CORPUS / f).is_dir()]
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = subprocess.run([exe, "-json", "-r", "--ext", SKIP_EXT, *dirs], cwd=CORPUS, capture_output=True)
    seconds = time.monotonic() - t0
    return seconds, _children_cpu() - cpu0, len(json.loads(proc.stdout or b"[]"))


def by_type(exe: str, files: list[str], reps: int) -> dict[str, dict[str, float]]:
    """Per file type: ExifTool's CPU seconds on just those files (`-ext`, less the CPU of a run on an empty
    folder: Perl's start) beside leaksift's in one process; the best of `reps` passes each. Shows where the
    overall ratio comes from (the types differ by far more than the total does)."""
    dirs = [f for f in FOLDERS if (CORPUS / f).is_dir()]
    empty = tempfile.mkdtemp(prefix="doc-bench-empty-", dir=OUT)
    start = min(_exiftool_cpu(exe, [empty], None) for _ in range(reps))
    shutil.rmtree(empty, ignore_errors=True)
    exts = sorted({Path(f).suffix.lower().lstrip(".") for f in files})
    ours: dict[str, float] = {}
    for _ in range(reps):
        spent: dict[str, float] = {}
        for f in files:
            ext = Path(f).suffix.lower().lstrip(".")
            c0 = time.process_time()
            _one(f)
            spent[ext] = spent.get(ext, 0.0) + time.process_time() - c0
        ours = {e: min(ours.get(e, spent[e]), spent[e]) for e in spent}
    out = {}
    for ext in exts:
        theirs = max(0.0, min(_exiftool_cpu(exe, dirs, ext) for _ in range(reps)) - start)
        out[ext] = {"files": sum(1 for f in files if Path(f).suffix.lower() == f".{ext}"),
                    "exiftool_cpu_s": round(theirs, 3), "leaksift_cpu_s": round(ours[ext], 3),
                    "ratio_cpu": round(theirs / ours[ext], 2) if ours[ext] else 0.0}
    return {**out, "exiftool_start_cpu_s": {"s": round(start, 3)}}


def _exiftool_cpu(exe: str, dirs: list[str], ext: str | None) -> float:
    cpu0 = _children_cpu()
    only = ["-ext", ext] if ext else []
    subprocess.run([exe, "-json", "-r", *only, "--ext", SKIP_EXT, *dirs], cwd=CORPUS, capture_output=True)
    return _children_cpu() - cpu0


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _pool_cpu(pool: Any) -> float:
    """CPU seconds the pool's worker processes used so far."""
    return _procs_cpu(pool._pool)  # noqa: SLF001 - the pool keeps its processes there; psutil reads their times


# ---------------------------------------------------------------- leaksift, as a scan's worker does it

def _init(tmp_dir: str) -> None:
    _STATE["engine"] = Engine(default_registry(), Limits(), Path(tmp_dir))
    _STATE["checks"] = default_item_checks()
    _STATE["ctx"] = CheckContext()


def _one(relpath: str) -> tuple[int, int, int, int]:
    """Ingest one file and check every item it gives; (items, findings, errors, text chars)."""
    items = findings = errors = chars = 0
    for rec in _STATE["engine"].ingest_file(CORPUS, relpath):
        rec = verdict.apply(run_item_checks(rec, _STATE["checks"], _STATE["ctx"]))
        items += 1
        findings += len(rec.findings)
        errors += rec.error is not None
        chars += len(rec.text or "")
    return items, findings, errors, chars


def _sum(rows: Any) -> dict[str, int]:
    totals = [0, 0, 0, 0]
    for row in rows:
        totals = [a + b for a, b in zip(totals, row)]
    return dict(zip(("items", "findings", "errors", "text_chars"), totals))


def run_warm(files: list[str], pool: Any) -> tuple[float, float, dict[str, int]]:
    """The files on the pool's processes, one file per task as the scan hands them out;
    (seconds, CPU seconds, totals)."""
    cpu0 = _pool_cpu(pool)
    t0 = time.monotonic()
    totals = _sum(pool.imap_unordered(_one, files))
    return time.monotonic() - t0, _pool_cpu(pool) - cpu0, totals


def run_cold(files: list[str], jobs: int, tmp_dir: str) -> float:
    """As run_warm, on fresh interpreters (spawn) that import everything first, as a scan's workers do once."""
    t0 = time.monotonic()
    with mp.get_context("spawn").Pool(jobs, initializer=_init, initargs=(tmp_dir,)) as fresh:
        _sum(fresh.imap_unordered(_one, files))
    return time.monotonic() - t0


def start_scan_workers(jobs: int, tmp_dir: str) -> Any:
    """The scan's own reader pool on the corpus, with every item check (as `leaksift scan` starts it)."""
    owner = SimpleNamespace(root=CORPUS, limits=Limits(), registry_factory=default_registry,
                            check_ctx=CheckContext(), checks=True)
    pool = scan._Pool(mp.get_context("forkserver"), owner, tmp_dir)  # noqa: SLF001 - the scan's readers, measured
    for _ in range(jobs):
        pool.spawn()
    return pool


def run_scan_workers(files: list[str], pool: Any) -> tuple[float, float, int]:
    """The files through the scan's reader pool, fed as `Scanner` feeds it: largest first (in its windows), a
    source assigned whenever a worker has room, records received and dropped; (seconds, CPU seconds, items)."""
    todo = scan.largest_first(scan.SourceFile(f, (CORPUS / f).stat().st_size, 0) for f in files)
    left, items, exhausted = len(files), 0, False
    cpu0 = _procs_cpu(pool.procs.values())
    t0 = time.monotonic()
    while left:
        while not exhausted and pool.has_room():
            src = next(todo, None)
            if src is None:
                exhausted = True
                break
            pool.assign(src)
        for msg in pool.receive(timeout=0.2):
            if msg[0] == "fatal":
                sys.exit(f"doc_throughput: a scan worker could not start: {msg[4]}")
            items += len(msg[3])
            if msg[0] in ("done", "failed") and pool.release(msg[1], msg[2]) is not None:
                left -= 1
        if pool.ended:
            sys.exit("doc_throughput: a scan worker died")
    return time.monotonic() - t0, _procs_cpu(pool.procs.values()) - cpu0, items


def _procs_cpu(procs: Any) -> float:
    total = 0.0
    for proc in procs:
        t = psutil.Process(proc.pid).cpu_times()
        total += t.user + t.system
    return total


def run_single(files: list[str]) -> tuple[float, float]:
    """The files in this process; (seconds, CPU seconds)."""
    cpu0 = time.process_time()
    t0 = time.monotonic()
    _sum(_one(f) for f in files)
    return time.monotonic() - t0, time.process_time() - cpu0


def scan_copy(files: list[str], jobs: int) -> tuple[float, int]:
    """`leaksift scan` end to end on a copy of the files (the scan refuses nothing here, but a copy keeps the
    corpus read-only and the case apart); (seconds, exit status)."""
    work = Path(tempfile.mkdtemp(prefix="doc-bench-", dir=OUT))
    try:
        for rel in files:
            dst = work / "dump" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CORPUS / rel, dst)
        run = run_sampled(leaksift("scan", str(work / "dump"), "--db", str(work / "case.db"),
                                   "--jobs", str(jobs), "-q"))
        return run.seconds, run.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


WORD_STORY = re.compile(r"word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml")


def floors(files: list[str], reps: int) -> dict[str, Any]:
    """CPU seconds to read every Word story part of the corpus' docx files, best of `reps` passes each: expat with
    no handler, expat with Python handlers that do nothing, ElementTree's C tree builder, leaksift's Word reader."""
    parts = []
    for f in files:
        if f.lower().endswith(".docx"):
            try:
                with zipfile.ZipFile(CORPUS / f) as zf:
                    parts += [zf.read(n) for n in zf.namelist() if WORD_STORY.fullmatch(n)]
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
                continue

    def expat_bare(namespaces: bool) -> Callable[[bytes], None]:
        def read(data: bytes) -> None:
            parser = expat.ParserCreate(None, "}") if namespaces else expat.ParserCreate()
            parser.buffer_text = True
            parser.Parse(data, True)
        return read

    def expat_noop(data: bytes) -> None:
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartElementHandler = lambda name, attrs: None
        parser.EndElementHandler = lambda name: None
        parser.Parse(data, True)

    def leaksift_word(data: bytes) -> None:
        text = office.TextBuf(Limits().max_text_chars)
        office.drive(io.BytesIO(data), lambda q: office.word_story(text, [], [0], "", q), fast=True)

    readers: dict[str, Callable[[bytes], None]] = {
        "expat_no_handler_namespaces_off": expat_bare(False), "expat_no_handler_namespaces_on": expat_bare(True),
        "expat_noop_python_handlers": expat_noop, "elementtree_c_tree": ElementTree.fromstring,
        "leaksift_word_reader": leaksift_word}
    out: dict[str, Any] = {"parts": len(parts), "mb": round(sum(map(len, parts)) / 1e6, 1)}
    for name, read in readers.items():
        best = float("inf")
        for _ in range(reps):
            c0 = time.process_time()
            for data in parts:
                try:
                    read(data)
                except (expat.error, ElementTree.ParseError, office.Redo):
                    pass  # a broken part costs what it cost; the exact reading is not measured here
            best = min(best, time.process_time() - c0)
        out[f"{name}_cpu_s"] = round(best, 3)
    return out


def rate(n: int, nbytes: int, seconds: float) -> dict[str, float]:
    return {"s": round(seconds, 2), "files_per_s": round(n / seconds, 1), "mb_per_s": round(nbytes / seconds / 1e6, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-scan", action="store_true", help="skip the end-to-end scan of a copy")
    ap.add_argument("--floors", action="store_true", help="also time the XML reading floors on the Word bodies")
    args = ap.parse_args()
    files = corpus_files()
    exe = ensure_exiftool()
    nbytes = sum((CORPUS / f).stat().st_size for f in files)
    for f in files:  # warm the page cache so every contender reads from memory
        (CORPUS / f).read_bytes()
    OUT.mkdir(parents=True, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix="doc-bench-tmp-", dir=OUT)
    _init(tmp_dir)
    for f in {Path(f).suffix.lower(): f for f in files}.values():
        _one(f)  # imports the readers this process needs lazily, as a running scan already has

    exif, single, warm, cold, workers = [], [], [], [], []
    cpu: dict[str, list[float]] = {"exiftool": [], "warm": [], "single": [], "scan_workers": []}
    exif_files = worker_items = 0
    totals: dict[str, int] = {}
    readers = start_scan_workers(args.jobs, tmp_dir)
    with mp.get_context("forkserver").Pool(args.jobs, initializer=_init, initargs=(tmp_dir,)) as pool:
        pool.map(_one, files, chunksize=1)  # started, imported, engine ready: a pass not timed
        run_scan_workers(files, readers)  # the same for the scan's readers
        for _ in range(args.reps):  # interleaved, so that a busy moment of the machine hits every contender
            s, c, exif_files = run_exiftool(exe)
            exif.append(s)
            cpu["exiftool"].append(c)
            s, c, totals = run_warm(files, pool)
            warm.append(s)
            cpu["warm"].append(c)
            s, c, worker_items = run_scan_workers(files, readers)
            workers.append(s)
            cpu["scan_workers"].append(c)
            cold.append(run_cold(files, args.jobs, tmp_dir))
            s, c = run_single(files)
            single.append(s)
            cpu["single"].append(c)
    readers.shutdown()
    if worker_items != totals.get("items"):
        sys.exit(f"doc_throughput: the scan's workers gave {worker_items} items, the pool {totals.get('items')}")
    types = by_type(exe, files, args.reps)
    shutil.rmtree(tmp_dir, ignore_errors=True)

    runs = (("exiftool", exif), ("warm", warm), ("cold", cold), ("single", single), ("scan_workers", workers))
    med = {k: statistics.median(v) for k, v in runs}
    result: dict[str, Any] = {
        "corpus": str(CORPUS), "files": len(files), "bytes": nbytes, "exiftool_files_reported": exif_files,
        "leaksift": totals, "reps": args.reps, "jobs": args.jobs, "cpus": os.cpu_count(),
        "exiftool_1_process": rate(len(files), nbytes, med["exiftool"]),
        f"leaksift_{args.jobs}_processes_warm": rate(len(files), nbytes, med["warm"]),
        f"leaksift_{args.jobs}_processes_cold": rate(len(files), nbytes, med["cold"]),
        "leaksift_1_process_warm": rate(len(files), nbytes, med["single"]),
        f"leaksift_{args.jobs}_scan_workers_warm": rate(len(files), nbytes, med["scan_workers"]),
        f"ratio_{args.jobs}_processes_warm": round(med["exiftool"] / med["warm"], 2),
        f"ratio_{args.jobs}_processes_cold": round(med["exiftool"] / med["cold"], 2),
        "ratio_1_process_warm": round(med["exiftool"] / med["single"], 2),
        f"ratio_{args.jobs}_scan_workers_warm": round(med["exiftool"] / med["scan_workers"], 2),
        # CPU seconds (all processes of the contender): what the work costs, whatever else the machine runs
        "cpu_s": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "ratio_cpu_time": round(statistics.median(cpu["exiftool"]) / statistics.median(cpu["warm"]), 2),
        "by_type_cpu": types,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "all_runs_s": {k: [round(x, 2) for x in v] for k, v in runs},
    }
    if args.floors:
        result["floors_word_bodies"] = floors(files, args.reps)
    if not args.no_scan:
        seconds, rc = scan_copy(files, args.jobs)
        result[f"leaksift_scan_{args.jobs}_jobs_end_to_end"] = {**rate(len(files), nbytes, seconds), "rc": rc}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
