"""The case phase: checks that need the whole case run once ingest is done, then verdicts are brought up to date."""

from __future__ import annotations

import importlib
from typing import ClassVar, Iterator, Protocol

from .. import verdict
from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

FLUSH_ITEMS = 2000

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

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]: ...


def default_case_checks() -> list[CaseCheck]:
    checks: list[CaseCheck] = []
    for modname in CASE_CHECK_MODULES:
        checks.extend(cls() for cls in importlib.import_module(modname).CHECKS)
    return checks


def run_case_checks(store: CaseStore, ctx: CheckContext, checks: list[CaseCheck] | None = None) -> int:
    """Replace the findings of the case checks and update the verdicts they touch; returns findings added."""
    checks = default_case_checks() if checks is None else checks
    added = 0
    for check in checks:
        touched = store.clear_findings(check.name)
        refresh_verdicts(store, touched)  # before the check reads verdicts: none may rest on its own old findings
        seen: set[tuple[str, str]] = set()
        batch: dict[str, list[Finding]] = {}
        changed: set[str] = set()
        for item_id, finding in check.run(store, ctx):
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


def refresh_verdicts(store: CaseStore, item_ids: set[str]) -> None:
    """Decide again the verdicts of items whose findings changed."""
    verdicts = {}
    for item_id in sorted(item_ids):
        error, findings = store.item_evidence(item_id)
        verdicts[item_id] = verdict.decide(error, findings)
    store.set_verdicts(verdicts)
