"""Walk one source of a dump and turn it into ItemRecords, recursing into containers.

Children are emitted before their container (the container's counters are only
known once it has been read). Every failure becomes an error on one item.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..model import ItemRecord
from .base import (TOO_DEEP, Blob, Budget, Child, Context, FileBlob, IngestError, Limits, Parsed,
                   sha256_of)
from .registry import Registry
from .sniff import ARCHIVES, EMAILS, MAILBOXES, OCTET, sniff

ATTACHMENT_PARENTS = ("email",)


def item_id(parent: str | None, ordinal: int, name: str) -> str:
    """Stable id of one location: the same dump always gives the same ids."""
    h = hashlib.sha256(f"{parent or ''}\x00{ordinal}\x00{name}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def display_name(name: str) -> str:
    """A printable, valid UTF-8 form of a name that may carry undecodable bytes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def decide_kind(mime: str, parsed_kind: str | None, hint: str | None, parent_kind: str | None) -> str:
    if parsed_kind:
        return parsed_kind
    if hint == "email" or mime in EMAILS:
        return "email"
    if mime in ARCHIVES or mime in MAILBOXES:
        return "archive"
    if parent_kind in ATTACHMENT_PARENTS:
        return "attachment"
    if mime in (OCTET, "application/x-empty", "application/x-ole-storage") or mime.startswith(("audio/", "video/")):
        return "other"
    return "document"


@dataclass
class Engine:
    registry: Registry
    limits: Limits
    tmp_dir: Path | None = None

    def ingest_file(self, root: Path, relpath: str) -> Iterator[ItemRecord]:
        """All items of one top-level file of the dump, the file itself last."""
        path = root / relpath if relpath else root
        blob = FileBlob(path)
        budget = Budget(max(self.limits.expansion_floor, self.limits.max_ratio * blob.size))
        name = display_name(relpath or path.name)
        yield from self._item(blob, Child(name=name, blob=blob), path=name, parent=None,
                              parent_kind=None, source=name, ordinal=0, depth=0, budget=budget)

    def _item(self, blob: Blob | None, child: Child, path: str, parent: str | None, parent_kind: str | None,
              source: str, ordinal: int, depth: int, budget: Budget) -> Iterator[ItemRecord]:
        iid = item_id(parent, ordinal, child.name)
        rec = ItemRecord(id=iid, path=path, parent=parent, source=source, depth=depth, kind="other",
                         mime=OCTET, sha256=None, size=child.size, transforms=list(child.transforms))
        if child.metadata:
            rec.metadata["container"] = child.metadata
        if blob is None:
            err = child.error or IngestError("unreadable")
            rec.error_reason, rec.error = err.reason, str(err)
            rec.kind = decide_kind(OCTET, None, child.kind, parent_kind)
            if rec.kind == "other" and parent_kind == "email":
                rec.kind = "attachment"
            yield rec
            return
        try:
            rec.size = blob.size
            rec.sha256 = sha256_of(blob)
            rec.mime = sniff(blob, child.name)
            if child.kind == "email" and rec.mime in ("text/plain", OCTET):
                rec.mime = "message/rfc822"
        except OSError as e:
            rec.error_reason, rec.error = "io_error", f"io_error: {e}"
            yield rec
            return
        parsed = Parsed()
        reader = self.registry.reader_for(rec.mime)
        kind_now = decide_kind(rec.mime, None, child.kind, parent_kind)
        if reader is not None:
            rec.is_container = reader.container
            ctx = Context(limits=self.limits, out=parsed, budget=budget, tmp_dir=self.tmp_dir,
                          depth=depth, name=child.name)
            try:
                if reader.container and depth >= self.limits.max_depth:
                    raise IngestError(TOO_DEEP, f"container nested {depth} levels deep")
                for n, sub in enumerate(reader.read(blob, ctx), start=1):
                    if n > self.limits.max_children:
                        raise IngestError("too_many_children", f"over {self.limits.max_children} items")
                    sub_path = f"{path}/{display_name(sub.name)}"
                    for out in self._item(sub.blob, sub, sub_path, iid, parsed.kind or kind_now, source,
                                          n, depth + 1, budget):
                        if out.parent == iid:
                            if out.error:
                                rec.children_failed += 1
                            else:
                                rec.children_emitted += 1
                        yield out
                    if sub.blob is not None and sub.blob is not blob:
                        sub.blob.close()
            except IngestError as e:
                rec.error_reason, rec.error = e.reason, str(e)
            except RecursionError:
                rec.error_reason, rec.error = TOO_DEEP, "too_deep: structure nested beyond the parser's limit"
            except MemoryError:
                rec.error_reason, rec.error = "too_large", "too_large: out of memory while reading"
            except Exception as e:  # noqa: BLE001 - hostile input: any parser failure is this item's error
                rec.error_reason, rec.error = "parse_error", f"parse_error: {type(e).__name__}: {e}"[:2000]
        rec.text = parsed.text
        rec.metadata.update(parsed.metadata)
        rec.email = parsed.email
        rec.transforms += [t for t in parsed.transforms if t not in rec.transforms]
        if rec.is_container:
            rec.children_expected = parsed.children_expected
            if rec.children_expected is None and not rec.error:
                rec.children_expected = rec.children_emitted + rec.children_failed
        rec.kind = decide_kind(rec.mime, parsed.kind, child.kind, parent_kind)
        if rec.kind == "email" and rec.size is not None and rec.size <= self.limits.max_raw_email_bytes:
            rec.raw = blob.read_all(self.limits.max_raw_email_bytes)
        yield rec
