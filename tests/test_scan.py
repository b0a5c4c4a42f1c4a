"""The scan: resumable, idempotent, both cores, crash-isolated, deduplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from conftest import export_lines, scan_dump, write_eml

from leaksift.scan import walk_dump

LEAKSIFT = [sys.executable, "-m", "leaksift.cli"]


def _table_dump(db: Path) -> list:
    con = sqlite3.connect(db)
    try:
        return [con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("items", "blobs", "sources")]
    finally:
        con.close()


def _many_emails(root: Path, n: int) -> None:
    for i in range(n):
        write_eml(root / f"box{i % 7}" / f"{i:05d}.eml", i, body=("offshore virement " * 40 + "\r\n") * 20)


def test_rescan_of_unchanged_dump_is_fast_and_changes_nothing(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    _many_emails(dump, 60)
    db = tmp_path / "case.db"
    first = scan_dump(dump, db)
    assert first.sources == 60 and first.sources_skipped == 0 and first.items == 60
    before, export_before = _table_dump(db), export_lines(db)
    second = scan_dump(dump, db)
    assert second.sources_skipped == 60 and second.items == 0
    assert _table_dump(db) == before
    assert export_lines(db) == export_before


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    _many_emails(dump, 5)
    db = tmp_path / "case.db"
    scan_dump(dump, db)
    target = dump / "box0" / "00000.eml"
    write_eml(target, 999, body="a new body\r\n")
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    stats = scan_dump(dump, db)
    assert stats.sources_skipped == 4 and stats.items == 1
    rows = [r for r in export_lines(db) if r["path"] == "box0/00000.eml"]
    assert len(rows) == 1 and rows[0]["size"] == target.stat().st_size


def test_sigkill_then_rescan_gives_the_same_export(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    _many_emails(dump, 1500)
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    scan_dump(dump, clean_db)
    # The writer commits every 2 s or 5,000 records: a fast machine reads all 1,500 before the first commit, and
    # the kill would find nothing half-done. Small commits make "killed mid-way" certain on any machine.
    small_commits = ("import sys, runpy; from leaksift.scan import _WriteBuffer; _WriteBuffer.MAX_RECORDS = 50; "
                     "sys.argv[0] = 'leaksift'; runpy.run_module('leaksift.cli', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", small_commits, "scan", str(dump), "--db", str(killed_db),
                             "--jobs", "2", "-q"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    seen = 0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            con = sqlite3.connect(killed_db, timeout=1)
            seen = con.execute("SELECT count(*) FROM items").fetchone()[0]
            con.close()
        except sqlite3.OperationalError:
            continue
        if seen >= 200:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 200 <= seen < 1500, f"the scan must be killed mid-way (saw {seen} items)"
    partial = len(export_lines(killed_db))
    assert partial < 1500
    stats = scan_dump(dump, killed_db)
    assert stats.sources_skipped > 0
    assert export_lines(killed_db) == export_lines(clean_db)


def test_identical_bytes_stored_once_exported_per_location(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    write_eml(dump / "a" / "same.eml", 1)
    write_eml(dump / "b" / "same.eml", 1)
    with zipfile.ZipFile(dump / "c.zip", "w") as zf:
        zf.writestr("inner/same.eml", (dump / "a" / "same.eml").read_bytes())
    db = tmp_path / "case.db"
    scan_dump(dump, db)
    rows = export_lines(db)
    same = [r for r in rows if r["sha256"] == rows[0]["sha256"] and r["kind"] == "email"]
    assert sorted(r["path"] for r in same) == ["a/same.eml", "b/same.eml", "c.zip/inner/same.eml"]
    assert len({r["id"] for r in same}) == 3 and all(r["copies"] == 3 for r in same)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM blobs WHERE sha256 = ?", (same[0]["sha256"],)).fetchone()[0] == 1


def test_one_and_two_jobs_give_the_same_case(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    _many_emails(dump, 40)
    scan_dump(dump, tmp_path / "one.db", jobs=1)
    scan_dump(dump, tmp_path / "two.db", jobs=2)
    assert export_lines(tmp_path / "one.db") == export_lines(tmp_path / "two.db")


def test_crashing_reader_costs_one_source_and_the_scan_goes_on(tmp_path: Path) -> None:
    from fake_readers import crashy_registry

    dump = tmp_path / "dump"
    (dump).mkdir()
    (dump / "a.txt").write_text("fine text one\n")
    (dump / "b.txt").write_text("CRASH here\n")
    (dump / "c.txt").write_text("RAISE here\n")
    (dump / "d.txt").write_text("fine text two\n")
    db = tmp_path / "case.db"
    stats = scan_dump(dump, db, registry_factory=crashy_registry)
    rows = {r["path"]: r for r in export_lines(db)}
    assert set(rows) == {"a.txt", "b.txt", "c.txt", "d.txt"}
    assert rows["a.txt"]["error"] is None and rows["d.txt"]["error"] is None
    for bad in ("b.txt", "c.txt"):
        assert rows[bad]["error_reason"] == "worker_crashed"
        assert rows[bad]["verdict"] == "unreadable"
        assert rows[bad]["sha256"] is not None
    assert sorted(stats.crashed) == ["b.txt", "c.txt"]


def test_a_worker_dying_mid_message_with_locks_held_costs_no_other_source(tmp_path: Path) -> None:
    """A worker that dies holding every lock it can reach, half-way through a message, stops no other worker.

    (With one queue shared by all workers, one that died holding its lock left the others blocked until the
    source time limit killed them, and their files were recorded as crashed.)"""
    from fake_readers import crashy_registry
    from leaksift.ingest.base import Limits

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "b.txt").write_text("HOLD! here\n")
    fine = [f"f{i:02d}.txt" for i in range(12)]
    for name in fine:
        (dump / name).write_text(f"fine text {name}\n")
    db = tmp_path / "case.db"
    done: list = []
    # In a thread, so that a writer stuck on a broken channel fails this test instead of hanging the suite.
    scan = threading.Thread(daemon=True, target=lambda: done.append(
        scan_dump(dump, db, registry_factory=crashy_registry, limits=Limits(source_seconds=20))))
    scan.start()
    scan.join(timeout=240)
    assert done, "the scan did not end"
    rows = {r["path"]: r for r in export_lines(db)}
    assert set(rows) == {"b.txt", *fine}
    assert [n for n in fine if rows[n]["error"] is not None] == []
    assert rows["b.txt"]["error_reason"] == "worker_crashed"
    assert "died" in rows["b.txt"]["error"]  # seen to die, not timed out
    assert done[0].crashed == ["b.txt"]


def test_a_dead_worker_is_charged_with_the_source_it_was_reading_not_the_first_it_held(tmp_path: Path) -> None:
    """A worker dies on its fourth source while the messages of the first three still wait in its sender: the
    writer must charge the fourth (the worker counts the sources it begins) and read the three again, not charge
    the first one it had given it."""
    from fake_readers import crashy_registry

    dump = tmp_path / "dump"
    dump.mkdir()
    # One worker, which takes them largest first: a (holds back its sends), b, c, then d (crashes).
    (dump / "a.txt").write_text("STALL the sends, then read on " + "x" * 200 + "\n")
    (dump / "b.txt").write_text("fine text b " + "y" * 100 + "\n")
    (dump / "c.txt").write_text("fine text c " + "z" * 99 + "\n")
    (dump / "d.txt").write_text("CRASH\n")
    db = tmp_path / "case.db"
    stats = scan_dump(dump, db, jobs=1, registry_factory=crashy_registry)
    rows = {r["path"]: r for r in export_lines(db)}
    assert {n: rows[n]["error_reason"] for n in rows} == {"a.txt": None, "b.txt": None, "c.txt": None,
                                                          "d.txt": "worker_crashed"}
    assert stats.crashed == ["d.txt"]


def test_a_hung_reader_is_killed_at_the_source_time_limit(tmp_path: Path) -> None:
    from fake_readers import crashy_registry
    from leaksift.ingest.base import Limits

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "b.txt").write_text("HANG! here\n")
    fine = [f"f{i:02d}.txt" for i in range(6)]
    for name in fine:
        (dump / name).write_text(f"fine text {name}\n")
    db = tmp_path / "case.db"
    stats = scan_dump(dump, db, registry_factory=crashy_registry, limits=Limits(source_seconds=2))
    rows = {r["path"]: r for r in export_lines(db)}
    assert [n for n in fine if rows[n]["error"] is not None] == []
    assert rows["b.txt"]["error"] == "worker_crashed: reading took longer than 2 s"
    assert rows["b.txt"]["verdict"] == "unreadable" and rows["b.txt"]["sha256"] is not None
    assert stats.crashed == ["b.txt"] and stats.seconds < 300


def test_links_and_odd_names_are_recorded_not_followed(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the dump")
    os.symlink(outside, dump / "link.txt")
    os.symlink(tmp_path, dump / "dirlink")
    odd = os.fsdecode(b"caf\xe9-\xff.txt")
    (dump / odd).write_text("name in latin-1")
    db = tmp_path / "case.db"
    scan_dump(dump, db)
    rows = {r["path"]: r for r in export_lines(db)}
    assert rows["link.txt"]["error_reason"] == "symlink" and rows["link.txt"]["sha256"] is None
    assert rows["dirlink"]["error_reason"] == "symlink"
    assert "caf\\xe9-\\xff.txt" in rows
    assert rows["caf\\xe9-\\xff.txt"]["error"] is None


def test_walk_order_is_stable_and_complete(tmp_path: Path) -> None:
    for rel in ("b/2.txt", "a/1.txt", "a/z/3.txt", "c.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert [s.relpath for s in walk_dump(tmp_path)] == ["c.txt", "a/1.txt", "a/z/3.txt", "b/2.txt"]


def test_single_file_dump(tmp_path: Path) -> None:
    path = write_eml(tmp_path / "one.eml", 1)
    db = tmp_path / "case.db"
    scan_dump(path, db)
    rows = export_lines(db)
    assert [r["path"] for r in rows] == ["one.eml"] and rows[0]["kind"] == "email"


def test_nothing_is_written_outside_the_case_directory(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    with zipfile.ZipFile(dump.with_suffix(".zip"), "w") as zf:
        zf.writestr("../../escape.txt", "zip slip")
        zf.writestr("/abs/evil.txt", "absolute")
    dump.mkdir()
    (dump.with_suffix(".zip")).rename(dump / "slip.zip")
    case = tmp_path / "case"
    case.mkdir()
    before = {p for p in tmp_path.rglob("*")}
    scan_dump(dump, case / "case.db")
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(case in p.parents for p in created), created


def test_container_that_loses_children_shows_in_summary_and_export(tmp_path: Path) -> None:
    from fake_readers import lying_registry

    from leaksift.store import open_store

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "table.csv").write_text("a,b\n1,2\n")
    db = tmp_path / "case.db"
    scan_dump(dump, db, registry_factory=lying_registry)
    rows = {r["path"]: r for r in export_lines(db)}
    assert rows["table.csv"]["container"] == {"expected": 5, "emitted": 2, "failed": 1, "lost": 2,
                                              "complete": False}
    assert rows["table.csv/three.bin"]["error_reason"] == "corrupt"
    store = open_store(db)
    summary = store.summary()
    store.close()
    assert [c["path"] for c in summary.mismatched_containers] == ["table.csv"]


def test_idle_workers_outlive_a_slow_file(tmp_path: Path) -> None:
    """Workers waiting for work (more workers than files) must neither exit nor be taken for crashed."""
    from fake_readers import crashy_registry

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "slow.txt").write_text("SLEEP a while\n")
    for i in range(5):
        (dump / f"{i}.txt").write_text(f"quick {i}\n")
    stats = scan_dump(dump, tmp_path / "case.db", jobs=6, registry_factory=crashy_registry)
    rows = export_lines(tmp_path / "case.db")
    assert stats.crashed == [] and len(rows) == 6 and all(r["error"] is None for r in rows)


def test_a_worker_reads_on_while_the_writer_is_busy_within_a_bound() -> None:
    """A worker's sender holds what the writer has not taken yet, by bytes rather than by message: many small
    sources' messages (more than the pipe holds) wait without stopping the reading thread, and past the bound
    put() waits until the writer reads."""
    import multiprocessing

    from leaksift.scan import _Sender

    reader, writer = multiprocessing.Pipe(duplex=False)
    sender = _Sender(writer)
    msgs = [("done", 0, f"box/{i}.eml", [b"x" * 1000]) for i in range(500)]  # ~500 KB, the pipe holds 64 KB
    putter = threading.Thread(target=lambda: [sender.put(m) for m in msgs], daemon=True)
    putter.start()
    putter.join(2.0)
    assert not putter.is_alive()  # with a queue of 2 messages, put() waited for a reader not reading yet
    got = [reader.recv() for _ in msgs]
    assert got == msgs  # in order, none lost
    sender.close()

    class Small(_Sender):
        MAX_WAITING = 20_000

    reader, writer = multiprocessing.Pipe(duplex=False)
    small = Small(writer)
    putter = threading.Thread(target=lambda: [small.put(m) for m in msgs], daemon=True)
    putter.start()
    putter.join(1.0)
    assert putter.is_alive()  # bounded: it waits for the writer
    got = [reader.recv() for _ in msgs]
    putter.join(5)
    assert not putter.is_alive() and got == msgs
    small.close()
