"""Reader: images. Headers and metadata; pixels are decoded only small, to compare a JPEG's EXIF thumbnail.

Pillow opens images lazily (`Image.open` reads headers), so EXIF, XMP, ICC and IPTC come without a
decode. Where Pillow would read or allocate more than headers (PNG text chunks after the pixel data,
WebP, whose decoder allocates the canvas at open), small bounded chunk walkers of our own read the file.
No global Pillow setting is changed: the decompression-bomb check is handled where it fires.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import warnings
import zlib
from fractions import Fraction
from typing import Any, BinaryIO, Iterator

from PIL import ExifTags, Image, IptcImagePlugin, TiffImagePlugin, UnidentifiedImageError

from .base import CORRUPT, TOO_LARGE, UNSUPPORTED, Blob, Child, Context, IngestError
from .support.xmp import xmp_properties

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/tiff": "TIFF",
           "image/bmp": "BMP", "image/jp2": "JPEG2000", "image/heic": "AVIF"}
MAX_TAGS = 500  # tags kept per IFD
MAX_LIST = 64  # items kept of one tag value
MAX_BYTES = 256  # bytes of a binary value kept (as hex)
MAX_STR = 4096
MAX_CHUNKS = 100_000  # PNG / RIFF chunks walked
MAX_CHUNK_READ = 16 * 1024 * 1024  # a metadata chunk bigger than this is counted, not read
MAX_TEXT = 1024 * 1024  # decompressed bytes of one PNG text chunk
MAX_WARNINGS = 10
MAX_WHOLE_FILE = 256 * 1024 * 1024  # formats whose Pillow plugin reads the whole file at open
PIL_ERRORS = (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error, EOFError,
              ZeroDivisionError, AttributeError, UnicodeError, OverflowError, RecursionError,
              Image.DecompressionBombError)  # e.g. from a later GIF frame, met while counting frames

IPTC_NAMES = {
    (1, 90): "CodedCharacterSet", (2, 0): "RecordVersion", (2, 5): "ObjectName", (2, 7): "EditStatus",
    (2, 10): "Urgency", (2, 15): "Category", (2, 20): "SupplementalCategories", (2, 25): "Keywords",
    (2, 40): "SpecialInstructions", (2, 55): "DateCreated", (2, 60): "TimeCreated",
    (2, 62): "DigitalCreationDate", (2, 63): "DigitalCreationTime", (2, 65): "OriginatingProgram",
    (2, 70): "ProgramVersion", (2, 80): "By-line", (2, 85): "By-lineTitle", (2, 90): "City",
    (2, 92): "Sub-location", (2, 95): "Province-State", (2, 100): "Country-PrimaryLocationCode",
    (2, 101): "Country-PrimaryLocationName", (2, 103): "OriginalTransmissionReference",
    (2, 105): "Headline", (2, 110): "Credit", (2, 115): "Source", (2, 116): "CopyrightNotice",
    (2, 118): "Contact", (2, 120): "Caption-Abstract", (2, 122): "Writer-Editor",
}
INTEROP_NAMES = {1: "InteroperabilityIndex", 2: "InteroperabilityVersion", 0x1000: "RelatedImageFileFormat",
                 0x1001: "RelatedImageWidth", 0x1002: "RelatedImageLength"}
# Tags that hold pixel-data layout or whole embedded blobs (read on their own): only their size is kept.
BULKY = frozenset({273, 279, 288, 289, 324, 325, 347, 700, 33723, 34377, 34675})
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C


# --- value conversion -------------------------------------------------------------------------------

def hex_value(data: bytes) -> str:
    tail = f"...({len(data)} bytes)" if len(data) > MAX_BYTES else ""
    return "hex:" + data[:MAX_BYTES].hex() + tail


def bytes_value(data: bytes) -> str:
    """Text when the bytes are printable text (NUL padding dropped), else hex."""
    stripped = data.rstrip(b"\x00")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return hex_value(data)
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return text[:MAX_STR]
    return hex_value(data)


def user_comment(data: bytes) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    code, body = data[:8], data[8:]
    if code.startswith(b"UNICODE"):
        enc = "utf-16-be" if body[:2] != b"\xff\xfe" and (len(body) < 2 or body[0] == 0) else "utf-16-le"
        return body.decode(enc, "replace").rstrip("\x00 ")[:MAX_STR]
    if code.startswith(b"ASCII") or code == b"\x00" * 8:
        return body.decode("latin-1").rstrip("\x00 ")[:MAX_STR]
    return bytes_value(data)


def json_value(value: Any, tag: int | None = None) -> Any:
    """An EXIF/info value as JSON-able data: rationals -> floats, bytes -> text or hex, lists capped."""
    if tag == USER_COMMENT and isinstance(value, bytes):
        return user_comment(value)
    if tag == MAKER_NOTE and isinstance(value, bytes):
        return hex_value(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        return value.rstrip("\x00")[:MAX_STR]
    if isinstance(value, bytes):
        return bytes_value(value)
    if isinstance(value, (float, Fraction, TiffImagePlugin.IFDRational)):
        try:
            f = float(value)
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value[:MAX_LIST]]
    if isinstance(value, dict):
        return {str(k)[:100]: json_value(v) for k, v in list(value.items())[:MAX_LIST]}
    return str(value)[:MAX_STR]


# --- EXIF -------------------------------------------------------------------------------------------

def ifd_dict(ifd: dict[int, Any], names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, value in list(ifd.items())[:MAX_TAGS]:
        if isinstance(value, dict):
            continue  # a sub-IFD already read on its own
        name = names.get(tag, f"0x{tag:04x}")
        if tag in BULKY and isinstance(value, (bytes, tuple, list)):
            out[name] = f"<{len(value)} {'bytes' if isinstance(value, bytes) else 'values'}>"
        else:
            out[name] = json_value(value, tag)
    return out


def read_exif(exif: Image.Exif, raw: bytes | None, meta: dict[str, Any]) -> None:
    """IFD0, Exif, GPS, Interop and IFD1 (with the embedded thumbnail's size and hash)."""
    out: dict[str, Any] = {"ifd0": ifd_dict(dict(exif), ExifTags.TAGS)}
    for key, ifd_id, names in (("exif", ExifTags.IFD.Exif, ExifTags.TAGS),
                               ("gps", ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
                               ("interop", ExifTags.IFD.Interop, INTEROP_NAMES),
                               ("ifd1", ExifTags.IFD.IFD1, ExifTags.TAGS)):
        try:
            ifd = exif.get_ifd(ifd_id)
        except PIL_ERRORS as e:
            out[f"{key}_error"] = f"{type(e).__name__}: {e}"[:300]
            continue
        if ifd:
            out[key] = ifd_dict(ifd, names)
    meta["exif"] = out
    _exif_summary(out, meta)
    if raw is not None and "ifd1" in out:
        thumb = thumbnail(raw, exif)
        if thumb:
            meta["thumbnail"] = thumb


def _exif_summary(exif: dict[str, Any], meta: dict[str, Any]) -> None:
    """The few fields checks use most, under plain names; dates as ISO with the offset as written."""
    ifd0, sub = exif.get("ifd0", {}), exif.get("exif", {})
    for key, name in (("Make", "camera_make"), ("Model", "camera_model"), ("Software", "software"),
                      ("Artist", "artist")):
        if isinstance(ifd0.get(key), str):
            meta[name] = ifd0[key]
    for name, src, date_key, offset_key, subsec_key in (
            ("created", sub, "DateTimeOriginal", "OffsetTimeOriginal", "SubsecTimeOriginal"),
            ("digitized", sub, "DateTimeDigitized", "OffsetTimeDigitized", "SubsecTimeDigitized"),
            ("modified", ifd0, "DateTime", "OffsetTime", "SubsecTime")):
        offset = sub.get(offset_key)
        iso = exif_date_iso(src.get(date_key), sub.get(subsec_key), offset)
        if iso:
            meta[name] = iso
    gps = exif.get("gps", {})
    dec = gps_decimal(gps)
    if dec:
        meta["gps_decimal"] = dec


def exif_date_iso(value: Any, subsec: Any = None, offset: Any = None) -> str | None:
    """'2017:05:04 12:00:00' (+ '.123', '+02:00') -> 2017-05-04T12:00:00.123+02:00."""
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*", value)
    if not m:
        return None
    y, mo, d, h, mi, s = m.groups()
    iso = f"{y}-{mo}-{d}T{h}:{mi}:{s}"
    if isinstance(subsec, str) and subsec.strip().isdigit():
        iso += "." + subsec.strip()
    if isinstance(offset, str) and re.fullmatch(r"[+-]\d{2}:\d{2}", offset.strip()):
        iso += offset.strip()
    return iso


def gps_decimal(gps: dict[str, Any]) -> dict[str, float] | None:
    """Latitude and longitude in degrees, from the degrees/minutes/seconds as given."""
    out: dict[str, float] = {}
    for axis, ref_neg in (("Latitude", "S"), ("Longitude", "W")):
        dms, ref = gps.get(f"GPS{axis}"), gps.get(f"GPS{axis}Ref")
        if not (isinstance(dms, list) and len(dms) == 3 and all(isinstance(v, (int, float)) for v in dms)):
            return None
        value = dms[0] + dms[1] / 60 + dms[2] / 3600
        out[axis.lower()] = round(-value if ref == ref_neg else value, 7)
    return out


def thumbnail_bytes(raw: bytes, exif: Image.Exif) -> tuple[int, int, bytes] | None:
    """The offset, declared length and bytes of the JPEG thumbnail that IFD1 points to."""
    ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
    offset, length = ifd1.get(0x0201), ifd1.get(0x0202)
    if not isinstance(offset, int) or not isinstance(length, int):
        return None
    tiff = re.sub(b"^(Exif\x00\x00){1,2}", b"", raw)
    return offset, length, tiff[offset:offset + length]


def thumbnail(raw: bytes, exif: Image.Exif) -> dict[str, Any] | None:
    """The JPEG thumbnail that IFD1 points to: its size, sha256 and dimensions."""
    found = thumbnail_bytes(raw, exif)
    if found is None:
        return None
    offset, length, data = found
    out: dict[str, Any] = {"offset": offset, "length": length, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
    if len(data) < length:
        out["truncated"] = True
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            out["width"], out["height"] = im.size
    except PIL_ERRORS as e:
        out["error"] = f"{type(e).__name__}: {e}"[:200]
    return out


# --- the thumbnail against the picture ----------------------------------------------------------------
# An editor that changes the picture often keeps the camera's EXIF thumbnail. Both are decoded small
# (JPEG DCT scaling via draft(), so a 100-megapixel photo decodes as ~1.5 megapixels) and compared by a
# 64-bit difference hash; the smallest distance is kept over the picture as stored and as displayed (the
# thumbnail may follow the Orientation tag or not), each whole and centre-cropped to the thumbnail's aspect
# (after the thumbnail's letterbox bars are trimmed).

MAX_COMPARE_PIXELS = 200_000_000  # declared size of a main image we agree to decode at reduced scale
MAX_DECODED_PIXELS = 4_000_000  # what draft() must bring it down to, or we do not decode
MAX_THUMB_BYTES = 1024 * 1024
DARK = 24  # letterbox bars: rows/columns whose every pixel is at most this grey
# what displays a picture stored with EXIF Orientation n (as ImageOps.exif_transpose)
ORIENTATION = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}


def decode_small(im: Any) -> Image.Image:
    """The picture as greyscale, decoded at the smallest JPEG scale that keeps it over 128 px a side."""
    w, h = im.size
    if w * h > MAX_COMPARE_PIXELS:
        raise IngestError(TOO_LARGE, f"{w}x{h} pixels: too large to decode for the thumbnail comparison")
    if im.format == "JPEG":
        im.draft("L", (min(w, 128), min(h, 128)))
    if im.size[0] * im.size[1] > MAX_DECODED_PIXELS:
        raise IngestError(TOO_LARGE, f"{w}x{h} pixels decode as {im.size[0]}x{im.size[1]}: over the cap")
    return trim_dark(im.convert("L"))


def trim_dark(im: Image.Image) -> Image.Image:
    """Without the black bars a thumbnail of another aspect ratio is letterboxed with."""
    box = im.point(lambda v: 255 if v > DARK else 0).getbbox()
    if box and (box[2] - box[0]) * (box[3] - box[1]) >= im.size[0] * im.size[1] // 2:
        return im.crop(box)
    return im


def crop_to_aspect(im: Image.Image, aspect: float) -> Image.Image:
    w, h = im.size
    if w / h > aspect:
        cw = max(1, round(h * aspect))
        return im.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
    ch = max(1, round(w / aspect))
    return im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))


def dhash(im: Image.Image) -> int:
    """64-bit difference hash: is each of 8x8 cells brighter than its right neighbour."""
    px = list(im.resize((9, 8), Image.Resampling.BOX).getdata())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = bits << 1 | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    pa = a.resize((16, 16), Image.Resampling.BOX).getdata()
    pb = b.resize((16, 16), Image.Resampling.BOX).getdata()
    return round(sum(abs(x - y) for x, y in zip(pa, pb)) / 256, 1)


def compare_thumbnail(f: BinaryIO, thumb: bytes, orientation: Any, out: dict[str, Any]) -> None:
    """Record how far the EXIF thumbnail is from the main picture (dHash bits of 64, mean grey difference)."""
    if len(thumb) > MAX_THUMB_BYTES:
        out["compare_error"] = f"thumbnail of {len(thumb)} bytes not decoded"
        return
    try:
        with Image.open(io.BytesIO(thumb), formats=["JPEG"]) as t:
            small = decode_small(t)
        f.seek(0)
        with Image.open(f, formats=["JPEG"]) as im:
            main = decode_small(im)
    except IngestError as e:
        out["compare_error"] = str(e)[:300]
        return
    except PIL_ERRORS as e:  # a decompression bomb lands here too
        out["compare_error"] = f"{type(e).__name__}: {e}"[:300]
        return
    views = [("stored", main)]
    if orientation in ORIENTATION:
        views.append(("displayed", main.transpose(ORIENTATION[orientation])))
    aspect = small.size[0] / small.size[1]
    fits = [(f"{name} whole", m) for name, m in views]
    fits += [(f"{name} cropped", crop_to_aspect(m, aspect)) for name, m in views
             if abs(aspect - m.size[0] / m.size[1]) > 0.03 * aspect]
    th = dhash(small)
    distance, fit, best = min((bin(th ^ dhash(m)).count("1"), name, m) for name, m in fits)
    out.update({"dhash_distance": distance, "dhash": f"{th:016x}", "image_dhash": f"{dhash(best):016x}",
                "fit": fit, "mean_abs_diff": mean_abs_diff(small, best)})


# --- ICC, IPTC, JPEG segments -----------------------------------------------------------------------

def _sig(data: bytes) -> str | None:
    s = data.decode("latin-1").strip("\x00 ")
    return s if s and s.isprintable() else None


def icc_summary(icc: bytes) -> dict[str, Any]:
    """Header fields and the description/copyright tags of an ICC profile."""
    out: dict[str, Any] = {"size": len(icc)}
    if len(icc) < 132:
        return out
    out["cmm"] = _sig(icc[4:8])
    out["version"] = f"{icc[8]}.{icc[9] >> 4}.{icc[9] & 15}"
    out["class"] = _sig(icc[12:16])
    out["color_space"] = _sig(icc[16:20])
    y, mo, d, h, mi, s = struct.unpack(">6H", icc[24:36])
    if y:
        out["created"] = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    out["platform"] = _sig(icc[40:44])
    out["manufacturer"] = _sig(icc[48:52])
    out["model"] = _sig(icc[52:56]) if icc[52:56].strip(b"\x00") else None
    out["creator"] = _sig(icc[80:84])
    count = min(struct.unpack(">I", icc[128:132])[0], 200)
    for i in range(count):
        entry = icc[132 + 12 * i:144 + 12 * i]
        if len(entry) < 12:
            break
        sig, off, size = struct.unpack(">4sII", entry)
        key = {b"desc": "description", b"cprt": "copyright", b"dmnd": "device_manufacturer",
               b"dmdd": "device_model"}.get(sig)
        if key:
            text = icc_text(icc[off:off + min(size, 64 * 1024)])
            if text:
                out[key] = text
    return {k: v for k, v in out.items() if v is not None}


def icc_text(tag: bytes) -> str | None:
    """The text of an ICC textDescriptionType, textType or multiLocalizedUnicodeType tag."""
    kind = tag[:4]
    if kind == b"desc" and len(tag) >= 12:
        n = struct.unpack(">I", tag[8:12])[0]
        return tag[12:12 + n].split(b"\x00", 1)[0].decode("latin-1")[:MAX_STR]
    if kind == b"text":
        return tag[8:].split(b"\x00", 1)[0].decode("latin-1")[:MAX_STR]
    if kind == b"mluc" and len(tag) >= 28:
        length, offset = struct.unpack(">II", tag[20:28])
        return tag[offset:offset + length].decode("utf-16-be", "replace")[:MAX_STR]
    return None


def iptc_values(im: Image.Image) -> dict[str, Any] | None:
    info = IptcImagePlugin.getiptcinfo(im)  # type: ignore[arg-type]
    if not info:
        return None
    utf8 = info.get((1, 90)) in (b"\x1b%G", [b"\x1b%G"])
    out: dict[str, Any] = {}
    for key, value in list(info.items())[:MAX_TAGS]:
        name = IPTC_NAMES.get(key, f"{key[0]}:{key[1]}")
        values = value if isinstance(value, list) else [value]
        texts = [_iptc_text(v, utf8) for v in values[:MAX_LIST]]
        out[name] = texts if len(texts) > 1 else texts[0]
    return out


def _iptc_text(value: bytes, utf8: bool) -> str:
    """IPTC text: UTF-8 when 1:90 says so (or when it decodes), else the usual Latin-1 superset."""
    try:
        return value.decode("utf-8")[:MAX_STR]
    except UnicodeDecodeError:
        return value.decode("utf-8" if utf8 else "cp1252", "replace")[:MAX_STR]


def jpeg_details(im: Any, meta: dict[str, Any]) -> None:
    segments = []
    for marker, data in im.applist[:MAX_LIST]:
        ident = data[:40].split(b"\x00", 1)[0].decode("latin-1") if marker != "COM" else ""
        segments.append([marker, len(data), ident if ident.isprintable() else ""])
    meta["jpeg_segments"] = segments
    if im.quantization:
        meta["jpeg_quantization"] = {str(k): list(v)[:64] for k, v in list(im.quantization.items())[:4]}
    if im.layer:
        meta["jpeg_sampling"] = [[c[0], c[1], c[2]] for c in im.layer[:4]]
    photoshop = im.info.get("photoshop")
    if isinstance(photoshop, dict) and photoshop:
        meta["photoshop_resources"] = sorted(int(k) for k in photoshop if isinstance(k, int))[:MAX_LIST]


# --- PNG and WebP chunk walkers ---------------------------------------------------------------------

def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj()
    return d.decompress(data, MAX_TEXT)


def png_chunks(f: BinaryIO, size: int) -> dict[str, Any]:
    """Walk the chunks (seeking past pixel data): text chunks, tIME, eXIf, chunk counts, bytes after IEND."""
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    texts: dict[str, Any] = {}
    pos = 8
    ended = False
    for _ in range(MAX_CHUNKS):
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            break
        length, ctype = struct.unpack(">I4s", head)
        name = ctype.decode("latin-1")
        counts[name] = counts.get(name, 0) + 1
        if ctype in (b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf") and length <= MAX_CHUNK_READ:
            data = f.read(length)
            try:
                _png_meta(ctype, data, texts, out)
            except (ValueError, zlib.error, struct.error, UnicodeError) as e:
                out.setdefault("png_errors", []).append(f"{name}: {e}"[:200])
        pos += 12 + length
        if ctype == b"IEND":
            ended = True
            break
    out["png_chunks"] = counts
    if texts:
        out["png_text"] = texts
    if not ended:
        out["png_truncated"] = pos > size or "IEND" not in counts
    elif pos < size:
        out["png_bytes_after_iend"] = size - pos
    return out


def _png_meta(ctype: bytes, data: bytes, texts: dict[str, Any], out: dict[str, Any]) -> None:
    if ctype == b"tIME":
        y, mo, d, h, mi, s = struct.unpack(">HBBBBB", data[:7])
        out["png_time"] = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"  # the spec says UTC
        return
    if ctype == b"eXIf":
        out["png_exif"] = data
        return
    key, _, rest = data.partition(b"\x00")
    keyword = key.decode("latin-1")[:80]
    if ctype == b"tEXt":
        value = rest.decode("latin-1")
    elif ctype == b"zTXt":
        value = _inflate(rest[1:]).decode("latin-1")
    else:  # iTXt: compression flag, method, language, translated keyword, text
        flag = rest[:1]
        lang, _, rest2 = rest[2:].partition(b"\x00")
        _, _, body = rest2.partition(b"\x00")
        value = (_inflate(body) if flag == b"\x01" else body).decode("utf-8", "replace")
        if lang:
            keyword = f"{keyword}[{lang.decode('latin-1')[:20]}]"
    if keyword.startswith("XML:com.adobe.xmp"):
        out.setdefault("png_xmp", value.encode("utf-8"))
    if keyword.lower().startswith("raw profile type"):
        out.setdefault("png_raw_profiles", {})[keyword[17:]] = value
        value = value[:200] + ("..." if len(value) > 200 else "")
    if len(texts) < MAX_TAGS:
        existing = texts.get(keyword)
        value = value[:MAX_STR]
        texts[keyword] = value if existing is None else (existing if isinstance(existing, list)
                                                         else [existing]) + [value]


def raw_profile(value: str) -> bytes | None:
    """ImageMagick's 'Raw profile type X' text: a name line, a length line, then hex."""
    lines = value.strip().split("\n")
    try:
        return bytes.fromhex("".join(lines[2:]))
    except ValueError:
        return None


def webp_chunks(f: BinaryIO, size: int, meta: dict[str, Any]) -> dict[str, bytes]:
    """Walk a WebP RIFF file without its decoder (which allocates the whole canvas at open)."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise IngestError(CORRUPT, "not a RIFF WEBP file")
    meta["riff_size"] = struct.unpack("<I", head[4:8])[0] + 8
    found: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    pos = 12
    for _ in range(MAX_CHUNKS):
        f.seek(pos)
        ch = f.read(8)
        if len(ch) < 8:
            break
        fourcc, length = ch[:4].decode("latin-1"), struct.unpack("<I", ch[4:8])[0]
        counts[fourcc] = counts.get(fourcc, 0) + 1
        if fourcc in ("VP8 ", "VP8L", "VP8X", "ANIM", "ICCP", "EXIF", "XMP ") and length <= MAX_CHUNK_READ:
            found.setdefault(fourcc, f.read(min(length, MAX_CHUNK_READ if fourcc in ("ICCP", "EXIF", "XMP ")
                                                else 64)))
        pos += 8 + length + (length & 1)
    meta["webp_chunks"] = counts
    meta["format"] = "WEBP"
    size_of = _webp_size(found)
    if size_of:
        meta["width"], meta["height"] = size_of
    meta["frames"] = counts.get("ANMF", 1)
    if "VP8X" in found and found["VP8X"]:
        flags = found["VP8X"][0]
        meta["webp_flags"] = {"icc": bool(flags & 0x20), "alpha": bool(flags & 0x10), "exif": bool(flags & 8),
                              "xmp": bool(flags & 4), "animation": bool(flags & 2)}
    if meta["riff_size"] < size:
        meta["bytes_after_riff"] = size - meta["riff_size"]
    return found


def _webp_size(found: dict[str, bytes]) -> tuple[int, int] | None:
    if len(found.get("VP8X", b"")) >= 10:
        d = found["VP8X"]
        return int.from_bytes(d[4:7], "little") + 1, int.from_bytes(d[7:10], "little") + 1
    if len(found.get("VP8 ", b"")) >= 10 and found["VP8 "][3:6] == b"\x9d\x01\x2a":
        d = found["VP8 "]
        return struct.unpack("<H", d[6:8])[0] & 0x3FFF, struct.unpack("<H", d[8:10])[0] & 0x3FFF
    if len(found.get("VP8L", b"")) >= 5 and found["VP8L"][0] == 0x2F:
        bits = struct.unpack("<I", found["VP8L"][1:5])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


# --- the reader -------------------------------------------------------------------------------------

def _guard(meta: dict[str, Any], what: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except PIL_ERRORS as e:
        meta.setdefault("metadata_errors", {})[what] = f"{type(e).__name__}: {e}"[:300]


def info_values(info: dict[Any, Any], skip: set[str]) -> dict[str, Any]:
    """What Pillow read from the headers, minus what is recorded on its own."""
    out: dict[str, Any] = {}
    for key, value in list(info.items())[:MAX_TAGS]:
        if not isinstance(key, str) or key in skip:
            continue
        out[key] = json_value(value)
    return out


def read_xmp(packet: Any, meta: dict[str, Any]) -> None:
    if isinstance(packet, tuple) and packet:
        packet = packet[0]
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not isinstance(packet, bytes) or not packet.strip():
        return
    props, err = xmp_properties(packet[:MAX_CHUNK_READ])
    if props:
        meta["xmp"] = props
    if err:
        meta["xmp_error"] = err


def exif_from_bytes(raw: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(raw)
    return exif


class ImageReader:
    name = "image"
    mimes = frozenset(set(FORMATS) | {"image/webp"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        meta = ctx.out.metadata
        head = blob.head(32)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            self._webp(blob, meta)
        else:
            self._pillow(blob, ctx, meta)
        yield from ()

    def _webp(self, blob: Blob, meta: dict[str, Any]) -> None:
        with blob.open() as f:
            found = webp_chunks(f, blob.size, meta)
        if "EXIF" in found:
            raw = found["EXIF"]
            _guard(meta, "exif", lambda: read_exif(exif_from_bytes(raw), raw, meta))
        if "XMP " in found:
            read_xmp(found["XMP "], meta)
        if "ICCP" in found:
            _guard(meta, "icc", lambda: meta.__setitem__("icc", icc_summary(found["ICCP"])))

    def _pillow(self, blob: Blob, ctx: Context, meta: dict[str, Any]) -> None:
        fmt = format_of(blob.head(32))
        if fmt == "AVIF" and blob.size > MAX_WHOLE_FILE:
            raise IngestError(TOO_LARGE, f"HEIF/AVIF of {blob.size} bytes: Pillow reads it whole")
        with blob.open() as f, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            im = open_headers(f, fmt, meta)
            try:
                self._describe(im, f, blob, meta)
            finally:
                im.close()
            notes = [f"{w.category.__name__}: {w.message}"[:300] for w in caught[:MAX_WARNINGS]]
        if notes:
            meta["warnings"] = notes

    def _describe(self, im: Any, f: BinaryIO, blob: Blob, meta: dict[str, Any]) -> None:
        meta["format"] = im.format
        meta["width"], meta["height"] = im.size
        meta["mode"] = im.mode
        png: dict[str, Any] = {}
        if im.format == "PNG":
            png = png_chunks(f, blob.size)
            meta.update({k: v for k, v in png.items() if not k.startswith(("png_exif", "png_xmp", "png_raw"))})
        _guard(meta, "frames", lambda: meta.__setitem__("frames", int(getattr(im, "n_frames", 1))))
        skip = {"exif", "icc_profile", "xmp", "photoshop", "XML:com.adobe.xmp"} | set(png.get("png_text", {}))
        skip |= {k for k in im.info if isinstance(k, str) and k.startswith("Raw profile type")}
        meta["info"] = info_values(im.info, skip)
        _guard(meta, "exif", self._exif, im, png, meta)
        profiles = png.get("png_raw_profiles", {})
        xmp = im.info.get("xmp") or png.get("png_xmp") or (raw_profile(profiles["xmp"]) if "xmp" in profiles
                                                            else None)
        _guard(meta, "xmp", read_xmp, xmp, meta)
        if isinstance(im.info.get("icc_profile"), bytes):
            _guard(meta, "icc", lambda: meta.__setitem__("icc", icc_summary(im.info["icc_profile"])))
        _guard(meta, "iptc", self._iptc, im, meta)
        if im.format == "JPEG":
            _guard(meta, "jpeg", jpeg_details, im, meta)
            _guard(meta, "thumbnail_compare", self._compare, im, f, meta)

    def _compare(self, im: Any, f: BinaryIO, meta: dict[str, Any]) -> None:
        raw = im.info.get("exif")
        if not isinstance(meta.get("thumbnail"), dict) or "width" not in meta["thumbnail"] or not raw:
            return
        found = thumbnail_bytes(raw, exif_from_bytes(raw))
        orientation = (meta.get("exif") or {}).get("ifd0", {}).get("Orientation")
        if found:
            compare_thumbnail(f, found[2], orientation, meta["thumbnail"])

    def _exif(self, im: Any, png: dict[str, Any], meta: dict[str, Any]) -> None:
        raw = im.info.get("exif") or png.get("png_exif")
        profiles = png.get("png_raw_profiles", {})
        if not raw and "exif" in profiles:
            raw = raw_profile(profiles["exif"])
        if isinstance(raw, bytes) and raw:
            read_exif(exif_from_bytes(raw), raw, meta)
        elif isinstance(im, TiffImagePlugin.TiffImageFile):
            read_exif(im.getexif(), None, meta)  # a TIFF's own IFD0, read from the file headers

    def _iptc(self, im: Any, meta: dict[str, Any]) -> None:
        if im.format in ("JPEG", "TIFF"):
            values = iptc_values(im)
            if values:
                meta["iptc"] = values


def format_of(head: bytes) -> str | None:
    """The Pillow format to try, from the magic bytes (the reader is not told the sniffed MIME type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG2000"
    if head[4:8] == b"ftyp":
        return "AVIF"
    return None


def open_headers(f: BinaryIO, fmt: str | None, meta: dict[str, Any]) -> Any:
    """Image.open (lazy: headers only). Past Pillow's pixel limit, open with the plugin itself,
    which reads the same headers without the check: we never decode, so the limit does not apply."""
    formats = [fmt] if fmt else None
    try:
        return Image.open(f, formats=formats)
    except Image.DecompressionBombError as e:
        meta["pixels_over_pillow_limit"] = str(e)[:300]
    except UnidentifiedImageError as e:
        reason = UNSUPPORTED if fmt == "AVIF" else CORRUPT
        raise IngestError(reason, str(e)[:500]) from None
    except PIL_ERRORS as e:
        raise IngestError(CORRUPT, f"{type(e).__name__}: {e}"[:500]) from None
    if fmt is None or fmt not in Image.OPEN or fmt == "AVIF":
        raise IngestError(TOO_LARGE, meta["pixels_over_pillow_limit"])
    f.seek(0)
    factory, _ = Image.OPEN[fmt]
    try:
        return factory(f, "")
    except Image.DecompressionBombError as e:  # some plugins check the size themselves while opening
        raise IngestError(TOO_LARGE, str(e)[:500]) from None
    except PIL_ERRORS as e:
        raise IngestError(CORRUPT, f"{type(e).__name__}: {e}"[:500]) from None


READERS: list[type] = [ImageReader]
