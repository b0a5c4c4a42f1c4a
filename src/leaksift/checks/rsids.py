"""Common origin of Word documents: revision-save ids (rsids) shared between different files.

Word gives every editing session a random 32-bit id and keeps the ids of past sessions in settings.xml. Two
different documents that share the root id, or several session ids, were edited from a common file. This is info,
not a verdict: templates and copied-and-edited files share rsids innocently; it is how a reader finds a
document's relatives (a "new" memo that is really last year's memo edited, a fake built on a genuine file).
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

MIN_SHARED = 3  # session ids in common, besides the root, to call two files relatives
MAX_GROUP = 50  # an id in more files than this is a template's, and says little about any pair


class RsidCheck:
    name: ClassVar[str] = "rsids"
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        roots: dict[str, list[dict]] = defaultdict(list)
        by_rsid: dict[str, list[str]] = defaultdict(list)
        docs: dict[str, dict] = {}
        for doc in store.items_with_metadata("rsids", emails=False):
            meta = doc["metadata"]
            if doc["sha256"] in docs:
                continue  # the same bytes elsewhere are copies, not relatives
            docs[doc["sha256"]] = doc
            if meta.get("rsid_root"):
                roots[str(meta["rsid_root"])].append(doc)
            for rsid in set(map(str, meta.get("rsids") or [])) - {str(meta.get("rsid_root"))}:
                by_rsid[rsid].append(doc["sha256"])
        shared: dict[tuple[str, str], int] = defaultdict(int)
        for members in by_rsid.values():
            if 1 < len(members) <= MAX_GROUP:
                for i, a in enumerate(sorted(members)):
                    for b in sorted(members)[i + 1:]:
                        shared[(a, b)] += 1
        for root, group in sorted(roots.items()):
            if 1 < len(group) <= MAX_GROUP:
                for doc in group:
                    others = [o["path"] for o in group if o is not doc]
                    yield doc["id"], Finding(
                        "rsids", f"Shares its Word root session id {root} with {len(others)} other document(s): "
                                 f"they began as the same file.",
                        "info", {"rsid_root": root, "relatives": others[:20]})
        for (a, b), n in sorted(shared.items()):
            if n < MIN_SHARED:
                continue
            da, db = docs[a], docs[b]
            for this, other in ((da, db), (db, da)):
                yield this["id"], Finding(
                    "rsids", f"Shares {n} Word editing-session ids with {other['path']}: the two were edited from "
                             f"a common file.",
                    "info", {"shared_sessions": n, "relative": other["path"], "relative_id": other["id"]})


CHECKS = [RsidCheck]
