"""Reader of a single Outlook message (.msg, an OLE compound file), through extract-msg."""

from __future__ import annotations

import io
import struct
from contextlib import ExitStack
from typing import Any, Iterator

import extract_msg
from extract_msg.enums import ErrorBehavior
from extract_msg.exceptions import ExMsgBaseException, InvalidFileFormatError
from extract_msg.msg_classes import MSGFile
from olefile.olefile import OleFileError

from .. import sniff
from ..base import CORRUPT, ENCRYPTED, UNSUPPORTED, Blob, Child, Context, IngestError
from ..support.html import html_to_text
from ..support.names import UniqueNames
from ..support.rtf import rtf_to_text
from .body import decode_html, decompress_rtf
from .fields import MAX_HEADER_FIELDS, HeaderBlock, email_fields, header_pairs, split_header_fields
from .mapi import (ATTACHMENT_PROPERTIES, PR_BODY, PR_HTML, PR_INTERNET_CPID, PR_MESSAGE_CLASS, PR_RTF_COMPRESSED,
                   PR_TRANSPORT_MESSAGE_HEADERS, RESTORED, MsgProps, Recipient, attachment_name, mapi_metadata,
                   msg_props, property_values, recipient_from)

REEXPORTED = "msg_reexported"  # an embedded .msg rewritten as a standalone OLE file by extract-msg
REFERENCE_ONLY = "reference_only"  # a linked attachment: the file itself is not in the message

# extract-msg: keep going past broken attachments and standard violations; we report them ourselves.
_MSG_BEHAVIOUR = (ErrorBehavior.ATTACH_SUPPRESS_ALL | ErrorBehavior.RTFDE | ErrorBehavior.STANDARDS_VIOLATION
                  | ErrorBehavior.NAMED_NAME_STREAM)
# What extract-msg and olefile raise on a damaged file (olefile.OleFileError is an OSError).
_MSG_ERRORS = (ExMsgBaseException, OSError, ValueError, KeyError, IndexError, TypeError, struct.error,
               AttributeError, EOFError)


_OID_ENVELOPED = bytes.fromhex("06092a864886f70d010703")
_OID_AUTH_ENVELOPED = bytes.fromhex("060b2a864886f70d0109100117")
_OID_SIGNED = bytes.fromhex("06092a864886f70d010702")


def smime_kind(message_class: str | None, attachment_mime: str | None, attachment_head: bytes) -> str | None:
    """What S/MIME (or rights management) did to a message, from its class and its single attachment."""
    cls = (message_class or "").lower()
    if ".rpmsg" in cls:
        return "rights_protected"
    if not cls.startswith(("ipm.note.smime", "ipm.note.secure")):
        return None
    if cls.endswith("multipartsigned") or (attachment_mime or "").lower() == "multipart/signed":
        return "multipart_signed"
    if _OID_ENVELOPED in attachment_head or _OID_AUTH_ENVELOPED in attachment_head:
        return "encrypted"
    if _OID_SIGNED in attachment_head:
        return "opaque_signed"
    return "smime"


class MsgReader:
    """A single Outlook message (.msg): fields, MAPI metadata, body text and attachments."""

    name = "outlook_msg"
    mimes = frozenset({sniff.MSG})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with ExitStack() as stack:
            source: Any = str(blob.path) if blob.path is not None else stack.enter_context(blob.open())
            msg = _open_msg(source)
            stack.callback(msg.close)
            yield from _read_msg(msg, ctx)


def _open_msg(source: Any) -> Any:
    options = {"delayAttachments": True, "errorBehavior": _MSG_BEHAVIOUR}
    try:
        return extract_msg.openMsg(source, strict=False, **options)
    except InvalidFileFormatError as e:
        raise IngestError(CORRUPT, f"not an Outlook message: {e}") from None
    except OleFileError as e:
        raise IngestError(CORRUPT, f"unreadable OLE structure: {e}") from None
    except _MSG_ERRORS as e:
        first = e  # e.g. a damaged message class: the generic class still reads every property
    try:
        return MSGFile(source, **options)
    except _MSG_ERRORS:
        raise IngestError(CORRUPT, f"unreadable MSG structure: {type(first).__name__}: {first}") from None


def _read_msg(msg: Any, ctx: Context) -> Iterator[Child]:
    out = ctx.out
    out.kind = "email"
    out.transforms.append(RESTORED)
    try:
        props = msg_props(msg)
        out.children_expected = msg.props.attachmentCount
        headers_text = props.string(PR_TRANSPORT_MESSAGE_HEADERS)
        block = split_header_fields(headers_text) if headers_text else None
        meta: dict[str, Any] = {"body_source": "outlook", "mapi": mapi_metadata(props)}
        if block is not None:
            meta["headers"] = header_pairs(block)
            _note_header_damage(meta, block)
        out.metadata.update(meta)
        out.email = email_fields(block, props, _msg_recipients(msg, props))
        _msg_text(props, ctx)
    except _MSG_ERRORS as e:
        raise IngestError(CORRUPT, f"unreadable message properties: {type(e).__name__}: {e}") from None
    yield from _msg_attachments(msg, props, ctx)


def _note_header_damage(meta: dict[str, Any], block: HeaderBlock) -> None:
    if block.dropped_lines:
        meta["headers_dropped_lines"] = block.dropped_lines
    if block.text_after_blank:
        meta["headers_text_after_blank_line"] = True
    if len(block.fields) > MAX_HEADER_FIELDS:
        meta["headers_truncated_at"] = MAX_HEADER_FIELDS


def _msg_recipients(msg: Any, props: MsgProps) -> list[Recipient]:
    try:
        return [recipient_from(props.child(r)) for r in getattr(msg, "recipients", None) or []]
    except _MSG_ERRORS:
        return []


def _msg_text(props: MsgProps, ctx: Context) -> None:
    """Plain body; else HTML as text; else the compressed RTF body, decompressed and stripped."""
    formats = []
    plain = props.string(PR_BODY)
    html = props.binary(PR_HTML)
    html_str = props.string(PR_HTML) if html is None else None
    rtf = props.binary(PR_RTF_COMPRESSED)
    for label, value in (("plain", plain), ("html", html or html_str), ("rtf", rtf)):
        if value:
            formats.append(label)
    ctx.out.metadata["body_formats"] = formats
    text: str | None = None
    if plain:
        text = plain
    elif html is not None or html_str:
        text = html_to_text(html_str if html is None else decode_html(html, props.integer(PR_INTERNET_CPID)))
    elif rtf:
        raw = decompress_rtf(rtf)
        text = rtf_to_text(raw) if raw else None
        if raw is None:
            ctx.out.metadata["rtf_body_error"] = "compressed RTF body could not be decompressed"
    if text:
        ctx.out.add_text(text, ctx.limits.max_text_chars)


def _msg_attachments(msg: Any, props: MsgProps, ctx: Context) -> Iterator[Child]:
    announced = ctx.out.children_expected or 0
    try:
        dirs = _attachment_dirs(msg)
    except _MSG_ERRORS as e:
        for n in range(1, announced + 1):
            yield Child(f"attachment-{n}", error=IngestError(CORRUPT, f"attachments unreadable: {e}"))
        return
    if len(dirs) != announced:
        ctx.out.metadata["attachments_found"] = len(dirs)  # the property header says otherwise
    protection = _msg_protection(msg, props, dirs)
    if protection:
        ctx.out.metadata["smime"] = protection
    names = UniqueNames()
    for n, folder in enumerate(dirs, start=1):
        yield _msg_attachment(msg, folder, props, n, names, protection, ctx)
    if protection in ("encrypted", "rights_protected"):
        raise IngestError(ENCRYPTED, f"{protection} message: the body is not readable without the key")


def _attachment_dirs(msg: Any) -> list[str]:
    """The attachment storages, loaded one by one below so that one broken attachment spoils only itself
    (extract-msg's `attachments` loads all at once; for a signed message it would also unwrap the MIME
    entity that we keep as stored)."""
    dirs: list[str] = []
    for entry in msg.listDir(False, True, False):
        if entry and entry[0].startswith("__attach") and entry[0] not in dirs:
            dirs.append(entry[0])
    return dirs


def _msg_protection(msg: Any, props: MsgProps, dirs: list[str]) -> str | None:
    cls = props.string(PR_MESSAGE_CLASS)
    if len(dirs) != 1:
        return smime_kind(cls, None, b"")
    try:
        data = msg.getStream([dirs[0], "__substg1.0_37010102"]) or b""
        mime = msg.getStringStream([dirs[0], "__substg1.0_370E"])
        return smime_kind(cls, mime, data[:128])
    except _MSG_ERRORS:
        return smime_kind(cls, None, b"")


def _msg_attachment(msg: Any, folder: str, props: MsgProps, n: int, names: UniqueNames, protection: str | None,
                    ctx: Context) -> Child:
    try:
        att = msg.initAttachmentFunc(msg, folder)
        aprops = props.child(att)
        name = names.take(attachment_name(aprops, n))
        meta = property_values(aprops, ATTACHMENT_PROPERTIES)
    except _MSG_ERRORS as e:
        return Child(names.take(f"attachment-{n}"), error=IngestError(CORRUPT, f"{type(e).__name__}: {e}"))
    try:
        return _msg_attachment_child(att, name, meta, protection, ctx)
    except IngestError as e:
        return Child(name, error=e, size=meta.get("size"), metadata=meta)
    except _MSG_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"{type(e).__name__}: {e}"), size=meta.get("size"),
                     metadata=meta)


def _msg_attachment_child(att: Any, name: str, meta: dict[str, Any], protection: str | None,
                          ctx: Context) -> Child:
    kind = type(att).__name__
    if kind == "EmbeddedMsgAttachment":
        return _embedded_msg_child(att.data, name, meta, ctx)
    if kind == "WebAttachment":
        url = getattr(att, "url", None)
        meta["url"] = url
        return Child(name, error=IngestError(REFERENCE_ONLY, f"linked attachment, not in the message: {url}"),
                     metadata=meta)
    if kind in ("BrokenAttachment", "UnsupportedAttachment"):
        return Child(name, error=IngestError(CORRUPT if kind == "BrokenAttachment" else UNSUPPORTED,
                                             f"extract-msg: {kind}"), metadata=meta)
    data = att.data
    if not isinstance(data, bytes):
        return Child(name, error=IngestError(UNSUPPORTED, f"attachment data of type {type(data).__name__}"),
                     metadata=meta)
    blob = ctx.blob_from_stream(io.BytesIO(data))
    if protection == "multipart_signed" and meta.get("mime_tag", "").lower() == "multipart/signed":
        # The signed MIME entity exactly as received: an email in its own right (RFC 1847).
        meta["smime_entity"] = True
        return Child(name, blob=blob, kind="email", metadata=meta)
    return Child(name, blob=blob, metadata=meta)


def _embedded_msg_child(embedded: Any, name: str, meta: dict[str, Any], ctx: Context) -> Child:
    """An attached message: its own .msg bytes if extract-msg can rebuild them, else an RFC 822 rendering."""
    meta["embedded_message"] = True
    try:
        data = embedded.exportBytes()
        return Child(name, blob=ctx.blob_from_stream(io.BytesIO(data)), transforms=[REEXPORTED], metadata=meta)
    except _MSG_ERRORS as e:
        meta["reexport_error"] = f"{type(e).__name__}: {e}"[:500]
    data = embedded.asEmailMessage().as_bytes()
    return Child(name, blob=ctx.blob_from_stream(io.BytesIO(data)), kind="email", transforms=[RESTORED],
                 metadata=meta)
