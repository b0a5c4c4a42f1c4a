"""pikepdf values as JSON-able metadata: strings, names, PDF dates, the Info dictionary and XMP."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pikepdf

from ..support.xmp import qualified_name, xmp_parse

MAX_XMP_RAW = 16 * 1024 * 1024  # an unfiltered XMP stream bigger than this is not read
MAX_XMP_FILTERED = 256 * 1024  # a compressed one: flate expands ~1000x, so keep the input small
MAX_STR = 4096  # characters kept of one metadata string
MAX_ITEMS = 256  # items kept of one array or dictionary value

PIKE_ERRORS = (pikepdf.PikepdfError, ValueError, TypeError, KeyError, AttributeError, IndexError,
               NotImplementedError, RuntimeError, OverflowError, RecursionError, UnicodeError)


# --- PDF dates -------------------------------------------------------------------------------------

_PDF_DATE = re.compile(
    r"^\s*(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"\s*(?:(Z)(?:00'?00'?)?|([+-])(\d{2})(?:'?(\d{2}))?'?)?\s*$")


def pdf_date_iso(raw: str) -> str | None:
    """D:20170504120000+02'00' -> 2017-05-04T12:00:00+02:00, keeping the offset as written.

    Missing fields take the defaults of the PDF spec (month and day 01, time 00); a date with no offset
    stays naive. Returns None for anything that is not a valid PDF date.
    """
    m = _PDF_DATE.match(raw)
    if not m:
        return None
    year, month, day, hour, minute, second, zulu, sign, oh, om = m.groups()
    parts = [int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0)]
    try:
        datetime(*parts)
    except ValueError:
        return None
    iso = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parts)
    if zulu:
        return iso + "Z"
    if sign:
        if int(oh) > 23 or int(om or 0) > 59:
            return None
        return f"{iso}{sign}{oh}:{om or '00'}"
    return iso


# --- converting pikepdf objects ---------------------------------------------------------------------

def pdf_string(obj: Any) -> str:
    """A PDF string decoded (PDFDocEncoding or UTF-16 with BOM), or its bytes as hex if it is neither."""
    try:
        return str(obj)[:MAX_STR]
    except UnicodeError:
        return "hex:" + bytes(obj)[:MAX_STR // 2].hex()


def name_str(obj: Any) -> str:
    """A PDF name with its slash; names that are not UTF-8 keep their #xx escapes as written."""
    try:
        return str(obj)
    except UnicodeError:
        return obj.unparse().decode("latin-1")


def to_json(obj: Any, depth: int = 0) -> Any:
    """A pikepdf value as JSON-able data, bounded in size and depth (references are not followed twice)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj[:MAX_STR] if isinstance(obj, str) else obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, pikepdf.String):
        return pdf_string(obj)
    if isinstance(obj, pikepdf.Name):
        return name_str(obj)
    if isinstance(obj, pikepdf.Stream):
        return f"<stream {obj.objgen[0]} {obj.objgen[1]} R>" if obj.is_indirect else "<stream>"
    if depth >= 4:
        return "<nested>"
    if isinstance(obj, pikepdf.Array):
        return [to_json(v, depth + 1) for v in list(obj)[:MAX_ITEMS]]
    if isinstance(obj, pikepdf.Dictionary):
        return {k[1:]: to_json(v, depth + 1) for k, v in _items(obj)}
    try:
        return float(obj)  # Decimal (PDF reals)
    except (TypeError, ValueError):
        return str(obj)[:MAX_STR]


def _items(d: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs of a dictionary, capped; keys that are not UTF-8 keep their #xx escapes."""
    out = []
    for key in list(d.keys())[:MAX_ITEMS]:
        out.append((key, d.get(key)))
    return out


def read_info(info: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Every key of an Info dictionary (slash dropped), and the ISO form of those that are PDF dates."""
    values: dict[str, Any] = {}
    dates: dict[str, str] = {}
    for key, value in _items(info):
        name = key[1:]
        values[name] = to_json(value)
        if isinstance(values[name], str) and (name.endswith("Date") or values[name].startswith("D:")):
            iso = pdf_date_iso(values[name])
            if iso:
                dates[name] = iso
    return values, dates


def _xmp_value(value: Any, prefixes: dict[str, str]) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted((_xmp_value(v, prefixes) for v in value), key=str)[:MAX_ITEMS]
    if isinstance(value, (list, tuple)):
        return [_xmp_value(v, prefixes) for v in value][:MAX_ITEMS]
    if isinstance(value, dict):
        return {qualified_name(str(k), prefixes): _xmp_value(v, prefixes) for k, v in list(value.items())[:MAX_ITEMS]}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:MAX_STR]


def _blank(value: Any) -> bool:
    """pikepdf flattens structured properties (xmpMM:History, pdfaExtension:schemas) to white space."""
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return value is None or (isinstance(value, str) and not value.strip())


def read_xmp(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    """Every XMP property: pikepdf's reading, completed by our defusedxml reading where pikepdf
    flattened a structured value or could not read the packet at all."""
    stream = pdf.Root.get("/Metadata")
    if stream is None:
        return
    if not isinstance(stream, pikepdf.Stream):
        meta["xmp_error"] = "/Metadata is not a stream"
        return
    length = stream.get("/Length")
    filtered = stream.get("/Filter") is not None
    cap = MAX_XMP_FILTERED if filtered else MAX_XMP_RAW
    if not isinstance(length, int) or length > cap:
        meta["xmp_error"] = f"XMP stream of {length} bytes{' (compressed)' if filtered else ''} not read"
        return
    packet = stream.read_bytes()
    meta["xmp_bytes"] = len(packet)
    ours, prefixes, our_error = xmp_parse(packet)
    props: dict[str, Any] = {}
    try:
        xmp = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False, strict=True)
        props = {qualified_name(k, prefixes): _xmp_value(xmp[k], prefixes) for k in list(xmp)[:MAX_ITEMS * 4]}
    except PIKE_ERRORS + (SyntaxError,) as e:
        meta["xmp_error"] = f"pikepdf: {type(e).__name__}: {e}"[:500]
        if our_error:
            meta["xmp_error"] += f"; defusedxml: {our_error}"[:500]
    for key, value in ours.items():
        if key not in props or _blank(props[key]):
            props[key] = value
    if props:
        meta["xmp"] = props
