"""The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched).

Counts come aggregated from the store; flagged items are streamed into the page one at a time, so a case of any
size renders in bounded memory. Everything from the case goes through Jinja's autoescape.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TextIO

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .. import __version__
from ..model import KINDS, VERDICTS
from ..store.base import CaseStore
from . import charts, method

FLAGGED = ("tampered", "suspicious")
EFFECT_ORDER = {"contradicts": 0, "weakens": 1, "proves": 2, "supports": 3, "info": 4}
MAX_EVIDENCE_CHARS = 4000
MAX_HUNK_CHARS = 600
MAX_OTHER_LOCATIONS = 20


def environment() -> Environment:
    return Environment(loader=PackageLoader("leaksift.report", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def write_report(store: CaseStore, out: TextIO) -> int:
    """Write the report page; returns how many flagged items it lists."""
    ctx = report_context(store)
    counter = _Counter()
    ctx["flagged_items"] = counter.wrap(flagged_items(store))
    for chunk in environment().get_template("report.html").generate(**ctx):
        out.write(chunk)
    return counter.n


def render_report(store: CaseStore, path: Path) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        return write_report(store, fh)


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def wrap(self, items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            self.n += 1
            yield item


def report_context(store: CaseStore) -> dict[str, Any]:
    """Everything on the page except the flagged items: aggregates only."""
    summary = store.summary()
    finding_counts = store.finding_counts()
    domains = store.dkim_domain_rates()
    kv = charts.pivot(store.kind_verdict_counts(), "kind")
    kinds = [k for k in KINDS if k in dict(kv)] + sorted(set(dict(kv)) - set(KINDS))
    return {
        "version": __version__,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dump_root": store.get_meta("dump_root"),
        "leaked_at": store.get_meta("leaked_at"),
        "summary": summary,
        "verdicts": VERDICTS,
        "verdict_colors": charts.VERDICT_COLORS,
        "kinds": kinds,
        "kind_verdict": dict(kv),
        "proofs": [r for r in finding_counts if r["effect"] == "proves"],
        "flags": sorted((r for r in finding_counts if r["effect"] in ("contradicts", "weakens")),
                        key=lambda r: (EFFECT_ORDER[r["effect"]], -r["items"], r["check"])),
        "domains": domains,
        "check_titles": {c.name: c.title for c in method.CHECKS},
        "timeline_svg": Markup(charts.timeline(charts.pivot(store.messages_per_day(), "day"))),
        "folders_svg": Markup(charts.stacked_rows(charts.pivot(store.verdicts_by_folder(), "folder"),
                                                  "Verdicts per custodian folder")),
        "domains_svg": Markup(charts.rate_bars(
            [charts.RateRow(d["domain"], d["proven"], d["signed"],
                            f"{d['verified']} verify" + (f", {d['no_key']} without key" if d["no_key"] else ""))
             for d in domains], "DKIM signing domains: messages proven of messages signed")),
        "method": method,
    }


def flagged_items(store: CaseStore) -> Iterator[dict[str, Any]]:
    """Tampered then suspicious items, each with its findings (decisive first), diffs and provenance."""
    for item in store.items_by_verdict(FLAGGED):
        item["findings"] = sorted((_finding(f) for f in item["findings"]),
                                  key=lambda f: EFFECT_ORDER.get(f["effect"], 9))
        item["ancestors"] = store.ancestors(item["id"])
        others = [loc for loc in store.locations(item["sha256"]) if loc["id"] != item["id"]] if item["sha256"] else []
        item["other_locations"] = others[:MAX_OTHER_LOCATIONS]
        item["more_locations"] = max(0, len(others) - MAX_OTHER_LOCATIONS)
        yield item


def _finding(f: dict[str, Any]) -> dict[str, Any]:
    evidence = f.get("evidence") or {}
    text = json.dumps(evidence, ensure_ascii=False, indent=1, sort_keys=True, default=str)
    labels, hunks = diff_hunks(f["check"], evidence)
    return {**f, "diff_labels": labels, "hunks": hunks,
            "evidence_json": text[:MAX_EVIDENCE_CHARS] + (" …" if len(text) > MAX_EVIDENCE_CHARS else "")}


def _cut(value: Any) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= MAX_HUNK_CHARS else s[:MAX_HUNK_CHARS] + "…"


def diff_hunks(check: str, evidence: dict[str, Any]) -> tuple[tuple[str, str], list[dict[str, str]]]:
    """The word changes a finding carries as (old, new) pairs, with what old and new are."""
    if check == "pdfrev" and isinstance(evidence.get("diff"), list):
        labels = (f"revision {evidence.get('old_revision', '?')}", f"revision {evidence.get('new_revision', '?')}")
        return labels, [{"old": _cut(h.get("old")), "new": _cut(h.get("new"))}
                        for h in evidence["diff"] if isinstance(h, dict)]
    if check == "threads" and isinstance(evidence.get("changes"), list):
        return ("parent", "quote in the reply"), [{"old": _cut(h.get("parent")), "new": _cut(h.get("quoted"))}
                                                 for h in evidence["changes"] if isinstance(h, dict)]
    if check == "neardup" and isinstance(evidence.get("changes"), list):
        flip = evidence.get("verified") is not None and evidence.get("verified") == evidence.get("b")
        old, new = ("b", "a") if flip else ("a", "b")
        labels = ("verified copy", "other copy") if evidence.get("verified") else ("one copy", "the other")
        return labels, [{"old": _cut(h.get(old)), "new": _cut(h.get(new))}
                        for h in evidence["changes"] if isinstance(h, dict)]
    return ("", ""), []
