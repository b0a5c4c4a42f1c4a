"""Domain signing baseline: where a domain signs (nearly) all of its delivered mail in this case, a delivered
message that claims that domain but carries no valid signature stands out.

Only delivered copies count (they have Received headers): a sender's own Sent-folder copy never passed the
outgoing server that signs, so it is unsigned in every genuine leak. Innocent explanations (docs/verdicts.md):
a domain that began signing during the period, mail sent through another provider, a relay that broke the
signature (the DKIM findings then say so).
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

MIN_MESSAGES = 10  # too few messages say nothing about a habit
MIN_RATE = 0.9


def _domain(addr: str | None) -> str | None:
    if not addr or "@" not in addr:
        return None
    return addr.rsplit("@", 1)[1].strip().lower().rstrip(">") or None


def _signed_by(findings: list[dict], domain: str) -> bool:
    for f in findings:
        d = str((f.get("evidence") or {}).get("domain") or "").lower()
        if f["check"] == "dkim" and f["effect"] == "proves" and (d == domain or domain.endswith("." + d)):
            return True
    return False


class BaselineCheck:
    name: ClassVar[str] = "baseline"
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        total: Counter[str] = Counter()
        signed: Counter[str] = Counter()
        for msg in store.delivered_emails():
            dom = _domain(msg["from_addr"])
            if dom:
                total[dom] += 1
                signed[dom] += _signed_by(msg["findings"], dom)
        habits = {d: signed[d] / n for d, n in total.items() if n >= MIN_MESSAGES and signed[d] / n >= MIN_RATE}
        if not habits:
            return
        for msg in store.delivered_emails():
            dom = _domain(msg["from_addr"])
            if dom in habits and not _signed_by(msg["findings"], dom):
                yield msg["id"], Finding(
                    "baseline", f"{dom} signs {habits[dom]:.0%} of its {total[dom]} delivered messages in this "
                                f"case, but this one claims {dom} and has no valid signature from it.",
                    "weakens", {"domain": dom, "delivered": total[dom], "signed": signed[dom],
                                "rate": round(habits[dom], 3)})


CHECKS = [BaselineCheck]
