"""The case phase: checks that need the whole case run once ingest is done, then verdicts are brought up to date.

Checks that read only what the item phase wrote (metadata, item checks' findings), never verdicts nor other case
checks' findings, say so with `reads_verdicts = False`. Given a `beside` folder, they run in a second process while
this one runs the others in order, and then takes the ones the second process has not begun yet (each process
claims a check by creating its claim file). Their findings are written afterwards, check by check in order. A
serial run too runs the checks that read verdicts first, then the others, so that the case that results is the same
either way, down to the order of the findings (and a verdict depends on an item's findings, not on when they came).
Checks that share a name are parts of one check: its old findings are cleared before the first part is applied.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Protocol

from .. import verdict
from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

FLUSH_ITEMS = 2000
# A second process starts and imports in about 0.5 s, so it pays off only when the checks left in this one take
# longer: from a few thousand items of a mail case (0.37 ms an item, a third of it beside: docs/scaling.md). On
# the 795 documents of the shared corpus the case phase took 0.27-0.31 s serially, 0.70-0.74 s with it.
BESIDE_MIN_ITEMS = 5_000

# In order: a check may rely on the verdicts the ones before it left.
CASE_CHECK_MODULES: tuple[str, ...] = (
    "leaksift.checks.inherit",
    "leaksift.checks.neardup",
    "leaksift.checks.threads",
    "leaksift.checks.baseline",
    "leaksift.checks.rsids",
    "leaksift.checks.uilang",
    "leaksift.checks.docbaseline",
    "leaksift.checks.folderwindow",
    "leaksift.checks.exifdates",
)


class CaseCheck(Protocol):
    name: ClassVar[str]
    # reads_verdicts: ClassVar[bool], optional, True when absent: False lets the check run in a second process

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]: ...


def default_case_checks() -> list[CaseCheck]:
    checks: list[CaseCheck] = []
    for modname in CASE_CHECK_MODULES:
        checks.extend(cls() for cls in importlib.import_module(modname).CHECKS)
    return checks


def run_case_checks(store: CaseStore, ctx: CheckContext, checks: list[CaseCheck] | None = None,
                    beside: Path | None = None, beside_min_items: int = BESIDE_MIN_ITEMS) -> int:
    """Replace the findings of the case checks and update the verdicts they touch; returns findings added.
    With `beside` (a scratch folder), a store another process can open and a case of `beside_min_items` items
    or more, the checks that read no verdicts run in a second process meanwhile (and in this one once it is done
    with the others)."""
    checks = default_case_checks() if checks is None else checks
    checks = [c for c in checks if _reads_verdicts(c)] + [c for c in checks if not _reads_verdicts(c)]
    url = getattr(store, "url", None)
    if beside is not None and store.count_items() < beside_min_items:
        beside = None
    aside = [c for c in checks if not _reads_verdicts(c)] if beside is not None and url else []
    cleared: set[str] = set()
    if not aside:
        return sum(_apply(store, check, check.run(store, ctx), cleared) for check in checks)
    assert beside is not None and url is not None
    beside.mkdir(parents=True, exist_ok=True)
    spills = [beside / f"case-check-{i}.pickle" for i in range(len(aside))]
    for spill in spills:  # an interrupted run's files: neither claimed nor done now
        for leftover in (spill, Path(str(spill) + ".part"), Path(str(spill) + ".claim")):
            leftover.unlink(missing_ok=True)
    proc = mp.get_context("forkserver").Process(
        target=_run_aside, args=(str(url), [type(c) for c in aside], ctx, [str(p) for p in spills]), daemon=True)
    proc.start()
    try:
        added = sum(_apply(store, check, check.run(store, ctx), cleared) for check in checks if check not in aside)
        _spill_checks(store, aside, ctx, [str(p) for p in spills])  # what the second process has not begun
    finally:
        proc.join()
    for check, spill in zip(aside, spills):
        if spill.exists():
            with open(spill, "rb") as fh:
                added += _apply(store, check, _replay(fh), cleared)
            spill.unlink()
        else:  # the second process died before finishing this one (memory, a bug): run it here, as serially
            Path(str(spill) + ".part").unlink(missing_ok=True)
            added += _apply(store, check, check.run(store, ctx), cleared)
        Path(str(spill) + ".claim").unlink(missing_ok=True)
    return added


def _reads_verdicts(check: CaseCheck) -> bool:
    return bool(getattr(check, "reads_verdicts", True))


def _apply(store: CaseStore, check: CaseCheck, found: Iterable[tuple[str, Finding]], cleared: set[str]) -> int:
    """Swap one check's old findings for these (the first of its name to be applied clears them), in bounded
    batches, and decide the touched verdicts again."""
    if check.name not in cleared:
        cleared.add(check.name)
        touched = store.clear_findings(check.name)
        refresh_verdicts(store, touched)  # before the check reads verdicts: none may rest on its own old findings
    seen: set[tuple[str, str]] = set()
    batch: dict[str, list[Finding]] = {}
    changed: set[str] = set()
    added = 0
    for item_id, finding in found:
        if (item_id, finding.summary) in seen:
            continue
        seen.add((item_id, finding.summary))
        batch.setdefault(item_id, []).append(finding)
        changed.add(item_id)
        added += 1
        if len(batch) >= FLUSH_ITEMS:  # bounded memory on a large case
            store.append_findings(batch)
            batch = {}
    store.append_findings(batch)
    refresh_verdicts(store, changed)
    return added


def _run_aside(url: str, classes: list[type], ctx: CheckContext, spills: list[str]) -> None:
    """The second process: the checks it can claim, on a store of its own."""
    from ..store import open_store

    store = open_store(url)
    try:
        _spill_checks(store, [cls() for cls in classes], ctx, spills)
    finally:
        store.close()


def _spill_checks(store: CaseStore, checks: list[CaseCheck], ctx: CheckContext, spills: list[str]) -> None:
    """Run each check that no process has claimed yet, its findings to its spill file in batches (no process holds
    them all); a file gets its name only once its check has finished."""
    for check, spill in zip(checks, spills):
        try:
            os.close(os.open(spill + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue  # the other process has it
        part = spill + ".part"
        with open(part, "wb") as fh:
            batch: list[tuple[str, Finding]] = []
            for pair in check.run(store, ctx):
                batch.append(pair)
                if len(batch) >= FLUSH_ITEMS:
                    pickle.dump(batch, fh)
                    batch = []
            pickle.dump(batch, fh)
        Path(part).rename(spill)


def _replay(fh: Any) -> Iterator[tuple[str, Finding]]:
    """One check's findings from its spill file, which this process's own second process wrote."""
    while True:
        try:
            batch = pickle.load(fh)  # noqa: S301 - written by our own process, in the case's scratch folder
        except EOFError:
            return
        yield from batch


def refresh_verdicts(store: CaseStore, item_ids: set[str]) -> None:
    """Decide again the verdicts of items whose findings changed."""
    ids = sorted(item_ids)
    for i in range(0, len(ids), FLUSH_ITEMS * 5):  # bounded: a case check can touch every item
        found = store.item_effects(ids[i:i + FLUSH_ITEMS * 5])
        store.set_verdicts({item_id: verdict.decide_effects(error, effects)
                            for item_id, (error, effects) in found.items()})
