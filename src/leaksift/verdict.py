"""Findings -> one verdict per item, by the rules in docs/verdicts.md."""

from __future__ import annotations

from .model import Finding, ItemRecord


def decide(error: str | None, findings: list[Finding]) -> str:
    """The verdict an item's evidence supports, and no more.

    Until the email and document checks exist, an item is `unreadable` when it could not be read
    and `consistent` otherwise: nothing yet proves or contradicts it.
    """
    return decide_effects(error, {f.effect for f in findings})


def decide_effects(error: str | None, effects: set[str]) -> str:
    """decide() on what it reads of the findings: their effects."""
    if error:
        return "unreadable"
    if "contradicts" in effects:
        return "tampered"
    if "weakens" in effects:
        return "suspicious"
    if "proves" in effects:
        return "verified"
    return "consistent"


def apply(rec: ItemRecord) -> ItemRecord:
    rec.verdict = decide(rec.error, rec.findings)
    return rec
