"""Build the sample leak: keys, documents, then every message filed in its owners' mailboxes."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import OrderedDict
from pathlib import Path

from .docs import DOCUMENTS, EXPORT, DocFactory, DocFile
from .keys import DkimKey, derive_keys, write_zone
from .mail import Delivered, Message, MailPlanner, deliver, render
from .mailboxes import NESTED_ZIP, MailboxWriter, delivery_time
from .manifest import (FAIL, NO_KEY, NONE, PASS, SENT, DocumentTruth, KeyInfo, MessageTruth,
                       SampleManifest)
from .people import person

MIN_DOCUMENTS = 12
_FAILS = ("body_altered", "extra_from")  # forgeries that break the signature


def build_sample(out_dir: Path, keys_out: Path | None = None, emails: int = 120, documents: int = 24,
                 seed: int = 2017) -> SampleManifest:
    """Write a fictional campaign leak under `out_dir` (which must be empty or absent).

    `keys_out`, when given, receives the DKIM keys as a BIND zone file; the leak itself holds no keys.
    The same arguments always give the same bytes.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if emails < 40 or documents < MIN_DOCUMENTS:
        raise ValueError(f"need emails >= 40 and documents >= {MIN_DOCUMENTS} to hold every fixed case")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; the sample is written into an empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = derive_keys(seed)
    if keys_out is not None:
        write_zone(Path(keys_out), keys, seed)

    factory = DocFactory(random.Random(f"leaksift-sample/{seed}/documents"), seed)
    docs = factory.fixed_documents()
    docs += [factory.extra_document(i) for i in range(documents - len(docs))]
    doc_truths = [_write_document(out_dir, d) for d in docs]

    attachments = DocFactory(random.Random(f"leaksift-sample/{seed}/attachments"), seed)
    fixed = {d.name: d for d in docs[:MIN_DOCUMENTS] if d.place == DOCUMENTS}
    planner = MailPlanner(random.Random(f"leaksift-sample/{seed}/mail"), attachments, emails, fixed)
    writer = MailboxWriter(out_dir)
    messages = _file_messages(planner, writer, keys)
    writer.close([d for d in docs if d.place == EXPORT], [d for d in docs if d.place not in (DOCUMENTS, EXPORT)])

    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    manifest = SampleManifest(
        out_dir=out_dir, seed=seed, keys_path=Path(keys_out) if keys_out else None,
        counts=_counts(writer, docs, messages), files=files, keys=[_key_info(k) for k in keys.values()],
        messages=messages, documents=doc_truths, archives=writer.archives,
        cases=_cases(planner, messages, doc_truths))
    manifest.build_seconds = round(time.perf_counter() - started, 3)
    return manifest


def _file_messages(planner: MailPlanner, writer: MailboxWriter, keys: dict[str, DkimKey]) -> list[MessageTruth]:
    truths: list[MessageTruth] = []
    ids: dict[int, str] = {}
    recent: OrderedDict[int, bytes] = OrderedDict()  # delivered bytes a later forward may attach
    for msg in planner.plan():
        ids[msg.index] = msg.message_id
        forwarded = recent[msg.forwarded] if msg.forwarded is not None else None
        submitted = render(msg, forwarded)
        delivered: Delivered | None = None
        truth = _message_truth(msg, ids)
        for owner_key, form in msg.owners:
            owner = person(owner_key)
            if form == SENT:
                raw, dkim, when = submitted, NONE, msg.when
            else:
                delivered = delivered or deliver(msg, submitted, keys, owner)
                raw, dkim, when = delivered.raw, _expected(msg, delivered), delivery_time(msg.when)
            ending = msg.details.get("line_ending")
            truth.locations.append(writer.add(owner, form, msg.message_id, msg.subject, msg.sender.email, raw,
                                              when, dkim, ending))
        if delivered is not None:
            _sign_truth(truth, msg, delivered)
            recent[msg.index] = delivered.raw
            if len(recent) > 400:
                recent.popitem(last=False)
        truths.append(truth)
    return truths


def _expected(msg: Message, delivered: Delivered) -> str:
    if delivered.dkim_key is None:
        return NONE
    if not delivered.dkim_key.spec.published:
        return NO_KEY
    return FAIL if any(t in _FAILS for t in msg.tampering) else PASS


def _message_truth(msg: Message, ids: dict[int, str]) -> MessageTruth:
    return MessageTruth(
        index=msg.index, message_id=msg.message_id, subject=msg.subject, sender=msg.sender.email,
        date=msg.date_header, kind=msg.kind, lang=msg.lang, dkim=NONE, tampering=list(msg.tampering),
        parent=ids.get(msg.parent) if msg.parent is not None else None,
        forwarded=ids.get(msg.forwarded) if msg.forwarded is not None else None,
        attachments=[{"filename": d.name, "mime": d.fmt, "sha256": d.sha256} for d in msg.attachments],
        details=dict(msg.details, case=msg.case) if msg.case else dict(msg.details))


def _sign_truth(truth: MessageTruth, msg: Message, delivered: Delivered) -> None:
    truth.dkim = _expected(msg, delivered)
    key = delivered.dkim_key
    if key is None:
        return
    truth.signed, truth.domain, truth.selector = True, key.domain, key.selector
    truth.algorithm, truth.key_bits = key.algorithm.decode(), key.spec.bits
    truth.canonicalization = b"/".join(msg.canon).decode()
    truth.timestamp, truth.expires = delivered.timestamp, delivered.expires


def _doc_path(d: DocFile) -> str:
    if d.place == DOCUMENTS:
        return f"documents/{d.folder}/{d.name}" if d.folder else f"documents/{d.name}"
    if d.place == EXPORT:
        return f"archives/export.tar.gz!export/documents/{d.name}"
    return f"archives/export.tar.gz!{NESTED_ZIP}!documents/{d.name}"


def _write_document(out_dir: Path, d: DocFile) -> DocumentTruth:
    path = _doc_path(d)
    if d.place == DOCUMENTS:
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(d.data)
    details = {k: v for k, v in d.truth.items() if k != "tampering"}
    return DocumentTruth(d.name, path, d.fmt, d.sha256, list(d.truth.get("tampering", [])), details=details)


def _key_info(k: DkimKey) -> KeyInfo:
    return KeyInfo(k.domain, k.selector, k.algorithm.decode(), k.spec.bits, k.spec.published, k.name, k.record,
                   k.spec.note)


def _counts(writer: MailboxWriter, docs: list[DocFile], messages: list[MessageTruth]) -> dict[str, int]:
    counts = dict(writer.written)
    for d in docs:
        counts[d.fmt] = counts.get(d.fmt, 0) + 1
    counts["documents"] = len(docs)
    counts["messages"] = len(messages)
    counts["message_copies"] = sum(len(m.locations) for m in messages)
    counts["signed"] = sum(m.signed for m in messages)
    counts["attachments"] = sum(len(m.attachments) for m in messages)
    return dict(sorted(counts.items()))


def _cases(planner: MailPlanner, messages: list[MessageTruth], docs: list[DocumentTruth]) -> dict[str, list[str]]:
    cases = {name: [m.message_id] for name, m in planner.by_case.items()}
    cases["shared_attachment"] = cases.pop("shared_attachment_1") + cases.pop("shared_attachment_2")
    cases["forwards"] = [m.message_id for m in messages if m.forwarded]
    cases["weak_key"] = [m.message_id for m in messages if m.signed and (m.key_bits or 0) < 2048
                         and m.algorithm == "rsa-sha256"]
    cases["no_key"] = [m.message_id for m in messages if m.dkim == NO_KEY]
    cases["expiring"] = [m.message_id for m in messages if m.expires]
    cases["several_copies"] = [m.message_id for m in messages if len(m.locations) > 1]
    cases["sent_only"] = [m.message_id for m in messages if all(loc.form == SENT for loc in m.locations)]
    cases["tampered"] = [m.message_id for m in messages if m.tampering]
    by_name: dict[str, list[str]] = {}
    for d in docs:
        by_name.setdefault(d.name, []).append(d.path)
    cases["doctored_docx"] = by_name["budget_previsionnel_v3.docx"]
    cases["incremental_pdf"] = by_name["note_virement_offshore.pdf"]
    cases["edited_photo"] = by_name["meeting_lyon_retouche.jpg"]
    for d in docs:
        if "doctored_copy" in d.tampering:
            d.doctored_of = next(p for p in by_name[d.name] if p != d.path)
    return cases


def file_digest(path: Path) -> str:
    """SHA-256 of a file (for determinism checks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digests(out_dir: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under a folder."""
    return {os.path.relpath(p, out_dir): file_digest(p) for p in sorted(Path(out_dir).rglob("*")) if p.is_file()}
