"""The case phase: checks that read no verdicts run in a second process, and the case comes out as a serial run's."""

from __future__ import annotations

import multiprocessing
import os
import shutil
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
    """A case check that reads no verdicts and says which process it ran in."""

    name: ClassVar[str] = "test_mark"
    reads_verdicts: ClassVar[bool] = False

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        for item_id in store.item_ids("email"):
            yield item_id, Finding(self.name, "marked", "info", {"pid": os.getpid()})


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
    checks = [*default_case_checks(), MarkEveryEmail(), FailsAside()]
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
            run_case_checks(store, CheckContext(), [*default_case_checks(), MarkEveryEmail()],
                            beside=tmp_path / "scratch", beside_min_items=least)
            pids.append({ev["pid"] for _, ev in store.findings_of("test_mark")})
    finally:
        store.close()
    assert pids[0] == {PARENT} and pids[1] and PARENT not in pids[1]
