"""The reader of OLE files: opens the compound file and reads what it holds (see document.py)."""

from __future__ import annotations

from typing import Iterator

import olefile

from .. import sniff
from ..base import CORRUPT, ENCRYPTED, Blob, Child, Context, IngestError
from .document import OLE_ERRORS, OleDoc


def read_ole(blob: Blob, ctx: Context) -> None:
    f = blob.open()
    try:
        try:
            ole = olefile.OleFileIO(f)
        except OLE_ERRORS as e:
            raise IngestError(CORRUPT, f"not a readable OLE file: {type(e).__name__}: {e}") from None
        try:
            doc = OleDoc(ole, ctx, blob.size)
            ctx.out.metadata["format"] = "ole"
            try:
                read_parts(doc)
            finally:
                if doc.text:
                    ctx.out.add_text("".join(doc.text).strip(), ctx.limits.max_text_chars)
        finally:
            ole.close()
    finally:
        f.close()
    if doc.encrypted:
        raise IngestError(ENCRYPTED, doc.encrypted)
    if doc.corrupt:
        raise IngestError(CORRUPT, doc.corrupt)


def read_parts(doc: OleDoc) -> None:
    try:
        doc.read_directory()
    except OLE_ERRORS as e:
        raise IngestError(CORRUPT, f"OLE directory: {type(e).__name__}: {e}") from None
    doc.read_properties()
    try:
        if doc.exists("EncryptionInfo") and doc.exists("EncryptedPackage"):
            doc.read_encrypted_package()
        elif doc.exists("WordDocument"):
            doc.read_doc()
        elif doc.exists("Workbook") or doc.exists("Book"):
            doc.read_xls()
        elif doc.exists("PowerPoint Document"):
            doc.read_ppt()
    except OLE_ERRORS as e:
        raise IngestError(CORRUPT, f"{type(e).__name__}: {e}") from None


class OleReader:
    name = "ole"
    mimes = frozenset({sniff.DOC, sniff.XLS, sniff.PPT, sniff.OLE})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        read_ole(blob, ctx)
        return iter(())
