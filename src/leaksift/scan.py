"""Scan a dump: walk it, read each top-level file in a worker process, write the case.

Worker processes parse (ingest -> checks -> verdict) and send batches of records to the one
writer, the main process, which commits a source as done in the same transaction as its last
records. A scan killed at any moment therefore resumes cleanly: sources not marked done are
cleared and read again. A worker that dies on a hostile file (native parsers can crash) costs that
one source, recorded as an error, and is replaced.

`executor="dask://HOST:PORT"` runs the same per-item work on a Dask cluster (scan_dask.py); the
writer, the resume bookkeeping and the case-wide checks stay here, in this process.
"""

from __future__ import annotations

import heapq
import multiprocessing as mp
import os
import pickle
import shutil
import stat
import tempfile
import threading
import time
import traceback
from collections import deque
from multiprocessing.connection import wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import verdict
from .checks import CheckContext, default_item_checks, run_item_checks
from .checks.case import run_case_checks
from .ingest.base import FileBlob, Limits, sha256_of
from .ingest.engine import Engine, display_name, item_id
from .ingest.registry import Registry, default_registry
from .ingest.sniff import sniff
from .model import ItemRecord
from .store.base import CaseStore, SourceState
from .store.rows import BLOB_COLUMNS, pack

BATCH_ITEMS = 256
BATCH_BYTES = 16 * 1024 * 1024


class ScanError(RuntimeError):
    """The scan cannot go on (not a problem of one file)."""


@dataclass(slots=True)
class SourceFile:
    relpath: str
    size: int
    mtime_ns: int
    special: str | None = None  # symlink, fifo, device...: recorded, never opened


@dataclass
class ScanStats:
    sources: int = 0
    sources_skipped: int = 0
    items: int = 0
    errors: int = 0
    bytes: int = 0
    crashed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tasks: int = 0  # units of work handed out: sources (local pool) or batches of sources (Dask)
    ingest_seconds: float = 0.0  # the per-item phase: ingest, item checks, verdicts, writes
    case_seconds: float = 0.0  # the case-wide checks after it


def count_records(stats: ScanStats, records: list[ItemRecord]) -> None:
    stats.items += len(records)
    stats.errors += sum(1 for r in records if r.error)
    stats.bytes += sum(r.size or 0 for r in records if r.depth == 0)


def walk_dump(root: Path) -> Iterator[SourceFile]:
    """Every file of the dump, in a stable order; links and special files are listed, not followed."""
    if not root.is_dir():
        st = root.lstat()
        yield SourceFile("", st.st_size, st.st_mtime_ns)
        return
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = sorted(os.scandir(root / rel if rel else root), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            relpath = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(relpath)
            elif stat.S_ISREG(st.st_mode):
                yield SourceFile(relpath, st.st_size, st.st_mtime_ns)
            else:
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "special_file"
                yield SourceFile(relpath, 0, st.st_mtime_ns, special=kind)
        stack.extend(reversed(subdirs))


def largest_first(todo: Iterable[SourceFile], window: int = 512) -> Iterator[SourceFile]:
    """The same files, the largest of each window of upcoming ones first, so that big containers start early and
    the scan does not end with one worker on a big file while the others wait (bounded: `window` files held)."""
    held: list[tuple[int, int, SourceFile]] = []
    for n, src in enumerate(todo):
        heapq.heappush(held, (-src.size, n, src))
        if len(held) >= window:
            yield heapq.heappop(held)[2]
    while held:
        yield heapq.heappop(held)[2]


def special_record(src: SourceFile) -> ItemRecord:
    name = display_name(src.relpath)
    rec = ItemRecord(id=item_id(None, 0, name), path=name, parent=None, source=name, depth=0, kind="other",
                     mime="inode/symlink" if src.special == "symlink" else "inode/x-special",
                     sha256=None, size=None, error_reason=src.special,
                     error=f"{src.special}: not followed (a dump may point links outside itself)")
    return verdict.apply(rec)


def crash_record(root: Path, src: SourceFile, why: str) -> ItemRecord:
    """The top-level item of a source whose worker died: what we can say without parsing it."""
    name = display_name(src.relpath or root.name)
    path = root / src.relpath if src.relpath else root
    rec = ItemRecord(id=item_id(None, 0, name), path=name, parent=None, source=name, depth=0, kind="other",
                     mime="application/octet-stream", sha256=None, size=src.size,
                     error_reason="worker_crashed", error=f"worker_crashed: {why}")
    try:
        blob = FileBlob(path)
        rec.sha256, rec.mime = sha256_of(blob), sniff(blob, name)
    except OSError:
        pass
    return verdict.apply(rec)


# ---------------------------------------------------------------- worker side

def _writer_alive(pid: int) -> bool:
    """Workers are children of the forkserver, not of the writer: ask after the writer itself."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Sender:
    """This worker's own channel to the writer, fed by a thread so that reading goes on while a batch is sent.

    One pipe per worker, and no lock shared with anyone: a worker that dies mid-message breaks only its own
    channel, which the writer sees end. (A queue shared by all workers has one lock, and a worker that died
    holding it stopped every other worker.)
    """

    # Bytes of pickled messages that may wait here (one message always fits): reading goes on while the writer
    # commits (a few tenths of a second); a queue of a few messages, one per small source, filled in milliseconds.
    MAX_WAITING = 32 << 20

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.cond = threading.Condition()
        self.waiting: deque[bytes | None] = deque()
        self.bytes = 0
        self.thread = threading.Thread(target=self._send_all, daemon=True)
        self.thread.start()

    def put(self, msg: tuple) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)  # here: a bad record fails here
        with self.cond:
            while self.waiting and self.bytes + len(data) > self.MAX_WAITING:
                self.cond.wait()
            self.waiting.append(data)
            self.bytes += len(data)
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.waiting.append(None)
            self.cond.notify_all()
        self.thread.join()

    def _send_all(self) -> None:
        while True:
            with self.cond:
                while not self.waiting:
                    self.cond.wait()
                data = self.waiting[0]
            if data is None:
                return
            try:
                self.conn.send_bytes(data)
            except OSError:  # the writer has gone: a killed scan must not leave workers behind
                os._exit(1)
            with self.cond:
                self.waiting.popleft()
                self.bytes -= len(data)
                self.cond.notify_all()


def _worker(wid: int, root: str, limits: Limits, tmp_dir: str, tasks: Any, results: Any, begun: Any,
            parent_pid: int, registry_factory: Callable[[], Registry], check_ctx: CheckContext | None) -> None:
    out = _Sender(results)
    try:
        _work(wid, Path(root), limits, tmp_dir, tasks, out, begun, parent_pid, registry_factory, check_ctx)
    finally:  # also on SystemExit: what was read is sent before the process ends
        out.close()


def _work(wid: int, root: Path, limits: Limits, tmp_dir: str, tasks: Any, out: _Sender, begun: Any,
          parent_pid: int, registry_factory: Callable[[], Registry], check_ctx: CheckContext | None) -> None:
    try:
        engine = Engine(registry_factory(), limits, Path(tmp_dir))
        checks = default_item_checks() if check_ctx is not None else []
        check_ctx = check_ctx or CheckContext()
    except Exception:  # noqa: BLE001 - a broken install must stop the scan, not crash on every file
        out.put(("fatal", wid, "", [], traceback.format_exc(limit=5)))
        return
    while True:
        try:
            if not tasks.poll(1.0):
                if not _writer_alive(parent_pid):
                    return
                continue
            relpath = tasks.recv()
        except (EOFError, OSError):  # the writer has gone
            return
        if relpath is None:
            return
        # How many sources this worker has begun, where the writer finds it if the worker dies (a message put
        # just before may still wait in this process's sender and die with it). Shared memory, not a file written
        # per source: that took 5.7 % of a reader's time on the document corpus. No lock: only this process writes.
        begun.value += 1
        batch: list[ItemRecord] = []
        size = 0
        try:
            for rec in engine.ingest_file(root, relpath):
                verdict.apply(run_item_checks(rec, checks, check_ctx))
                size += len(rec.text or "") + len(rec.raw or b"")
                batch.append(pack(rec))
                if len(batch) >= BATCH_ITEMS or size >= BATCH_BYTES:
                    out.put(("items", wid, relpath, batch))
                    batch, size = [], 0
            out.put(("done", wid, relpath, batch))
        except Exception:  # noqa: BLE001 - an engine bug must cost one source, not the scan
            out.put(("failed", wid, relpath, batch, traceback.format_exc(limit=5)))


# ---------------------------------------------------------------- writer side

@dataclass
class Scanner:
    store: CaseStore
    root: Path
    jobs: int = 2
    limits: Limits = field(default_factory=Limits)
    tmp_dir: Path | None = None
    on_progress: Callable[[ScanStats, int, int], None] | None = None  # (stats, done bytes, total bytes)
    registry_factory: Callable[[], Registry] = default_registry  # module-level, so workers can import it
    check_ctx: CheckContext = field(default_factory=CheckContext)  # keys and dates the checks judge by
    checks: bool = True  # False: ingest only (to measure it, or to check later with `leaksift check --all`)
    executor: str = "local"  # "local" (this machine's process pool) or "dask://HOST:PORT"

    def run(self) -> ScanStats:
        t0 = time.monotonic()
        stats = ScanStats()
        tmp_dir = self._tmp_dir()
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # A first pass only counts, for the progress bar; nothing per file is kept, so memory stays flat.
        total_bytes = sum(src.size for src in walk_dump(self.root))
        try:
            self.store.bulk_begin()
            todo = largest_first(self._todo(stats))
            if self.executor == "local":
                self._run_workers(todo, stats, tmp_dir, total_bytes)
            else:
                from .scan_dask import run_dask

                run_dask(self, todo, stats, tmp_dir, total_bytes)
            self.store.collect_garbage()
            self.store.bulk_end()
            stats.ingest_seconds = time.monotonic() - t0
            if self.checks and (stats.items or self.store.get_meta("case_checks") != "done"):
                self.store.set_meta("case_checks", "running")
                # With more than one job (and a case of BESIDE_MIN_ITEMS items or more), the checks that read no
                # verdicts run in a second process meanwhile.
                beside = tmp_dir / "case" if self.jobs > 1 else None
                run_case_checks(self.store, self.check_ctx, beside=beside)
                self.store.set_meta("case_checks", "done")
            stats.case_seconds = time.monotonic() - t0 - stats.ingest_seconds
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        stats.seconds = time.monotonic() - t0
        return stats

    def _tmp_dir(self) -> Path:
        """Spill and spool space beside the case: the case file's folder, or a fresh temp dir for a server store."""
        if self.tmp_dir is not None:
            return self.tmp_dir
        path = getattr(self.store, "path", None)
        if path is not None:
            return Path(str(path) + ".tmp")
        return Path(tempfile.mkdtemp(prefix="leaksift-scan-"))

    def _todo(self, stats: ScanStats) -> Iterator[SourceFile]:
        """The files still to read: finished, unchanged ones are skipped, half-written ones cleared."""
        for src in walk_dump(self.root):
            stats.sources += 1
            name = display_name(src.relpath or self.root.name)
            old = self.store.source_state(name)
            if old and old.size == src.size and old.mtime_ns == src.mtime_ns:
                stats.sources_skipped += 1
                continue
            if old or self.store.has_items(name):
                self.store.clear_source(name)
            if src.special:
                self.store.write_items([special_record(src)],
                                       done=[SourceState(name, src.size, src.mtime_ns, "done")])
                stats.items += 1
                stats.errors += 1
                continue
            yield src

    def _run_workers(self, todo: Iterator[SourceFile], stats: ScanStats, tmp_dir: Path, total_bytes: int) -> None:
        ctx = mp.get_context("forkserver")
        pool: _Pool | None = None
        requeued: deque[SourceFile] = deque()
        out = _WriteBuffer(self.store)
        done_bytes = 0
        last_reap = time.monotonic()

        def finish(src: SourceFile, records: list[ItemRecord], status: str) -> None:
            nonlocal done_bytes
            name = display_name(src.relpath or self.root.name)
            out.add(records, SourceState(name, src.size, src.mtime_ns, status))
            done_bytes += src.size

        exhausted = False
        try:
            while True:
                while not exhausted or requeued:
                    if pool is not None and not pool.has_room():
                        break
                    src = requeued.popleft() if requeued else next(todo, None)
                    if src is None:
                        exhausted = True
                        break
                    if pool is None:  # started on the first file to read: a rescan that skips all starts none
                        pool = _Pool(ctx, self, str(tmp_dir))
                        for _ in range(max(1, self.jobs)):
                            pool.spawn()
                    pool.assign(src)
                    stats.tasks += 1
                if pool is None or (exhausted and not requeued and pool.outstanding() == 0):
                    break
                msgs = pool.receive(timeout=0.2)
                for msg in msgs:
                    kind, wid, relpath, records = msg[0], msg[1], msg[2], msg[3]
                    if kind == "fatal":
                        raise ScanError(f"a reader process could not start:\n{msg[4]}")
                    if kind in ("done", "failed"):
                        src = pool.release(wid, relpath)
                        if src is None:  # its worker was already given up on and the source recorded
                            continue
                        if kind == "failed":
                            records = records + [crash_record(self.root, src, msg[4].strip().splitlines()[-1])]
                            stats.crashed.append(display_name(src.relpath or self.root.name))
                        finish(src, records, "done")
                    else:
                        out.add(records, None)
                    count_records(stats, records)
                # After its messages: a worker's channel ends after all it sent, so reaping loses nothing it sent.
                if pool.ended or time.monotonic() - last_reap > 0.5:
                    last_reap = time.monotonic()
                    for src, why, back in pool.reap():
                        requeued.extendleft(reversed(back))
                        stats.crashed.append(display_name(src.relpath or self.root.name))
                        finish(src, [crash_record(self.root, src, why)], "crashed")
                        stats.items += 1
                        stats.errors += 1
                if not msgs:  # quiet: commit what waits, unless that was just done
                    out.flush_if_old(0.5)
                elif self.on_progress:
                    self.on_progress(stats, done_bytes, total_bytes)
            out.flush()
        finally:
            if pool is not None:
                pool.shutdown()


class _WriteBuffer:
    """Groups records of many small sources into one transaction; a source is marked done with its last records."""

    MAX_RECORDS = 5000
    MAX_BYTES = 64 << 20  # of text and compressed raw held
    MAX_SECONDS = 2.0  # fewer, larger commits: each rewrites the index pages it touched

    def __init__(self, store: CaseStore) -> None:
        self.store = store
        self.records: list[ItemRecord] = []
        self.done: list[SourceState] = []
        self.bytes = 0
        self.since = time.monotonic()

    def add(self, records: list[ItemRecord], done: SourceState | None) -> None:
        self.records.extend(records)
        self.bytes += sum(_held(r) for r in records)
        if done is not None:
            self.done.append(done)
        if (len(self.records) >= self.MAX_RECORDS or self.bytes >= self.MAX_BYTES
                or time.monotonic() - self.since > self.MAX_SECONDS):
            self.flush()

    def flush_if_old(self, seconds: float) -> None:
        if time.monotonic() - self.since > seconds:
            self.flush()

    def flush(self) -> None:
        if self.records or self.done:
            self.store.write_items(self.records, done=self.done)
        self.records, self.done, self.bytes = [], [], 0
        self.since = time.monotonic()


_TEXT, _RAW = BLOB_COLUMNS.index("text"), BLOB_COLUMNS.index("raw")


def _held(rec: ItemRecord) -> int:
    blob = rec.packed[0] if rec.packed is not None else None
    if blob is None:
        return len(rec.text or "") + len(rec.raw or b"")
    return len(blob[_TEXT] or "") + len(blob[_RAW] or b"")


class _Pool:
    """Worker processes, each with its own pipes for tasks and for results, so the writer always knows who reads
    what, and a worker that dies mid-message costs no one else.

    Each worker holds up to PREFETCH sources (or PREFETCH_BYTES of them), so it reads on while the writer commits.
    """

    PREFETCH = 256
    PREFETCH_BYTES = 1 << 20
    DEAD_GRACE = 2.0  # seconds a dead worker's channel may stay open (held by some other process) before reaping

    def __init__(self, ctx: Any, scanner: Scanner, tmp_dir: str) -> None:
        self.ctx, self.scanner, self.tmp_dir = ctx, scanner, tmp_dir
        self.procs: dict[int, Any] = {}
        self.tasks: dict[int, Any] = {}  # the writer's end of each worker's task pipe
        self.inbox: dict[int, Any] = {}  # ... and of its result pipe
        self.assigned: dict[int, deque[SourceFile]] = {}
        self.begun: dict[int, Any] = {}  # sources each worker has begun to read (shared memory, the worker counts)
        self.finished: dict[int, int] = {}  # ... and those the writer has had back from it
        self.started: dict[int, float] = {}  # when the worker's current source became current
        self.ended: set[int] = set()  # workers whose result pipe has ended: all they sent has been read
        self.killed: dict[int, str] = {}  # workers killed for running past their time, and why
        self.dead_since: dict[int, float] = {}
        self.next_wid = 0

    def spawn(self) -> None:
        wid = self.next_wid
        self.next_wid += 1
        task_r, task_w = self.ctx.Pipe(duplex=False)
        result_r, result_w = self.ctx.Pipe(duplex=False)
        begun = self.ctx.RawValue("q", 0)
        p = self.ctx.Process(target=_worker, daemon=True,
                             args=(wid, str(self.scanner.root), self.scanner.limits, self.tmp_dir, task_r,
                                   result_w, begun, os.getpid(), self.scanner.registry_factory,
                                   self.scanner.check_ctx if self.scanner.checks else None))
        p.start()
        task_r.close()  # only the worker holds these now: its pipe ends when it dies
        result_w.close()
        self.procs[wid], self.tasks[wid], self.inbox[wid], self.assigned[wid] = p, task_w, result_r, deque()
        self.begun[wid], self.finished[wid] = begun, 0

    def has_room(self) -> bool:
        return any(self._room(q) for q in self.assigned.values())

    def _room(self, held: deque[SourceFile]) -> bool:
        # A worker busy with a big file gets nothing queued behind it, so an idle one takes the next file.
        return not held or (len(held) < self.PREFETCH and sum(s.size for s in held) < self.PREFETCH_BYTES)

    def assign(self, src: SourceFile) -> None:
        wid = min((w for w, q in self.assigned.items() if self._room(q)),
                  key=lambda w: (sum(s.size for s in self.assigned[w]), len(self.assigned[w])))
        if not self.assigned[wid]:
            self.started[wid] = time.monotonic()
        self.assigned[wid].append(src)
        try:
            self.tasks[wid].send(src.relpath)
        except OSError:
            pass  # the worker has just died: reaping it gives the source to another

    def outstanding(self) -> int:
        return sum(len(q) for q in self.assigned.values())

    def receive(self, timeout: float) -> list[tuple]:
        """A message from each worker that has one (waiting up to `timeout` for any); marks ended channels."""
        by_conn = {conn: wid for wid, conn in self.inbox.items() if wid not in self.ended}
        msgs = []
        for conn in wait(list(by_conn), timeout):
            try:
                msgs.append(pickle.loads(conn.recv_bytes()))
            except (EOFError, OSError):  # the worker has exited, perhaps mid-message
                self.ended.add(by_conn[conn])
        return msgs

    def release(self, wid: int, relpath: str) -> SourceFile | None:
        """The worker finished its current source (workers read their queue in order)."""
        held = self.assigned.get(wid)
        if not held or held[0].relpath != relpath:
            return None
        self.started[wid] = time.monotonic()
        self.finished[wid] += 1
        return held.popleft()

    def reap(self) -> list[tuple[SourceFile, str, list[SourceFile]]]:
        """Workers that died or ran past their time: the current source is lost, the queued ones go back."""
        lost = []
        now = time.monotonic()
        for wid, p in list(self.procs.items()):
            held = self.assigned[wid]
            limit = source_timeout(held[0].size, self.scanner.limits) if held else 0.0
            if wid not in self.killed and held and now - self.started.get(wid, now) > limit:
                p.kill()  # its channel ends now; what it sent before is still read first
                self.killed[wid] = f"reading took longer than {limit:.0f} s"
                continue
            if wid not in self.ended:
                if p.is_alive() or now - self.dead_since.setdefault(wid, now) < self.DEAD_GRACE:
                    continue
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
            why = self.killed.pop(wid, None) or f"the reader process died (exit code {p.exitcode})"
            del self.procs[wid]
            self.tasks.pop(wid).close()
            self.inbox.pop(wid).close()
            self.assigned.pop(wid)
            self.ended.discard(wid)
            self.dead_since.pop(wid, None)
            k = self._reading(wid, held)
            del self.begun[wid], self.finished[wid]
            if held:
                # Sources before the one it died on finished, but their last message may have died with it.
                lost.append((held[k], why, list(held)[:k] + list(held)[k + 1:]))
            self.spawn()
        return lost

    def _reading(self, wid: int, held: deque[SourceFile]) -> int:
        """Which of a dead worker's held sources it was reading: it reads them in the order given, so the last one
        it began is the (begun - finished)-th still held; the first where it had begun none of them."""
        k = self.begun[wid].value - self.finished[wid] - 1
        return k if 0 <= k < len(held) else 0

    def shutdown(self) -> None:
        for tasks in self.tasks.values():
            try:
                tasks.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for p in self.procs.values():
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for conn in [*self.tasks.values(), *self.inbox.values()]:
            conn.close()


def source_timeout(size: int, limits: Limits | None = None) -> float:
    """How long one top-level file may take: generous, since a hung native parser is the only target."""
    return (limits or Limits()).source_seconds + size / (1024 * 1024)
