"""Checks: one module per family of evidence, each producing findings about items."""

from __future__ import annotations

import importlib

from ..model import Finding, ItemRecord
from .base import CheckContext, ItemCheck
from .neardup import text_signature

# Item checks, in the order they run; each module exposes CHECKS, a list of check classes.
ITEM_CHECK_MODULES: tuple[str, ...] = (
    "leaksift.checks.dkim",
    "leaksift.checks.arc",
    "leaksift.checks.headers",
    "leaksift.checks.zipdates",
    "leaksift.checks.pdfrev",
    "leaksift.checks.docdates",
    "leaksift.checks.oletimes",
    "leaksift.checks.imageedit",
)


def default_item_checks() -> list[ItemCheck]:
    checks: list[ItemCheck] = []
    for modname in ITEM_CHECK_MODULES:
        module = importlib.import_module(modname)
        checks.extend(cls() for cls in module.CHECKS)
    return checks


def run_item_checks(rec: ItemRecord, checks: list[ItemCheck], ctx: CheckContext) -> ItemRecord:
    """Add every applicable check's findings to the item; a check that breaks is a finding, not a crash."""
    for check in checks:
        if not check.applies(rec):
            continue
        try:
            rec.findings.extend(check.run(rec, ctx))
        except Exception as e:  # noqa: BLE001 - hostile input must not stop the scan; the failure is reported
            rec.findings.append(Finding(
                check=check.name, effect="info",
                summary=f"The {check.name} check could not be completed on this item.",
                evidence={"error": f"{type(e).__name__}: {e}"[:1000]}))
    if checks and rec.text and rec.sha256:  # for the case phase: made here, where items are read in parallel
        rec.minhash = text_signature(rec.text)
    return rec


__all__ = ["CheckContext", "ItemCheck", "default_item_checks", "run_item_checks"]
