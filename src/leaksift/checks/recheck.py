"""Run the item checks again on emails already in the case: after new keys arrive (`leaksift keys import`,
or DNS answers with `--dns`), an unverifiable signature may now be checked. The raw bytes are in the case, so
the dump is not read again.
"""

from __future__ import annotations

from typing import Any, Callable

from ..keys import KeyRecord, fetch_dns
from ..model import EmailFields, ItemRecord
from ..store.base import CaseStore
from . import default_item_checks, run_item_checks
from .base import CheckContext
from .case import refresh_verdicts

UNVERIFIED = ("no_key", "key_unusable")


def record_from_store(store: CaseStore, d: dict[str, Any]) -> ItemRecord:
    """An ItemRecord as ingest made it, rebuilt from the case."""
    email = EmailFields(from_=d.get("from_display"), from_addr=d.get("from_addr"), to=d.get("to_addrs") or [],
                        cc=d.get("cc_addrs") or [], date=d.get("date"), date_raw=d.get("date_raw"),
                        subject=d.get("subject"), message_id=d.get("message_id"),
                        in_reply_to=d.get("in_reply_to"), references=d.get("refs") or [])
    return ItemRecord(id=d["id"], path=d["path"], parent=d["parent"], source=d["source"], depth=d["depth"],
                      kind=d["kind"], mime=d["mime"], sha256=d["sha256"], size=d["size"], text=d.get("text"),
                      metadata=d.get("metadata") or {}, email=email if d["kind"] == "email" else None,
                      raw=store.raw(d["sha256"]) if d["sha256"] else None, transforms=d.get("transforms") or [],
                      error_reason=d["error_reason"], error=d["error"])


def unverified_signatures(store: CaseStore) -> dict[tuple[str, str], list[str]]:
    """(selector, domain) of signatures that had no usable key, with the items that carry them."""
    out: dict[tuple[str, str], list[str]] = {}
    for item_id, ev in store.findings_of("dkim"):
        if ev.get("status") in UNVERIFIED and ev.get("selector") and ev.get("domain"):
            out.setdefault((str(ev["selector"]), str(ev["domain"])), []).append(item_id)
    return out


def fetch_missing_keys(store: CaseStore, lookup: Callable[[str, str], list[KeyRecord]] = fetch_dns) -> int:
    """Ask DNS (only when the user said --dns) for the keys of unverifiable signatures; keep the answers."""
    found: list[KeyRecord] = []
    for selector, domain in sorted(unverified_signatures(store)):
        try:
            found += lookup(selector, domain)
        except OSError:
            continue  # no answer says nothing about the key: the signature stays unverifiable
    return store.add_keys(found)


def recheck(store: CaseStore, ctx: CheckContext, item_ids: list[str]) -> int:
    """Replace the item-check findings of these items and update their verdicts; returns items rechecked."""
    checks = default_item_checks()
    names = [c.name for c in checks]
    done = 0
    for item_id in item_ids:
        d = store.item(item_id)
        if d is None:
            continue
        rec = run_item_checks(record_from_store(store, d), checks, ctx)
        store.replace_findings(item_id, names, rec.findings)
        done += 1
    refresh_verdicts(store, set(item_ids))
    return done
