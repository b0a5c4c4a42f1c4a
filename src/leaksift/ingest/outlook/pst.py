"""Reader of an Outlook mail store (.pst/.ost), through pypff: every message, rebuilt as RFC 822."""

from __future__ import annotations

import re
import struct
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Iterator

import pypff

from .. import sniff
from ..base import CORRUPT, TOO_DEEP, TRUNCATED, Blob, Child, Context, IngestError
from ..support.names import UniqueNames
from ..support.transfer import ChunkStream
from .mapi import PFF_ERRORS, RESTORED, mapi_metadata, pff_message, pff_props
from .rebuild import RebuildLog, attachment_count, rfc822_chunks

MAX_FOLDER_DEPTH = 64
MAX_FOLDERS = 100_000
MAX_TREE_ENTRIES = 1_000  # folders listed in the pst's metadata

_PST_FORMATS = {b"SM": "pst", b"SO": "ost", b"AB": "pab"}
_PST_VERSIONS = {14: "ansi", 15: "ansi", 23: "unicode", 36: "unicode_4k"}
_PST_ENCRYPTION = {0: "none", 1: "compressible", 2: "high"}


def pst_header(head: bytes, size: int) -> dict[str, Any]:
    """What the pst header says of itself: format, variant and the size it should have."""
    if len(head) < 200 or not head.startswith(b"!BDN"):
        return {}
    version = struct.unpack_from("<H", head, 10)[0]
    info: dict[str, Any] = {"format": _PST_FORMATS.get(head[8:10], head[8:10].hex()),
                            "variant": _PST_VERSIONS.get(version, f"version {version}"), "version": version}
    if version in (23, 36):
        info["declared_size"] = struct.unpack_from("<Q", head, 184)[0]
    elif version in (14, 15):
        info["declared_size"] = struct.unpack_from("<I", head, 168)[0]
    if info.get("declared_size", 0) > size:
        info["truncated"] = True
    return info


@dataclass
class _Folder:
    path: str
    folder: Any
    messages: int
    subfolders: int


class PstReader:
    """An Outlook mail store (.pst/.ost): every message, rebuilt as an RFC 822 message with its attachments."""

    name = "outlook_pst"
    mimes = frozenset({sniff.PST})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        header = pst_header(blob.head(512), blob.size)
        with ExitStack() as stack:
            fh = stack.enter_context(blob.open())
            pff = pypff.file()
            try:
                pff.open_file_object(fh)
            except PFF_ERRORS as e:
                reason = TRUNCATED if header.get("truncated") else CORRUPT
                raise IngestError(reason, f"pypff: {pff_message(e)}") from None
            stack.callback(pff.close)
            yield from _read_pst(pff, header, blob.size, ctx)


def _read_pst(pff: Any, header: dict[str, Any], size: int, ctx: Context) -> Iterator[Child]:
    meta: dict[str, Any] = {"size": size, **header}
    meta.update(_pff_file_facts(pff))
    try:
        root = pff.get_root_folder()
    except PFF_ERRORS as e:
        raise IngestError(CORRUPT, f"no root folder: {pff_message(e)}") from None
    folders, problems = _walk_folders(root)
    ctx.out.children_expected = sum(f.messages for f in folders)
    meta["folders"] = len(folders)
    meta["folder_tree"] = [{"path": f.path or "/", "messages": f.messages, "subfolders": f.subfolders}
                           for f in folders[:MAX_TREE_ENTRIES]]
    if problems:
        meta["folder_problems"] = problems[:100]
    ctx.out.metadata.update(meta)
    for folder in folders:
        for i in range(folder.messages):
            name = f"{folder.path}/{i + 1}" if folder.path else str(i + 1)
            yield _pst_message_child(folder, i, name, ctx)
    if problems:
        reason = TOO_DEEP if all(p.startswith("too deep") for p in problems) else CORRUPT
        raise IngestError(reason, f"{len(problems)} folder problem(s), first: {problems[0]}")


def _pff_file_facts(pff: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key, getter in (("encryption", "get_encryption_type"), ("ascii_codepage", "get_ascii_codepage"),
                        ("orphan_items", "get_number_of_orphan_items"), ("content_type", "get_content_type")):
        try:
            facts[key] = getattr(pff, getter)()
        except PFF_ERRORS:
            continue
    if isinstance(facts.get("ascii_codepage"), bytes):
        facts["ascii_codepage"] = facts["ascii_codepage"].decode("ascii", "replace")
    if isinstance(facts.get("encryption"), int):
        facts["encryption"] = _PST_ENCRYPTION.get(facts["encryption"], str(facts["encryption"]))
    if isinstance(facts.get("content_type"), int):
        facts["content_type"] = chr(facts["content_type"])  # libpff: 'p' pst, 'o' ost, 'a' pab
    return facts


def _walk_folders(root: Any) -> tuple[list[_Folder], list[str]]:
    """Every folder, depth first in stored order, with an explicit stack, a depth cap and a loop guard."""
    found: list[_Folder] = []
    problems: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", root, 0)]
    while stack:
        path, folder, depth = stack.pop()
        ident = _identifier(folder)
        if ident is not None and ident in seen:
            problems.append(f"folder loop at {path or '/'}")
            continue
        if ident is not None:
            seen.add(ident)
        try:
            messages, subfolders = folder.number_of_sub_messages, folder.number_of_sub_folders
        except PFF_ERRORS as e:
            problems.append(f"folder {path or '/'} unreadable: {pff_message(e)}")
            continue
        found.append(_Folder(path, folder, messages, subfolders))
        if len(found) >= MAX_FOLDERS:
            problems.append(f"more than {MAX_FOLDERS} folders")
            break
        if subfolders and depth >= MAX_FOLDER_DEPTH:
            problems.append(f"too deep: subfolders of {path} below depth {MAX_FOLDER_DEPTH} not read")
            continue
        stack.extend(reversed(_subfolders(folder, path, subfolders, depth, problems)))
    return found, problems


def _subfolders(folder: Any, path: str, count: int, depth: int, problems: list[str]) -> list[tuple[str, Any, int]]:
    names = UniqueNames()
    subs = []
    for i in range(count):
        try:
            sub = folder.get_sub_folder(i)
            raw = sub.name
        except PFF_ERRORS as e:
            problems.append(f"subfolder {i + 1} of {path or '/'} unreadable: {pff_message(e)}")
            continue
        name = names.take(folder_name(raw))
        subs.append((f"{path}/{name}" if path else name, sub, depth + 1))
    return subs


def folder_name(raw: str | bytes | None) -> str:
    """A folder name as one path component: decoded, with "/" as "∕" (U+2215) so it does not split."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    name = re.sub(r"[\x00-\x1f\x7f]", "", raw or "").replace("/", "∕").strip()
    return name or "(unnamed)"


def _identifier(item: Any) -> int | None:
    try:
        return item.identifier
    except PFF_ERRORS:
        return None


def _pst_message_child(folder: _Folder, index: int, name: str, ctx: Context) -> Child:
    try:
        message = folder.folder.get_sub_message(index)
    except PFF_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"message unreadable: {pff_message(e)}"), kind="email",
                     metadata={"folder": folder.path})
    props = pff_props(message)
    meta: dict[str, Any] = {"folder": folder.path, "identifier": _identifier(message)}
    try:
        meta.update(mapi_metadata(props))
        meta["attachments"] = attachment_count(message, RebuildLog())
        log = RebuildLog()
        stream = ChunkStream(rfc822_chunks(message, props, log))
        blob = ctx.blob_from_stream(stream)
    except IngestError as e:
        return Child(name, error=e, kind="email", size=meta.get("message_size"), metadata=meta)
    except PFF_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"message unreadable: {pff_message(e)}"), kind="email",
                     size=meta.get("message_size"), metadata=meta)
    if log.problems:
        meta["rebuild_problems"] = log.problems[:100]
    meta["headers_from"] = "mapi" if log.synthesised_headers else "transport"
    return Child(name, blob=blob, kind="email", transforms=[RESTORED], metadata=meta)
