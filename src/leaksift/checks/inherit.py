"""Proof that travels: the parts of a verified message, and identical copies of a verified item.

A DKIM body hash covers every byte of the body, so an attachment (and anything inside it) of a message whose
signature verifies over the whole body is proven with it. Bytes identical to a proven item are proven too,
wherever they lie. Neither holds for a header-only proof, or for a signature limited by l=.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext


def proves_whole_body(findings: list[dict]) -> dict | None:
    """The evidence of a DKIM proof that covers the whole body, if the item has one."""
    for f in findings:
        ev = f.get("evidence") or {}
        if f["check"] == "dkim" and f["effect"] == "proves" and ev.get("status") == "verified" \
                and not ev.get("length_limited"):
            return ev
    return None


class InheritCheck:
    name: ClassVar[str] = "inherit"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        proven: dict[str, str] = {}  # sha256 -> the item that proves it
        for item in store.verified_items():
            ev = proves_whole_body(item["findings"])
            if item["kind"] == "email" and ev is not None:
                proven.setdefault(item["sha256"], item["id"])
                for part in store.descendants(item["id"]):
                    if part["sha256"] and part["verdict"] != "unreadable":
                        yield part["id"], Finding(
                            "inherit", f"Part of a message whose DKIM signature ({ev.get('domain')}) covers its "
                                       f"whole body: these bytes are proven with it.",
                            "proves", {"message": item["id"], "domain": ev.get("domain"),
                                       "selector": ev.get("selector"), "path": part["path"]})
                        proven.setdefault(part["sha256"], item["id"])
            elif item["sha256"]:
                proven.setdefault(item["sha256"], item["id"])
        for sha256, origin in sorted(proven.items()):
            for copy in store.locations(sha256):
                if copy["id"] == origin or copy["verdict"] == "verified":
                    continue
                yield copy["id"], Finding(
                    "inherit", "Identical bytes (same SHA-256) to an item proven elsewhere in the case.",
                    "proves", {"proven_item": origin, "sha256": sha256})


CHECKS = [InheritCheck]
