"""What pikepdf tells of a PDF: encryption, Info and XMP, catalog, pages, forms and signatures,
embedded files, JavaScript. Each part is guarded: a failure on hostile structure is recorded, not raised."""

from __future__ import annotations

from typing import Any

import pikepdf

from ..base import Context
from .objects import MAX_ITEMS, PIKE_ERRORS, name_str, pdf_date_iso, pdf_string, read_info, read_xmp, to_json

MAX_FONTS = 200
MAX_NAMES = 200  # names recorded per list (fields, attachments, scripts)
MAX_NODES = 20_000  # objects visited when walking the form field tree
MAX_WARNINGS = 20


def _guard(meta: dict[str, Any], what: str, fn: Any, *args: Any) -> None:
    """Run one extractor; a failure on hostile structure is recorded under structure_errors."""
    try:
        fn(*args)
    except PIKE_ERRORS as e:
        meta.setdefault("structure_errors", {})[what] = f"{type(e).__name__}: {e}"[:500]


def read_structure(pdf: pikepdf.Pdf, meta: dict[str, Any], ctx: Context) -> None:
    meta["pdf_version"] = str(pdf.pdf_version)
    if pdf.extension_level:
        meta["extension_level"] = int(pdf.extension_level)
    meta["linearized"] = bool(pdf.is_linearized)
    _guard(meta, "encryption", _read_encryption, pdf, meta)
    _guard(meta, "info", _read_info, pdf, meta)
    _guard(meta, "xmp", read_xmp, pdf, meta)
    _guard(meta, "catalog", _read_catalog, pdf, meta)
    _guard(meta, "pages", _read_pages, pdf, meta, ctx.limits.max_pdf_text_pages)
    _guard(meta, "forms", _read_forms, pdf, meta)
    _guard(meta, "attachments", _read_attachments, pdf, meta)
    _guard(meta, "javascript", _read_javascript, pdf, meta)


def _read_encryption(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    meta["encrypted"] = bool(pdf.is_encrypted)
    if not pdf.is_encrypted:
        return
    enc = pdf.encryption
    encdict = pdf.trailer.get("/Encrypt")
    meta["encryption"] = {
        "filter": name_str(encdict.get("/Filter")) if encdict is not None else None,
        "R": enc.R, "V": enc.V, "P": enc.P, "bits": enc.bits,
        "stream_method": enc.stream_method.name, "string_method": enc.string_method.name,
        "file_method": enc.file_method.name,
        "permissions": {k: bool(getattr(pdf.allow, k)) for k in (
            "accessibility", "extract", "modify_annotation", "modify_assembly", "modify_form",
            "modify_other", "print_lowres", "print_highres")},
    }


def _read_info(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    info = pdf.trailer.get("/Info")
    if info is None:
        return
    if not isinstance(info, pikepdf.Dictionary):
        meta["info_error"] = "/Info is not a dictionary"
        return
    values, dates = read_info(info)
    meta["info"] = values
    if dates:
        meta["info_dates"] = dates
    for key, field_name in (("Producer", "producer"), ("Creator", "creator")):
        if isinstance(values.get(key), str):
            meta[field_name] = values[key]
    if "CreationDate" in dates:
        meta["created"] = dates["CreationDate"]
    if "ModDate" in dates:
        meta["modified"] = dates["ModDate"]


def _read_catalog(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    root = pdf.Root
    version = root.get("/Version")
    if version is not None:
        meta["catalog_version"] = name_str(version)[1:]
    for key in ("/Lang", "/PageMode", "/PageLayout"):
        if key in root:
            meta.setdefault("catalog", {})[key[1:]] = to_json(root[key])
    if "/Perms" in root:
        meta["perms"] = sorted(k[1:] for k in list(root.Perms.keys())[:MAX_ITEMS])
    if "/OCProperties" in root:
        meta["optional_content"] = True


def _read_pages(pdf: pikepdf.Pdf, meta: dict[str, Any], max_pages: int) -> None:
    pages = pdf.pages
    meta["pages"] = len(pages)
    fonts: set[str] = set()
    annots: dict[str, int] = {}
    for i, page in enumerate(pages):
        if i >= max_pages:
            meta["pages_scanned"] = i
            break
        _page_fonts(page.obj, fonts)
        _page_annots(page.obj, annots, meta)
    if fonts:
        meta["fonts"] = sorted(fonts)[:MAX_FONTS]
        if len(fonts) > MAX_FONTS:
            meta["fonts_capped"] = True
    if annots:
        meta["annotations"] = annots


def _page_fonts(page: Any, fonts: set[str]) -> None:
    if len(fonts) > MAX_FONTS:
        return
    res = inherited(page, "/Resources")
    font_dict = res.get("/Font") if isinstance(res, pikepdf.Dictionary) else None
    if not isinstance(font_dict, pikepdf.Dictionary):
        return
    for font in list(font_dict.values())[:MAX_ITEMS]:
        if isinstance(font, pikepdf.Dictionary):
            base = font.get("/BaseFont")
            if isinstance(base, pikepdf.Name):
                fonts.add(name_str(base)[1:])


def inherited(page: Any, key: str) -> Any:
    """A page attribute, looked up through /Parent as the spec allows (we open without pushing them down)."""
    node = page
    for _ in range(32):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        node = node.get("/Parent")
    return None


def _page_annots(page: Any, annots: dict[str, int], meta: dict[str, Any]) -> None:
    arr = page.get("/Annots")
    if not isinstance(arr, pikepdf.Array):
        return
    for annot in list(arr)[:MAX_ITEMS * 4]:
        if not isinstance(annot, pikepdf.Dictionary):
            continue
        sub = name_str(annot.get("/Subtype", pikepdf.Name("/None")))[1:]
        annots[sub] = annots.get(sub, 0) + 1
        if _is_js_action(annot.get("/A")) or "/AA" in annot:
            meta["javascript_actions"] = meta.get("javascript_actions", 0) + 1
        if sub == "FileAttachment":
            name = _filespec_name(annot.get("/FS"))
            if name:
                _add_name(meta, "attachment_annotations", name)


def _is_js_action(action: Any) -> bool:
    return isinstance(action, pikepdf.Dictionary) and action.get("/S") == pikepdf.Name.JavaScript


def _add_name(meta: dict[str, Any], key: str, name: str) -> None:
    names = meta.setdefault(key, [])
    if len(names) < MAX_NAMES:
        names.append(name)


def _filespec_name(spec: Any) -> str | None:
    if isinstance(spec, pikepdf.String):
        return pdf_string(spec)
    if isinstance(spec, pikepdf.Dictionary):
        for key in ("/UF", "/F", "/DOS", "/Unix", "/Mac"):
            if isinstance(spec.get(key), pikepdf.String):
                return pdf_string(spec[key])
    return None


def _read_forms(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    acro = pdf.Root.get("/AcroForm")
    if not isinstance(acro, pikepdf.Dictionary):
        return
    fields = acro.get("/Fields")
    forms: dict[str, Any] = {"xfa": "/XFA" in acro, "fields": 0, "names": []}
    sigs: list[dict[str, Any]] = []
    stack: list[tuple[Any, str, str | None]] = [(f, "", None) for f in (list(fields) if isinstance(
        fields, pikepdf.Array) else [])][::-1]
    seen: set[tuple[int, int]] = set()
    while stack and len(seen) < MAX_NODES:
        node, parent_name, parent_ft = stack.pop()
        if not isinstance(node, pikepdf.Dictionary):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        part = pdf_string(node.T) if isinstance(node.get("/T"), pikepdf.String) else ""
        full = f"{parent_name}.{part}" if parent_name and part else (part or parent_name)
        ft = name_str(node.FT) if isinstance(node.get("/FT"), pikepdf.Name) else parent_ft
        kids = node.get("/Kids")
        if isinstance(kids, pikepdf.Array) and any(isinstance(k, pikepdf.Dictionary) and "/T" in k for k in kids):
            stack.extend((k, full, ft) for k in reversed(list(kids)))
            continue
        forms["fields"] += 1
        if len(forms["names"]) < MAX_NAMES:
            forms["names"].append(full)
        if ft == "/Sig" and len(sigs) < MAX_NAMES:
            sigs.append(_signature(full, node.get("/V")))
        if _is_js_action(node.get("/A")) or "/AA" in node:
            meta["javascript_actions"] = meta.get("javascript_actions", 0) + 1
    meta["forms"] = forms
    if sigs:
        meta["signatures"] = sigs


def _signature(name: str, value: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {"field": name, "signed": isinstance(value, pikepdf.Dictionary)}
    if not sig["signed"]:
        return sig
    for key in ("/Filter", "/SubFilter", "/Name", "/Reason", "/Location", "/ContactInfo", "/M", "/ByteRange"):
        if key in value:
            sig[key[1:].lower()] = to_json(value[key])
    if isinstance(sig.get("m"), str):
        sig["m_iso"] = pdf_date_iso(sig["m"])
    return sig


def _read_attachments(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    names = pdf.Root.get("/Names")
    if not isinstance(names, pikepdf.Dictionary) or "/EmbeddedFiles" not in names:
        return
    files = []
    for name, spec in pikepdf.NameTree(names.EmbeddedFiles).items():
        if len(files) >= MAX_NAMES:
            break
        files.append(_embedded(name, spec))
    meta["embedded_files"] = files


def _embedded(name: str, spec: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": name, "file_name": _filespec_name(spec)}
    ef = spec.get("/EF") if isinstance(spec, pikepdf.Dictionary) else None
    stream = ef.get("/F") if isinstance(ef, pikepdf.Dictionary) else None
    if isinstance(stream, pikepdf.Stream):
        if isinstance(stream.get("/Subtype"), pikepdf.Name):
            rec["subtype"] = name_str(stream.Subtype)[1:]
        params = stream.get("/Params")
        if isinstance(params, pikepdf.Dictionary):
            for key in ("/Size", "/CreationDate", "/ModDate", "/CheckSum"):
                if key in params:
                    rec[key[1:].lower()] = to_json(params[key])
    return rec


def _read_javascript(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    root = pdf.Root
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names:
        for name in list(pikepdf.NameTree(names.JavaScript).keys())[:MAX_NAMES]:
            _add_name(meta, "javascript", str(name))
    if _is_js_action(root.get("/OpenAction")):
        _add_name(meta, "javascript", "<OpenAction>")
    if isinstance(root.get("/AA"), pikepdf.Dictionary):
        _add_name(meta, "javascript", "<document AA>")
    meta["has_javascript"] = bool(meta.get("javascript") or meta.get("javascript_actions"))


def read_warnings(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    warns = [str(w) for w in pdf.get_warnings()]
    if warns:
        meta["qpdf_warnings"] = [w[:300] for w in warns[:MAX_WARNINGS]]
        meta["qpdf_warning_count"] = len(warns)
