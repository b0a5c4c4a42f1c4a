"""The case phase: checks that read no verdicts run in a second process, and the case comes out as a serial run's."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Iterator

from conftest import export_lines, scan_dump

from leaksift.checks import CheckContext
from leaksift.checks.case import default_case_checks, run_case_checks
from leaksift.keys import KeyStore
from leaksift.model import Finding
from leaksift.sample import build_sample
from leaksift.store import open_store
from leaksift.store.base import CaseStore

PARENT = os.getpid()


class MarkEveryEmail:
    """A case check that reads no verdicts and says which process it ran in (also in the case's meta, as it
    begins)."""

    name: ClassVar[str] = "test_mark"
    reads_verdicts: ClassVar[bool] = False

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        store.set_meta(f"{self.name}_began", str(os.getpid()))
        for item_id in store.item_ids("email"):
            yield item_id, Finding(self.name, "marked", "info", {"pid": os.getpid()})


def _wait_for(store: CaseStore, name: str) -> None:
    """Until the check `name` has begun, in whichever process (60 s at most)."""
    deadline = time.monotonic() + 60
    while store.get_meta(f"{name}_began") is None and time.monotonic() < deadline:
        time.sleep(0.05)


class WaitsForTheMark:
    """A check that reads verdicts (so runs in this process) and ends only once test_mark has begun: this process
    then has no aside check left to take, and test_mark runs in the second one."""

    name: ClassVar[str] = "test_waits"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        _wait_for(store, MarkEveryEmail.name)
        return iter(())


class SlowAside(MarkEveryEmail):
    """Reads no verdicts, and ends only once test_mark has begun elsewhere."""

    name: ClassVar[str] = "test_slow"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        _wait_for(store, MarkEveryEmail.name)
        yield from super().run(store, ctx)


class FailsAside(MarkEveryEmail):
    """Dies in any process but the test's own: the case phase must then run it itself."""

    name: ClassVar[str] = "test_fails_aside"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        if multiprocessing.parent_process() is not None:  # started by multiprocessing: the second process
            raise RuntimeError("boom")
        yield from super().run(store, ctx)


def _findings(db: Path, check: str) -> list[dict]:
    store = open_store(db)
    try:
        return [ev for _, ev in store.findings_of(check)]
    finally:
        store.close()


def test_checks_beside_give_the_same_case_as_a_serial_run(tmp_path: Path) -> None:
    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=120, documents=30)
    ctx = CheckContext(keys=KeyStore.from_files([tmp_path / "keys.zone"]),
                       leaked_at=datetime.fromisoformat("2017-05-05T22:00:00+02:00"))
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, check_ctx=ctx)
    store = open_store(db)
    try:
        run_case_checks(store, ctx, beside=tmp_path / "scratch", beside_min_items=0)  # with a second process
    finally:
        store.close()
    beside = export_lines(db)
    aside = {c.name for c in default_case_checks() if not getattr(c, "reads_verdicts", True)}
    assert aside and aside <= {c.name for c in default_case_checks()}
    assert any(f["check"] in aside for r in beside for f in r["findings"]), "no check ran beside: vacuous"
    serial_db = tmp_path / "serial.db"
    shutil.copyfile(db, serial_db)
    store = open_store(serial_db)
    try:
        run_case_checks(store, ctx)  # all in this process, in order
    finally:
        store.close()
    assert export_lines(serial_db) == beside


def test_second_process_runs_them_and_a_failure_there_falls_back(tmp_path: Path) -> None:
    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=12)
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, checks=False)
    checks = [*default_case_checks(), WaitsForTheMark(), MarkEveryEmail(), FailsAside()]
    store = open_store(db)
    try:
        run_case_checks(store, CheckContext(), checks, beside=tmp_path / "scratch", beside_min_items=0)
        emails = len(store.item_ids("email"))
    finally:
        store.close()
    marked = _findings(db, "test_mark")
    assert len(marked) == emails > 0 and {ev["pid"] for ev in marked} != {PARENT}
    fell_back = _findings(db, "test_fails_aside")
    assert len(fell_back) == emails and {ev["pid"] for ev in fell_back} == {PARENT}
    assert list((tmp_path / "scratch").iterdir()) == []  # spills replayed, the failed one's part removed


def test_a_small_case_runs_its_checks_in_this_process(tmp_path: Path) -> None:
    """Under beside_min_items items a second process costs more (its start and imports) than it saves."""
    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=12)
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, checks=False)
    store = open_store(db)
    pids = []
    try:
        n = store.count_items()
        assert n == len(store.item_ids()) > 0
        for least in (n + 1, n):
            store.db.execute("DELETE FROM meta WHERE key = 'test_mark_began'")
            wait = [WaitsForTheMark()] if least == n else []  # serially, test_mark runs after it
            run_case_checks(store, CheckContext(), [*default_case_checks(), *wait, MarkEveryEmail()],
                            beside=tmp_path / "scratch", beside_min_items=least)
            pids.append({ev["pid"] for _, ev in store.findings_of("test_mark")})
    finally:
        store.close()
    assert pids[0] == {PARENT} and pids[1] and PARENT not in pids[1]


def test_this_process_takes_the_checks_the_second_one_has_not_begun(tmp_path: Path) -> None:
    """Two checks that read no verdicts, one of which waits for the other to begin: they can end only if each
    process runs one of them, as this one takes what the second has not claimed once its own checks are done."""
    build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=12)
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, checks=False)
    store = open_store(db)
    try:
        t0 = time.monotonic()
        run_case_checks(store, CheckContext(), [SlowAside(), MarkEveryEmail()], beside=tmp_path / "scratch",
                        beside_min_items=0)
        assert time.monotonic() - t0 < 50  # neither waited out its 60 s
    finally:
        store.close()
    pids = [{ev["pid"] for ev in _findings(db, name)} for name in (SlowAside.name, MarkEveryEmail.name)]
    assert all(len(p) == 1 for p in pids) and pids[0] != pids[1] and PARENT in pids[0] | pids[1]
    assert list((tmp_path / "scratch").iterdir()) == []  # spills and claims removed
