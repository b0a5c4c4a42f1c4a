"""The Dask executor: the same case as a local scan, work in batches, crashes recorded, resume kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import export_lines, scan_dump

from leaksift.scan import ScanError, SourceFile
from leaksift.scan_dask import cluster_config, parse_executor, plan_batches

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_url():
    """One cluster for the module: two worker processes on loopback (starting one takes seconds), set up as
    docs/scaling.md tells an operator to set up theirs."""
    import dask

    with dask.config.set(cluster_config()), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None) as cluster:
        yield "dask://" + cluster.scheduler_address.removeprefix("tcp://")


def test_cluster_config_reaches_the_workers_and_keeps_the_memory_guard(dask_url: str) -> None:
    import dask

    settings = cluster_config()
    assert settings["distributed.worker.profile.enabled"] is False
    # The nanny's memory monitor is what stops a worker that a hostile file blows up: never slowed down here.
    assert not any("memory" in key for key in settings)
    with distributed.Client(dask_url.removeprefix("dask://")) as client:
        seen = client.run(lambda dask_worker: (dask.config.get("distributed.worker.profile.enabled"),
                                               "profile" in dask_worker.periodic_callbacks))
    assert len(seen) == 2 and set(seen.values()) == {(False, False)}


@pytest.fixture(scope="module")
def sample_leak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from leaksift.sample import build_sample

    base = tmp_path_factory.mktemp("leak")
    build_sample(base / "leak", keys_out=base / "keys.zone")
    return base


def _context(base: Path):
    from leaksift.checks import CheckContext
    from leaksift.keys import KeyStore, parse_key_file

    keys = KeyStore()
    for record in parse_key_file((base / "keys.zone").read_bytes(), "keys.zone", []):
        keys.add(record)
    from datetime import datetime

    return CheckContext(keys=keys, leaked_at=datetime.fromisoformat("2017-05-05T22:00:00+02:00"))


@pytest.fixture(scope="module")
def local_scan(sample_leak: Path, tmp_path_factory: pytest.TempPathFactory):
    """The reference: the sample leak scanned by the local process pool into SQLite."""
    db = tmp_path_factory.mktemp("local") / "local.db"
    stats = scan_dump(sample_leak / "leak", db, jobs=2, check_ctx=_context(sample_leak))
    return stats, export_lines(db)


def test_sample_leak_gives_the_same_export_both_ways(sample_leak: Path, local_scan, dask_url: str,
                                                     tmp_path: Path) -> None:
    local, a = local_scan
    dask = scan_dump(sample_leak / "leak", tmp_path / "dask.db", check_ctx=_context(sample_leak), executor=dask_url)
    b = export_lines(tmp_path / "dask.db")
    # No field is dropped: the export holds no scan timestamps, and ids, verdicts and findings are deterministic.
    assert len(a) > 150 and a == b
    assert {r["verdict"] for r in b} >= {"verified", "tampered"}
    assert (local.items, local.errors, local.sources) == (dask.items, dask.errors, dask.sources)
    assert dask.tasks < local.tasks  # the small files went out in batches


def test_dask_into_postgresql_gives_the_same_export(sample_leak: Path, local_scan, dask_url: str,
                                                    pg_url: str) -> None:
    """The writer needs no case file: a PostgreSQL case, the spool in a temp dir of the client."""
    scan_dump(sample_leak / "leak", pg_url, check_ctx=_context(sample_leak), executor=dask_url)
    assert export_lines(pg_url) == local_scan[1]


def test_small_files_are_batched_and_rescan_skips_them(dask_url: str, tmp_path: Path) -> None:
    from conftest import write_eml

    dump = tmp_path / "dump"
    for i in range(30):
        write_eml(dump / f"m{i:02d}.eml", i)
    db = tmp_path / "case.db"
    first = scan_dump(dump, db, executor=dask_url, checks=False)
    assert first.items == 30 and first.tasks == 1  # 30 small files: one batch, not 30 tasks
    rows = export_lines(db)
    assert [r["path"] for r in rows] == [f"m{i:02d}.eml" for i in range(30)]
    again = scan_dump(dump, db, executor=dask_url, checks=False)
    assert again.sources_skipped == 30 and again.items == 0 and again.tasks == 0
    assert export_lines(db) == rows


def test_plan_batches_by_count_bytes_and_size() -> None:
    srcs = [SourceFile(f"f{i}", 10, 0) for i in range(7)] + [SourceFile("big.mbox", 1000, 0)]
    srcs += [SourceFile("g", 60, 0), SourceFile("h", 60, 0)]
    batches = [[s.relpath for s in b] for b in plan_batches(srcs, max_files=3, max_bytes=100, solo_bytes=500)]
    assert batches == [["f0", "f1", "f2"], ["f3", "f4", "f5"], ["big.mbox"], ["f6", "g", "h"]]


def test_default_batches_are_about_a_second_of_work() -> None:
    """The defaults: an mbox of a few MB is a task alone, and small files close a batch at 1 MiB, so that the
    end of a scan never waits long on one worker (16 MiB batches of mboxes did: 17 s on one worker)."""
    mib = 1024 * 1024
    srcs = [SourceFile(f"m{i}.mbox", 2 * mib, 0) for i in range(3)]
    srcs += [SourceFile(f"e{i}.eml", 100 * 1024, 0) for i in range(25)]
    batches = [[s.relpath for s in b] for b in plan_batches(srcs)]
    assert batches[:3] == [["m0.mbox"], ["m1.mbox"], ["m2.mbox"]]
    assert [len(b) for b in batches[3:]] == [11, 11, 3]  # 11 x 100 KiB is the first to reach 1 MiB


def test_crashing_sources_are_recorded_not_fatal(dask_url: str, tmp_path: Path) -> None:
    from fake_readers import crashy_registry

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "a.txt").write_text("fine text one\n")
    (dump / "b.txt").write_text("CRASH here\n")  # SIGSEGV: kills the Dask worker process
    (dump / "c.txt").write_text("RAISE here\n")  # SystemExit: fails the task
    (dump / "d.txt").write_text("fine text two\n")
    db = tmp_path / "case.db"
    stats = scan_dump(dump, db, executor=dask_url, registry_factory=crashy_registry, checks=False)
    rows = {r["path"]: r for r in export_lines(db)}
    assert set(rows) == {"a.txt", "b.txt", "c.txt", "d.txt"}
    assert rows["a.txt"]["error"] is None and rows["d.txt"]["error"] is None
    for bad in ("b.txt", "c.txt"):
        assert rows[bad]["error_reason"] == "worker_crashed" and rows[bad]["verdict"] == "unreadable", rows[bad]
        assert rows[bad]["sha256"] is not None
    assert sorted(stats.crashed) == ["b.txt", "c.txt"]
    # The crashed sources are finished business for resume: a rescan reads nothing again.
    assert scan_dump(dump, db, executor=dask_url, registry_factory=crashy_registry, checks=False).items == 0


def test_a_hung_source_ends_its_worker_and_is_recorded(dask_url: str, tmp_path: Path) -> None:
    from fake_readers import crashy_registry
    from leaksift.ingest.base import Limits

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "a.txt").write_text("fine text one\n")
    (dump / "b.txt").write_text("HANG! here\n")
    db = tmp_path / "case.db"
    stats = scan_dump(dump, db, executor=dask_url, registry_factory=crashy_registry, checks=False,
                      limits=Limits(source_seconds=2))
    rows = {r["path"]: r for r in export_lines(db)}
    assert rows["a.txt"]["error"] is None
    assert rows["b.txt"]["error"] == "worker_crashed: reading took longer than 2 s"
    assert stats.crashed == ["b.txt"] and stats.seconds < 300


def test_executor_url() -> None:
    t = parse_executor("dask://10.0.0.5:8786?spool=/mnt/case/spool")
    assert t.address == "tcp://10.0.0.5:8786" and t.spool == Path("/mnt/case/spool")
    with pytest.raises(ScanError):
        parse_executor("spark://x:1")
