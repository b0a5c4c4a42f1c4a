"""A folder whose documents were all last modified in one short window.

The MacronLeaks spreadsheets were all touched within four minutes by one editor. Genuine folders gather files saved
over days or years; a whole folder re-saved within minutes was processed in one go. Where the files were created
over more than a day but all modified within the window, that is a finding (weakens); where they were also created
together (a batch export, a conversion), it is info. Innocent explanations: a "save all", a batch conversion or
migration that re-saves every file, a script that stamps documents.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext
from .docdates import claims

MIN_FILES = 5
WINDOW = timedelta(minutes=10)
CREATED_SPREAD = timedelta(days=1)
METADATA_KEYS = ("core", "meta", "summary", "info")


def _latest(stamps: list) -> datetime | None:
    return max((s.when for s in stamps if s is not None), default=None)


class FolderWindowCheck:
    name: ClassVar[str] = "folderwindow"
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        folders: dict[str, dict[str, tuple[datetime, datetime | None]]] = defaultdict(dict)
        for key in METADATA_KEYS:
            for doc in store.items_with_metadata(key, emails=False):
                if doc["kind"] not in ("document", "attachment"):
                    continue
                c = claims(doc["metadata"])
                modified = _latest([m for _, m in c.pairs])
                created = min((cr.when for cr, _ in c.pairs if cr is not None), default=None)
                if modified is not None:
                    folder = doc["path"].rsplit("/", 1)[0] if "/" in doc["path"] else ""
                    folders[folder][doc["id"]] = (modified, created)
        for folder, docs in sorted(folders.items()):
            if len(docs) < MIN_FILES:
                continue
            times = sorted(m for m, _ in docs.values())
            span = times[-1] - times[0]
            if span > WINDOW:
                continue
            created = [c for _, c in docs.values() if c is not None]
            spread = (max(created) - min(created)) if created else timedelta(0)
            effect = "weakens" if spread > CREATED_SPREAD else "info"
            evidence = {"folder": folder or "/", "files": len(docs), "first": times[0].isoformat(),
                        "last": times[-1].isoformat(), "window_seconds": int(span.total_seconds()),
                        "created_spread_days": round(spread.total_seconds() / 86400, 1)}
            summary = (f"All {len(docs)} documents of folder {folder or '/'} were last modified within "
                       f"{max(int(span.total_seconds() // 60), 1)} minutes ({times[0]:%Y-%m-%d %H:%M} to "
                       f"{times[-1]:%H:%M} UTC)" + (", though they were created over "
                                                    f"{evidence['created_spread_days']} days." if effect == "weakens"
                                                    else "."))
            for item_id in sorted(docs):
                yield item_id, Finding("folderwindow", summary, effect, evidence)


CHECKS = [FolderWindowCheck]
