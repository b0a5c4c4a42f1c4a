"""The per-item phase of a scan on a Dask distributed cluster (`leaksift scan DUMP --executor dask://HOST:PORT`).

The data flow is the local one: ingest -> item checks -> verdict on the workers, store on the client, which stays
the one writer of the case. What changes is the unit of work and the way records come back:

- Work is a *batch* of sources: small files are grouped (by count and by bytes), and a source over `solo_bytes`
  (an mbox, a PST, a zip...) is a batch of its own, so a task is never one tiny file and never a whole dump.
- A task writes its records, in chunks of at most BATCH_ITEMS items or BATCH_BYTES, as pickle files into a spool
  folder on storage the client can read (by default under the case's temp folder, which a real cluster shares),
  and returns only their count. The client loads one chunk at a time, writes it and deletes it, and keeps at most
  `2 x threads + 1` tasks in flight: memory on both sides is bounded by a chunk, disk by the tasks in flight.
- Resume is the local one: a source is marked done in the transaction of its last records.
- Crashes: a task logs in its spool folder when it begins and when it finishes each source. A native parser that
  kills its worker leaves a source started but not done; Dask runs the task again on a live worker, and that run
  records the source as `worker_crashed` and goes on with the next one. A task that fails otherwise (an exception
  that is not an Exception, a worker lost again and again) costs the source it was reading; the ones it had not
  started are handed out again in a new task. A source that reads past `scan.source_timeout` (a hung native
  parser) ends its worker process, as the local pool kills its worker; the nanny starts a new one.

The dump is named by a string that `dump_root` turns into a path every worker can read (a shared mount now;
an fsspec URL would be opened there later).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

from . import verdict
from .checks import CheckContext, default_item_checks, run_item_checks
from .ingest.base import Limits
from .ingest.engine import Engine, display_name
from .ingest.registry import Registry
from .model import ItemRecord
from .scan import (BATCH_BYTES, BATCH_ITEMS, ScanError, Scanner, ScanStats, SourceFile, _WriteBuffer,
                   count_records, crash_record, source_timeout)
from .store.base import SourceState
from .store.rows import pack

# A task should take about a second: long enough to hide the task overhead (a few ms) behind the parsing (about
# 1 ms per message), short enough that the last tasks of a scan do not leave workers idle for long. Scans read
# about 1 MB/s per core, so a batch closes at 64 files or 1 MiB, and a source that big is a task of its own.
BATCH_FILES = 64
BATCH_TASK_BYTES = 1024 * 1024
SOLO_BYTES = BATCH_TASK_BYTES


# Dask settings for the processes of a cluster that runs scans (scheduler, nannies, workers): DASK_CONFIG=this.
CLUSTER_CONFIG_DIR = Path(__file__).parent / "data" / "dask"


def cluster_config() -> dict[str, Any]:
    """The settings of CLUSTER_CONFIG_DIR as dotted keys, for `dask.config.set` around a LocalCluster. Read by
    Dask's own loader, so they are what DASK_CONFIG=CLUSTER_CONFIG_DIR gives an operator's processes."""
    import dask.config

    def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
        return out

    return flat(dask.config.collect([str(CLUSTER_CONFIG_DIR)], env={}))


@dataclass(frozen=True)
class DaskTarget:
    address: str  # the scheduler, e.g. tcp://10.0.0.5:8786
    spool: Path | None = None  # shared folder for the record chunks; default: the case's temp folder


def parse_executor(url: str) -> DaskTarget:
    """`dask://HOST:PORT[?spool=/shared/dir]` -> where the scheduler is and where tasks spool their records."""
    parts = urlsplit(url)
    if parts.scheme != "dask" or not parts.netloc:
        raise ScanError(f"unknown executor {url!r}: give 'local' or 'dask://HOST:PORT'")
    spool = parse_qs(parts.query).get("spool")
    return DaskTarget(f"tcp://{parts.netloc}", Path(spool[0]) if spool else None)


def dump_root(location: str) -> Path:
    """The dump as a worker opens it. Only paths (a shared mount) for now; an fsspec URL would be opened here."""
    if "://" in location and not location.startswith("file://"):
        raise ScanError(f"{location}: only dumps on a path every worker can read are supported for now")
    return Path(location.removeprefix("file://"))


def plan_batches(todo: Iterable[SourceFile], max_files: int = BATCH_FILES, max_bytes: int = BATCH_TASK_BYTES,
                 solo_bytes: int = SOLO_BYTES) -> Iterator[list[SourceFile]]:
    """Group sources into tasks, lazily, in the order given; a big source is a batch of its own."""
    batch: list[SourceFile] = []
    size = 0
    for src in todo:
        if src.size >= solo_bytes:
            yield [src]
            continue
        batch.append(src)
        size += src.size
        if len(batch) >= max_files or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------- worker side

@dataclass
class BatchSpec:
    task: str  # unique: the Dask key and the spool subfolder
    dump: str
    relpaths: list[str]
    sizes: list[int]
    spool: str
    limits: Limits
    registry_factory: Callable[[], Registry]
    checks: bool


@dataclass
class SourceResult:
    chunks: int  # record files <task>/<index>-<n>.pkl, n from 0
    failed: str | None = None  # the engine raised: the records so far stand, plus a crash record
    crashed: str | None = None  # a worker died while reading it: a crash record only


def _task_dir(spool: str | Path, task: str) -> Path:
    return Path(spool) / task


def _chunk_path(folder: Path, index: int, n: int) -> Path:
    return folder / f"{index}-{n}.pkl"


def _write_chunk(folder: Path, index: int, n: int, records: list[ItemRecord]) -> None:
    tmp = folder / f"{index}-{n}.part"
    with open(tmp, "wb") as f:
        pickle.dump(records, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.rename(_chunk_path(folder, index, n))  # a chunk is seen whole or not at all


class _Progress:
    """A task's log in its spool folder: which sources it began and finished. It outlives a worker killed mid-way,
    so the task's next run (or the client) knows which source was being read. One append per event: cheap on NFS."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "progress.log"
        self.started: set[int] = set()
        self.done: dict[int, SourceResult] = {}
        self.why: dict[int, str] = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            event, index, rest = (line.split(" ", 2) + [""])[:3]
            if event == "start":
                self.started.add(int(index))
            elif event == "done" and rest:
                self.done[int(index)] = SourceResult(**json.loads(rest))
            elif event == "why":
                self.why[int(index)] = rest

    def result(self, index: int, why: str) -> SourceResult | None:
        """What became of a source: finished, begun by a run that died (crashed), or never begun (None)."""
        if index in self.done:
            return self.done[index]
        if index in self.started:
            return SourceResult(0, crashed=self.why.get(index) or why)
        return None

    def log(self, event: str, index: int, rest: str = "") -> None:
        with open(self.path, "a") as f:  # a line is one write: whole or absent after a kill
            f.write(f"{event} {index} {rest}".rstrip() + "\n")


class _Watchdog:
    """Ends this worker process if one source reads past its time: only a hung native parser gets there, and a
    thread cannot be stopped. One thread per task, armed per source."""

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress
        self.index, self.seconds, self.deadline = 0, 0.0, float("inf")
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def arm(self, index: int, seconds: float) -> None:
        self.index, self.seconds, self.deadline = index, seconds, time.monotonic() + seconds

    def disarm(self) -> None:
        self.deadline = float("inf")

    def stop(self) -> None:
        self.stopped.set()

    def _watch(self) -> None:
        while not self.stopped.wait(1.0):
            if time.monotonic() > self.deadline:
                self.progress.log("why", self.index, f"reading took longer than {self.seconds:.0f} s")
                os._exit(1)


def read_batch(spec: BatchSpec, check_ctx: CheckContext | None) -> list[SourceResult]:
    """A Dask task: read each source of the batch, spool its records, return what was spooled."""
    folder = _task_dir(spec.spool, spec.task)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "tmp"
    engine = Engine(spec.registry_factory(), spec.limits, work)
    checks = default_item_checks() if spec.checks else []
    ctx = check_ctx or CheckContext()
    root = dump_root(spec.dump)
    progress = _Progress(folder)  # an earlier run of this task may have died on a source: it is not read again
    watchdog = _Watchdog(progress)
    results = []
    try:
        for index, relpath in enumerate(spec.relpaths):
            done = progress.result(index, "the worker process died while reading it")
            if done is None:
                progress.log("start", index)
                watchdog.arm(index, source_timeout(spec.sizes[index], spec.limits))
                done = _read_source(engine, checks, ctx, root, relpath, folder, index)
                watchdog.disarm()
            if index not in progress.done:
                progress.log("done", index, json.dumps(done.__dict__))
            results.append(done)
    finally:
        watchdog.stop()
    shutil.rmtree(work, ignore_errors=True)
    return results


def _read_source(engine: Engine, checks: list, ctx: CheckContext, root: Path, relpath: str, folder: Path,
                 index: int) -> SourceResult:
    batch: list[ItemRecord] = []
    size = n = 0
    try:
        for rec in engine.ingest_file(root, relpath):
            verdict.apply(run_item_checks(rec, checks, ctx))
            size += len(rec.text or "") + len(rec.raw or b"")
            batch.append(pack(rec))
            if len(batch) >= BATCH_ITEMS or size >= BATCH_BYTES:
                _write_chunk(folder, index, n, batch)
                batch, size, n = [], 0, n + 1
    except Exception as e:  # noqa: BLE001 - an engine bug must cost one source, not the scan
        # Worded as the local pool words it (the last line of the traceback), so both give the same case.
        failed: str | None = "".join(traceback.format_exception_only(e)).strip().splitlines()[-1]
    else:
        failed = None
    if batch:
        _write_chunk(folder, index, n, batch)
        n += 1
    return SourceResult(n, failed=failed)


# ---------------------------------------------------------------- client side (the writer)

@dataclass
class _Batch:
    spec: BatchSpec
    sources: list[SourceFile]


@dataclass
class _Writer:
    """Turns finished tasks into store writes; the same bookkeeping as the local pool."""

    scanner: Scanner
    stats: ScanStats
    total_bytes: int
    out: _WriteBuffer = field(init=False)
    done_bytes: int = 0

    def __post_init__(self) -> None:
        self.out = _WriteBuffer(self.scanner.store)

    def source(self, folder: Path, index: int, src: SourceFile, result: SourceResult) -> None:
        root = self.scanner.root
        name = display_name(src.relpath or root.name)
        if result.crashed:
            records, status = [crash_record(root, src, result.crashed)], "crashed"
        else:
            for n in range(result.chunks - 1):
                self._add(_load_chunk(folder, index, n), None)
            records = _load_chunk(folder, index, result.chunks - 1) if result.chunks else []
            status = "done"
            if result.failed:
                records.append(crash_record(root, src, result.failed))
        if result.crashed or result.failed:
            self.stats.crashed.append(name)
        self._add(records, SourceState(name, src.size, src.mtime_ns, status))
        self.done_bytes += src.size
        if self.scanner.on_progress:
            self.scanner.on_progress(self.stats, self.done_bytes, self.total_bytes)

    def _add(self, records: list[ItemRecord], done: SourceState | None) -> None:
        self.out.add(records, done)
        count_records(self.stats, records)


def _load_chunk(folder: Path, index: int, n: int) -> list[ItemRecord]:
    path = _chunk_path(folder, index, n)
    with open(path, "rb") as f:
        records = pickle.load(f)  # written by our own tasks into the case's spool, never by the dump
    path.unlink()
    return records


def run_dask(scanner: Scanner, todo: Iterator[SourceFile], stats: ScanStats, tmp_dir: Path,
             total_bytes: int) -> None:
    """Read `todo` on the cluster named by scanner.executor; write everything through one buffer, here."""
    from distributed import Client, as_completed

    target = parse_executor(scanner.executor)
    spool = (target.spool or tmp_dir / "spool") / uuid.uuid4().hex
    batches = plan_batches(todo)
    first = next(batches, None)
    if first is None:  # a rescan that skips everything needs no cluster
        return
    writer = _Writer(scanner, stats, total_bytes)
    requeued: deque[list[SourceFile]] = deque([first])
    try:
        client = Client(target.address, timeout="60s")
    except OSError as e:
        raise ScanError(f"cannot reach the Dask scheduler at {target.address}: {e}") from e
    try:
        ctx = client.scatter(scanner.check_ctx, broadcast=True) if scanner.checks else None
        in_flight = 2 * max(1, sum(client.nthreads().values())) + 1
        pending: dict[Any, _Batch] = {}
        ac = as_completed()

        def submit_more() -> None:
            while len(pending) < in_flight:
                sources = requeued.popleft() if requeued else next(batches, None)
                if sources is None:
                    return
                spec = BatchSpec(f"leaksift-batch-{uuid.uuid4().hex}", str(scanner.root),
                                 [s.relpath for s in sources], [s.size for s in sources], str(spool), scanner.limits,
                                 scanner.registry_factory, scanner.checks)
                fut = client.submit(read_batch, spec, ctx, key=spec.task, pure=False)
                pending[fut] = _Batch(spec, sources)
                ac.add(fut)
                stats.tasks += 1

        submit_more()
        for fut in ac:
            batch = pending.pop(fut)
            _finish(fut, batch, writer, requeued)
            fut.release()
            submit_more()
        writer.out.flush()
    finally:
        client.close()
        shutil.rmtree(spool, ignore_errors=True)


def _finish(fut: Any, batch: _Batch, writer: _Writer, requeued: deque[list[SourceFile]]) -> None:
    folder = _task_dir(batch.spec.spool, batch.spec.task)
    if fut.status == "finished":
        for index, (src, result) in enumerate(zip(batch.sources, fut.result())):
            writer.source(folder, index, src, result)
    else:
        why = _failure(fut)
        rest = _salvage(folder, batch, writer, why)
        if len(rest) == len(batch.sources):
            raise ScanError(f"a Dask task failed before reading anything: {why}")
        if rest:
            requeued.append(rest)
    shutil.rmtree(folder, ignore_errors=True)


def _failure(fut: Any) -> str:
    if fut.status == "cancelled":  # the scheduler went away or restarted: there is no exception to fetch
        return "the task was cancelled by the cluster"
    exc = fut.exception()
    return f"the task failed: {type(exc).__name__}: {exc}"[:500]


def _salvage(folder: Path, batch: _Batch, writer: _Writer, why: str) -> list[SourceFile]:
    """A failed task: keep the sources it finished, record the one it was reading, return the ones it never began."""
    progress = _Progress(folder)
    for index, src in enumerate(batch.sources):
        result = progress.result(index, why)
        if result is None:
            return batch.sources[index:]
        writer.source(folder, index, src, result)
    return []
