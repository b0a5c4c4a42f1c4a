"""Readers of archives: zip, tar, gzip/bzip2/xz (tarballs included), 7z, and a listing of rar.

Every member is copied out through `ctx.blob_from_stream`, which enforces the size, ratio
and per-source budget caps; nothing is ever extracted to disk. Member names are cleaned to
relative path components ("../../x" becomes "x"); the name as written is kept in the
member's metadata. Links and devices are recorded, never followed.
"""

from __future__ import annotations

import bz2
import io
import lzma
import queue
import re
import stat
import struct
import tarfile
import threading
import zipfile
import zlib
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO, Iterator, Self, cast

import py7zr
import py7zr.exceptions
import py7zr.helpers
import py7zr.io

from . import sniff
from .base import (BOMB, CORRUPT, ENCRYPTED, TOO_LARGE, TRUNCATED, UNSUPPORTED, Blob, Child, Context,
                   IngestError, Limits)
from .support.names import path_parts

MAX_LISTED = 1000  # links, rar members ... kept in an archive's metadata
LINK_TARGET_BYTES = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")


# --- shared helpers -------------------------------------------------------------------------

def clean_member_name(written: str) -> str:
    """A member path reduced to relative components: no root, drive, "." or ".."."""
    return "/".join(path_parts(_DRIVE.sub("", written, count=1))) or "unnamed"


def _name_meta(written: str) -> tuple[str, dict[str, Any]]:
    name = clean_member_name(written)
    return name, ({"name_as_written": _printable(written)} if name != written else {})


def _iso_utc(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _filetime_iso(ft: int) -> str | None:
    """A Windows FILETIME (100 ns ticks since 1601, UTC) as ISO 8601."""
    try:
        return (datetime(1601, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ft // 10)).isoformat()
    except OverflowError:
        return None


def _declared_refusal(lim: Limits, declared: int, compressed: int | None) -> IngestError | None:
    """Refuse a member on the sizes its archive declares, before decompressing anything."""
    if declared > lim.max_member_bytes:
        return IngestError(TOO_LARGE, f"declares {declared} bytes, limit {lim.max_member_bytes}")
    if (compressed is not None and declared > lim.ratio_min_bytes
            and declared > lim.max_ratio * max(compressed, 1)):
        return IngestError(BOMB, f"declares {declared} bytes from {compressed} compressed bytes "
                                 f"(over {lim.max_ratio}x)")
    return None


def _stop_if_spent(child: Child, ctx: Context) -> None:
    """A bomb that exhausted the source's budget stops the whole container, not just one member."""
    if child.error is not None and child.error.reason == BOMB and ctx.budget.remaining < 0:
        raise child.error


def _printable(text: str) -> str:
    """Undecodable bytes (kept as surrogates) shown as \\xNN, so metadata stays valid UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _listed(items: list[Any], item: Any) -> None:
    if len(items) < MAX_LISTED:
        items.append(item)


# --- zip ------------------------------------------------------------------------------------

_ZIP_READABLE = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_METHODS = {0: "stored", 1: "shrunk", 6: "imploded", 8: "deflated", 9: "deflate64", 12: "bzip2",
                14: "lzma", 93: "zstd", 95: "xz", 96: "jpeg", 97: "wavpack", 98: "ppmd", 99: "aes"}
_ZIP_SYSTEMS = {0: "ms-dos", 3: "unix", 7: "macintosh", 10: "ntfs", 11: "mvs", 14: "vfat", 19: "os-x"}
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError,
               OSError, ValueError, struct.error)


class ZipReader:
    name = "zip"
    mimes = frozenset({sniff.ZIP})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with blob.open() as f:
            zf = _open_zip(f, blob)
            with zf:
                yield from _zip_members(zf, ctx, blob.size)


def _open_zip(f: BinaryIO, blob: Blob) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except UnicodeDecodeError as e:
        raise IngestError(CORRUPT, f"an entry name flagged UTF-8 is not UTF-8: {e}") from None
    except zipfile.BadZipFile as e:
        msg = str(e)
        if "multiple disks" in msg:
            raise IngestError(UNSUPPORTED, f"multi-volume zip: {msg}") from None
        if msg == "File is not a zip file" and blob.head(4) == b"PK\x03\x04":
            raise IngestError(TRUNCATED, "no central directory: the zip is cut short") from None
        raise IngestError(CORRUPT, msg) from None
    except NotImplementedError as e:
        raise IngestError(UNSUPPORTED, str(e)) from None
    except (OSError, ValueError, EOFError, struct.error) as e:
        raise IngestError(CORRUPT, f"{type(e).__name__}: {e}") from None


def _zip_is_link(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _zip_members(zf: zipfile.ZipFile, ctx: Context, archive_size: int) -> Iterator[Child]:
    infos = zf.infolist()
    dirs = [i for i in infos if i.is_dir()]
    links = [i for i in infos if not i.is_dir() and _zip_is_link(i)]
    files = [i for i in infos if not i.is_dir() and not _zip_is_link(i)]
    ctx.out.children_expected = len(files)
    ctx.out.metadata["archive"] = {
        "format": "zip",
        "entries": len(infos),
        "directories": len(dirs),
        "links": [_zip_link(zf, i) for i in links[:MAX_LISTED]],
        "files": len(files),
        "children_are": "file entries: directories and symbolic links are not children",
        "declared_size": sum(i.file_size for i in files),
        "comment": _zip_text(zf.comment, False),
    }
    for info in files:
        child = _zip_member(zf, info, ctx, archive_size)
        yield child
        _stop_if_spent(child, ctx)


def _zip_text(raw: bytes, utf8: bool) -> str | None:
    if not raw:
        return None
    if utf8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _zip_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    name, meta = _zip_name(info)
    target: str | None = None
    if not info.flag_bits & 0x1 and info.compress_type in _ZIP_READABLE:
        try:
            with zf.open(info) as s:
                target = s.read(LINK_TARGET_BYTES).decode("utf-8", "backslashreplace")
        except _ZIP_ERRORS:
            target = None
    return {"name": name, "type": "symlink", "target": target, **meta}


def _zip_name(info: zipfile.ZipInfo) -> tuple[str, dict[str, Any]]:
    """The entry's cleaned name, and what the metadata should say about how it was written."""
    utf8 = bool(info.flag_bits & 0x800)
    name, meta = _name_meta(info.filename)
    if info.orig_filename != info.filename:  # zipfile cut the name at a NUL byte
        meta["name_as_written"] = info.orig_filename
    raw = info.orig_filename.encode("utf-8" if utf8 else "cp437")
    meta["name_encoding"] = "utf-8" if utf8 else "cp437"
    try:
        as_utf8 = raw.decode("utf-8")
    except UnicodeDecodeError:
        meta["name_hex"] = raw.hex()
    else:
        if not utf8 and not raw.isascii():
            meta["name_if_utf8"] = as_utf8  # many tools write UTF-8 without setting the flag
    return name, meta


def _zip_entry_meta(info: zipfile.ZipInfo) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "date_time": "%04d-%02d-%02dT%02d:%02d:%02d" % info.date_time,  # local time: zip stores no zone
        "create_system": info.create_system,
        "create_system_name": _ZIP_SYSTEMS.get(info.create_system),
        "compress_type": info.compress_type,
        "compress_method": _ZIP_METHODS.get(info.compress_type),
        "crc": f"{info.CRC:08x}",
        "file_size": info.file_size,
        "compress_size": info.compress_size,
    }
    comment = _zip_text(info.comment, bool(info.flag_bits & 0x800))
    if comment:
        meta["comment"] = comment
    meta.update(_zip_extra_times(info.extra))
    return meta


def _zip_extra_times(extra: bytes) -> dict[str, Any]:
    """Timestamps from the extra field: Info-ZIP "UT" (0x5455) and NTFS (0x000a), all UTC."""
    out: dict[str, Any] = {}
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        data = extra[pos + 4:pos + 4 + size]
        pos += 4 + size
        if tag == 0x5455 and len(data) >= 5 and data[0] & 1:
            out["extra_mtime"] = _iso_utc(struct.unpack_from("<i", data, 1)[0])
        elif tag == 0x000A and len(data) >= 32:
            attr_tag, attr_size = struct.unpack_from("<HH", data, 4)
            if attr_tag == 1 and attr_size >= 24:
                mtime, atime, ctime = struct.unpack_from("<QQQ", data, 8)
                out["ntfs_mtime"] = _filetime_iso(mtime)
                out["ntfs_atime"] = _filetime_iso(atime)
                out["ntfs_ctime"] = _filetime_iso(ctime)
        elif tag == 0x7075 and len(data) > 5:  # Info-ZIP Unicode Path
            out["unicode_path_extra"] = data[5:].decode("utf-8", "backslashreplace")
    return out


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: Context, archive_size: int) -> Child:
    name, meta = _zip_name(info)
    meta.update(_zip_entry_meta(info))
    size = info.file_size

    def failed(err: IngestError) -> Child:
        return Child(name=name, error=err, size=size, metadata=meta)

    if info.flag_bits & 0x1:
        scheme = "AES" if info.compress_type == 99 else "ZipCrypto"
        return failed(IngestError(ENCRYPTED, f"entry is encrypted ({scheme})"))
    if info.compress_type not in _ZIP_READABLE:
        method = _ZIP_METHODS.get(info.compress_type, "unknown")
        return failed(IngestError(UNSUPPORTED, f"compression method {info.compress_type} ({method})"))
    # A lying compressed size cannot exceed what the archive holds.
    compressed = min(info.compress_size, archive_size)
    refusal = _declared_refusal(ctx.limits, size, compressed)
    if refusal is not None:
        return failed(refusal)
    try:
        with zf.open(info) as stream:
            data = ctx.blob_from_stream(cast(BinaryIO, stream), size, compressed)
    except IngestError as e:
        return failed(e)
    except _ZIP_ERRORS as e:
        return failed(_zip_error(e))
    return Child(name=name, blob=data, size=size, metadata=meta)


def _zip_error(e: Exception) -> IngestError:
    msg = f"{type(e).__name__}: {e}"
    if isinstance(e, EOFError) or "Truncated" in str(e):
        return IngestError(TRUNCATED, msg)
    if isinstance(e, NotImplementedError):
        return IngestError(UNSUPPORTED, msg)
    if isinstance(e, RuntimeError) and "encrypted" in str(e):
        return IngestError(ENCRYPTED, msg)
    return IngestError(CORRUPT, msg)


# --- tar ------------------------------------------------------------------------------------

class _TarCut(Exception):
    """The tar stream ended inside a header, without its end-of-archive blocks."""


class _TarGarbage(Exception):
    """A header that is not a tar header, past the first one."""


# tarfile's header errors, which typeshed does not declare.
_TAR_CUT_HEADERS = (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError)  # type: ignore[attr-defined]
_TAR_BAD_HEADER = tarfile.InvalidHeaderError  # type: ignore[attr-defined]


class _StrictTarInfo(tarfile.TarInfo):
    """TarInfo that reports a cut or garbled archive instead of letting tarfile end quietly."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tar)
        except _TAR_CUT_HEADERS as e:
            raise _TarCut(str(e)) from None
        except _TAR_BAD_HEADER as e:
            raise _TarGarbage(str(e)) from None


_TAR_TYPES = {tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "chardev",
              tarfile.BLKTYPE: "blockdev", tarfile.FIFOTYPE: "fifo"}


class TarReader:
    name = "tar"
    mimes = frozenset({sniff.TAR})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with blob.open() as f:
            yield from _tar_members(f, ctx, None, "tar")


def _tar_members(stream: BinaryIO, ctx: Context, compressed_size: int | None, fmt: str) -> Iterator[Child]:
    """Regular files of a tar read as a stream, never seeking back."""
    info: dict[str, Any] = {"format": fmt, "directories": 0, "links": [], "other": 0,
                            "children_are": "regular files: directories, links and devices are not children"}
    ctx.out.metadata["archive"] = info
    ctx.out.children_expected = 0
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo, encoding="utf-8",
                          errors="surrogateescape")
    except _TarCut as e:
        raise IngestError(TRUNCATED, f"tar: {e}") from None
    except (tarfile.TarError, _TarGarbage, EOFError, OSError) as e:
        raise IngestError(CORRUPT, f"tar: {e}") from None
    with tf:
        while (member := _tar_next(tf)) is not None:
            tf.members = []  # type: ignore[attr-defined]  # tarfile keeps every header it read; drop them
            if member.isreg():
                ctx.out.children_expected += 1
                child = _tar_child(tf, member, ctx, compressed_size)
                yield child
                _stop_if_spent(child, ctx)
            elif member.isdir():
                info["directories"] += 1
            elif member.type in _TAR_TYPES:
                _listed(info["links"], {"name": _printable(clean_member_name(member.name)),
                                        "type": _TAR_TYPES[member.type],
                                        "target": _printable(member.linkname) or None})
            else:
                info["other"] += 1


def _tar_next(tf: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tf.next()
    except _TarCut as e:
        raise IngestError(TRUNCATED, f"tar ends inside a header: {e}") from None
    except _TarGarbage as e:
        raise IngestError(CORRUPT, f"tar header is not valid: {e}") from None
    except tarfile.ReadError as e:
        reason = TRUNCATED if "unexpected end" in str(e) else CORRUPT
        raise IngestError(reason, f"tar: {e}") from None
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as e:
        raise IngestError(CORRUPT, f"tar: {type(e).__name__}: {e}") from None


def _tar_child(tf: tarfile.TarFile, member: tarfile.TarInfo, ctx: Context, compressed_size: int | None) -> Child:
    name, meta = _name_meta(member.name)
    raw = member.name.encode("utf-8", "surrogateescape")
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            meta["name_hex"] = raw.hex()
    meta.update({"mtime": _iso_utc(member.mtime), "uid": member.uid, "gid": member.gid,
                 "uname": _printable(member.uname) or None, "gname": _printable(member.gname) or None,
                 "mode": oct(member.mode),
                 "size": member.size})
    if member.pax_headers:
        meta["pax"] = {_printable(str(k)): _printable(str(v))[:1000]
                       for k, v in list(member.pax_headers.items())[:50]}
    refusal = _declared_refusal(ctx.limits, member.size, compressed_size)
    if refusal is not None:
        return Child(name=name, error=refusal, size=member.size, metadata=meta)
    try:
        stream = tf.extractfile(member)
        if stream is None:
            raise IngestError(CORRUPT, "member has no data")
        with stream:
            data = ctx.blob_from_stream(cast(BinaryIO, stream), member.size, compressed_size)
    except IngestError as e:
        return Child(name=name, error=e, size=member.size, metadata=meta)
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        reason = TRUNCATED if "unexpected end" in str(e) else CORRUPT
        return Child(name=name, error=IngestError(reason, f"tar: {e}"), size=member.size, metadata=meta)
    return Child(name=name, blob=data, size=member.size, metadata=meta)


# --- gzip, bzip2, xz ------------------------------------------------------------------------

_COMPRESSED_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
_COMPRESSED_SUFFIXES = {
    ".gz": "", ".gzip": "", ".z": "", ".tgz": ".tar", ".taz": ".tar", ".svgz": ".svg", ".emz": ".emf",
    ".wmz": ".wmf", ".bz2": "", ".bz": "", ".tbz": ".tar", ".tbz2": ".tar", ".xz": "", ".txz": ".tar",
}
_READ_CHUNK = 256 * 1024


class _Gunzip:
    """zlib's gzip decompressor behind the interface of bz2's and lzma's."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(31)

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._z.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._z.decompress(self._z.unconsumed_tail + data, max_length)


def _decompressor(fmt: str) -> Any:
    if fmt == "gzip":
        return _Gunzip()
    if fmt == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


class _Unpacker(io.RawIOBase):
    """The decompressed bytes of concatenated gzip, bzip2 or xz streams, capped in total.

    Zero padding after the last stream is allowed; other trailing bytes end the data and are
    counted in `trailing_bytes`. Errors are sticky: a cut or corrupt stream raises IngestError
    on every later read.
    """

    def __init__(self, raw: BinaryIO, fmt: str, cap: int) -> None:
        self._raw, self._fmt, self._cap = raw, fmt, cap
        self._d = _decompressor(fmt)
        self._pending = b""  # compressed bytes read but not yet fed
        self._done = False
        self._error: IngestError | None = None
        self.streams = 1
        self.out_bytes = 0
        self.padding_bytes = 0
        self.trailing_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._error is not None:
            raise self._error
        if self._done:
            return 0
        try:
            data = self._next(len(b))
        except IngestError as e:
            self._error = e
            raise
        b[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end, so the last checksums and trailing bytes are checked."""
        while self.read(_READ_CHUNK):
            pass

    def _next(self, n: int) -> bytes:
        idle = 0
        while True:
            if self._d.eof:
                if not self._next_stream():
                    self._done = True
                    return b""
                continue
            data = b""
            if self._d.needs_input:
                data, self._pending = self._pending or self._raw.read(_READ_CHUNK), b""
                if not data:
                    raise IngestError(TRUNCATED, f"{self._fmt} data ends before its end-of-stream marker "
                                                 f"({self.out_bytes} bytes decompressed)")
            try:
                out: bytes = self._d.decompress(data, n)
            except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as e:
                raise IngestError(CORRUPT, f"{self._fmt}: {e} (after {self.out_bytes} bytes)") from None
            if out:
                self.out_bytes += len(out)
                if self.out_bytes > self._cap:
                    raise IngestError(BOMB, f"{self._fmt} expands over {self._cap} bytes")
                return out
            idle = 0 if data else idle + 1
            if idle > 3:  # no input taken, no output given: the decompressor is stuck
                raise IngestError(CORRUPT, f"{self._fmt}: decompressor makes no progress")

    def _next_stream(self) -> bool:
        """After one stream's end: start the next one, or note padding and trailing bytes."""
        rest = self._d.unused_data + self._pending
        self._pending = b""
        magic = _COMPRESSED_MAGIC[self._fmt]
        while True:
            stripped = rest.lstrip(b"\x00")
            self.padding_bytes += len(rest) - len(stripped)
            rest = stripped
            if len(rest) >= len(magic):
                break
            more = self._raw.read(_READ_CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            return False
        if rest.startswith(magic):
            self.streams += 1
            self._d = _decompressor(self._fmt)
            self._pending = rest
            return True
        self.trailing_bytes = len(rest)
        while more := self._raw.read(_READ_CHUNK):
            self.trailing_bytes += len(more)
        return False

    def summary(self) -> dict[str, Any]:
        return {"streams": self.streams, "decompressed_size": self.out_bytes,
                "padding_bytes": self.padding_bytes, "trailing_bytes": self.trailing_bytes}


def _gzip_header(head: bytes) -> dict[str, Any]:
    """FNAME, MTIME, OS and comment of the first gzip member (RFC 1952)."""
    out: dict[str, Any] = {}
    if len(head) < 10 or head[2] != 8:
        return out
    flags = head[3]
    mtime = struct.unpack_from("<I", head, 4)[0]
    out["gzip_mtime"] = _iso_utc(mtime) if mtime else None
    out["gzip_os"] = head[9]
    pos = 10
    if flags & 0x04:
        if pos + 2 > len(head):
            return out
        pos += 2 + struct.unpack_from("<H", head, pos)[0]
    for flag, key in ((0x08, "gzip_fname"), (0x10, "gzip_comment")):
        if flags & flag:
            end = head.find(b"\x00", pos)
            if end < 0:
                return out
            raw = head[pos:end]
            try:
                out[key] = raw.decode("utf-8")  # RFC says latin-1; most tools write the file system's bytes
            except UnicodeDecodeError:
                out[key] = raw.decode("latin-1")
                out[key + "_hex"] = raw.hex()
            pos = end + 1
    return out


def _stem_name(item_name: str) -> str:
    """The item's own name minus its compression suffix: "a.txt.gz" -> "a.txt", "x.tgz" -> "x.tar"."""
    base = item_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and "." + ext.lower() in _COMPRESSED_SUFFIXES:
        return stem + _COMPRESSED_SUFFIXES["." + ext.lower()]
    return base or "unnamed"


class CompressedReader:
    """A gzip, bzip2 or xz file: a tarball's members, or the one file it compresses."""

    name = "compressed"
    mimes = frozenset({sniff.GZIP, sniff.BZIP2, sniff.XZ})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        head = blob.head(65536)
        fmt = next((k for k, m in _COMPRESSED_MAGIC.items() if head.startswith(m)), None)
        if fmt is None:
            raise IngestError(CORRUPT, "no gzip, bzip2 or xz magic")
        lim = ctx.limits
        cap = max(lim.ratio_min_bytes, lim.max_ratio * blob.size)
        header = _gzip_header(head) if fmt == "gzip" else {}
        if _holds_tar(blob, fmt, cap):
            yield from self._tarball(blob, ctx, fmt, cap, header)
        else:
            yield from self._single(blob, ctx, fmt, cap, header)

    def _tarball(self, blob: Blob, ctx: Context, fmt: str, cap: int, header: dict[str, Any]) -> Iterator[Child]:
        with blob.open() as f:
            unpacker = _Unpacker(f, fmt, cap)
            stream = io.BufferedReader(unpacker, 1024 * 1024)
            try:
                yield from _tar_members(stream, ctx, blob.size, f"tar+{fmt}")
                unpacker.drain()
            finally:
                ctx.out.metadata["archive"].update(header, **unpacker.summary())
            _check_trailing(unpacker, fmt)

    def _single(self, blob: Blob, ctx: Context, fmt: str, cap: int, header: dict[str, Any]) -> Iterator[Child]:
        meta: dict[str, Any] = {"format": fmt, **header}
        ctx.out.metadata["archive"] = meta
        ctx.out.children_expected = 1
        written = header.get("gzip_fname")
        if written:
            name, name_meta = _name_meta(written)
            name_meta["name_from"] = "gzip header"
        else:
            name, name_meta = _stem_name(ctx.name), {"name_from": "item name"}
        with blob.open() as f:
            unpacker = _Unpacker(f, fmt, cap)
            try:
                data = ctx.blob_from_stream(io.BufferedReader(unpacker, 1024 * 1024), None, blob.size)
            except IngestError as e:
                child = Child(name=name, error=e, metadata=name_meta)
            else:
                child = Child(name=name, blob=data, size=data.size, metadata=name_meta)
            meta.update(unpacker.summary())
        yield child
        _stop_if_spent(child, ctx)
        if child.error is None:
            _check_trailing(unpacker, fmt)


def _holds_tar(blob: Blob, fmt: str, cap: int) -> bool:
    """Whether the decompressed data starts with a ustar header."""
    with blob.open() as f:
        unpacker = _Unpacker(f, fmt, cap)
        head = b""
        try:
            while len(head) < 512 and (chunk := unpacker.read(512 - len(head))):
                head += chunk
        except IngestError:
            pass
    return len(head) >= 262 and head[257:262] == b"ustar"


def _check_trailing(unpacker: _Unpacker, fmt: str) -> None:
    if unpacker.trailing_bytes:
        raise IngestError(CORRUPT, f"{unpacker.trailing_bytes} bytes of trailing data after the {fmt} stream")


# --- 7z -------------------------------------------------------------------------------------

_7Z_ERRORS = (py7zr.exceptions.ArchiveError, lzma.LZMAError, zlib.error, EOFError, OSError, ValueError,
              IndexError, KeyError, struct.error, NotImplementedError)
_7Z_RESTARTS = 8  # extraction runs after failures, per archive
_FEED_DEPTH = 4  # decompressed chunks in flight between py7zr's thread and the reader ...
_FEED_CHUNK = 1024 * 1024  # ... of at most this size


def _7z_error(e: BaseException) -> IngestError:
    msg = f"{type(e).__name__}: {e}"[:500]
    if isinstance(e, py7zr.exceptions.PasswordRequired):
        return IngestError(ENCRYPTED, "password required")
    if isinstance(e, py7zr.exceptions.UnsupportedCompressionMethodError):
        return IngestError(UNSUPPORTED, msg)
    if isinstance(e, py7zr.exceptions.DecompressionBombError):
        return IngestError(BOMB, f"expansion budget of this source exhausted ({msg})")
    if isinstance(e, EOFError):
        return IngestError(TRUNCATED, msg)
    return IngestError(CORRUPT, msg)


def _7z_volume_check(blob: Blob, name: str) -> None:
    """A 7z whose header lies past its end is one volume of several, or a cut file."""
    head = blob.head(32)
    if len(head) < 32:
        raise IngestError(TRUNCATED, "7z signature header is cut")
    next_offset, next_size = struct.unpack_from("<QQ", head, 12)
    needed = 32 + next_offset + next_size
    if blob.size >= needed:
        return
    if re.search(r"\.\d{3}$", name):
        raise IngestError(UNSUPPORTED, f"multi-volume 7z: this volume holds {blob.size} of at least {needed} "
                                       "bytes and volumes are not joined")
    raise IngestError(TRUNCATED, f"7z is cut: {blob.size} of at least {needed} bytes")


class SevenZipReader:
    name = "7z"
    mimes = frozenset({sniff.SEVENZ})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        _7z_volume_check(blob, ctx.name)
        with blob.open() as f:
            try:
                szf = py7zr.SevenZipFile(f, mode="r")
            except py7zr.exceptions.PasswordRequired:
                raise IngestError(ENCRYPTED, "7z header is encrypted: member names are hidden") from None
            except _7Z_ERRORS as e:
                raise _7z_error(e) from None
            try:
                yield from _7z_members(szf, ctx, blob.size)
            finally:
                szf.close()


def _7z_members(szf: py7zr.SevenZipFile, ctx: Context, archive_size: int) -> Iterator[Child]:
    entries = list(szf.files)
    links = [e for e in entries if not e.is_directory and (e.is_symlink or e.is_junction)]
    link_ids = {e.id for e in links}
    files = [e for e in entries if not e.is_directory and e.id not in link_ids and not e.is_socket]
    info: dict[str, Any] = {
        "format": "7z", "entries": len(entries), "files": len(files), "links": [],
        "directories": sum(1 for e in entries if e.is_directory), "encrypted": szf.needs_password(),
        "declared_size": sum(e.uncompressed or 0 for e in files),
        "children_are": "file entries: directories and links are not children",
    }
    ctx.out.metadata["archive"] = info
    ctx.out.children_expected = len(files)
    for e in links[:MAX_LISTED]:
        _listed(info["links"], {"name": clean_member_name(e.filename), "type": "symlink"})
    wanted = []
    for e in files:
        err = _7z_refusal(e, szf, ctx, archive_size)
        if err is None:
            wanted.append(e)
        else:
            yield _7z_child(e, error=err)
    yield from _7z_extract(szf, wanted, ctx, archive_size)


def _7z_refusal(e: py7zr.py7zr.ArchiveFile, szf: py7zr.SevenZipFile, ctx: Context,
                archive_size: int) -> IngestError | None:
    if szf.needs_password():
        return IngestError(ENCRYPTED, "password required")
    try:
        _7z_key(e.filename)
    except (py7zr.exceptions.Bad7zFile, OSError):
        return IngestError(UNSUPPORTED, f"py7zr refuses to extract a member named {e.filename!r}")
    return _declared_refusal(ctx.limits, e.uncompressed or 0, e.compressed or archive_size)


def _7z_key(outname: str) -> str:
    """The name py7zr hands to the writer factory for a member it writes as `outname`."""
    return py7zr.helpers.get_sanitized_output_path(outname, None).as_posix()


def _7z_child(e: py7zr.py7zr.ArchiveFile, blob: Blob | None = None, error: IngestError | None = None) -> Child:
    name, meta = _name_meta(e.filename)
    when = e.lastwritetime
    meta.update({"mtime": _filetime_iso(int(when)) if when is not None else None,
                 "crc32": f"{e.crc32:08x}" if e.crc32 is not None else None,
                 "uncompressed": e.uncompressed, "compressed": e.compressed,
                 "posix_mode": oct(e.posix_mode) if e.posix_mode is not None else None})
    return Child(name=name, blob=blob, error=error, size=e.uncompressed, metadata=meta)


def _7z_extract(szf: py7zr.SevenZipFile, wanted: list[Any], ctx: Context, archive_size: int) -> Iterator[Child]:
    """Members as py7zr decompresses them; a run that fails restarts with the members left."""
    left = {e.id: e for e in wanted}
    for _ in range(_7Z_RESTARTS):
        if not left:
            return
        szf.reset()
        szf.max_extract_size = max(ctx.budget.remaining, 1)  # py7zr's own guard, for members it skips over
        run = _SevenZipRun(szf, left)
        try:
            for e, child in run.children(ctx, archive_size):
                del left[e.id]
                yield child
                _stop_if_spent(child, ctx)
        finally:
            run.stop()
        if run.failure is not None and run.failure.reason == BOMB:
            raise run.failure  # py7zr's guard, set to what is left of the budget, went off
        if run.completed or (run.failure is not None and not run.progressed):
            break
    failure = run.failure if run.failure is not None else IngestError(CORRUPT, "py7zr did not extract it")
    for e in sorted(left.values(), key=lambda x: x.id):
        yield _7z_child(e, error=IngestError(failure.reason, f"extraction stopped: {failure.detail}"))


class _Stopped(Exception):
    """The reader no longer wants py7zr's output."""


class _Feed:
    """Events from py7zr's extracting thread to the reader: start, data, end, done."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_FEED_DEPTH)
        self._stop = threading.Event()
        self.producer: threading.Thread | None = None

    def put(self, kind: str, value: Any = None) -> None:
        while not self._stop.is_set():
            try:
                self._q.put((kind, value), timeout=0.05)
                return
            except queue.Full:
                continue
        raise _Stopped()

    def get(self) -> tuple[str, Any]:
        while True:
            try:
                return self._q.get(timeout=0.5)
            except queue.Empty:
                if self.producer is not None and not self.producer.is_alive() and self._q.empty():
                    return "done", RuntimeError("the 7z extracting thread ended without a word")

    def stop(self) -> None:
        self._stop.set()


class _FeedWriter(py7zr.io.Py7zIO):
    """What py7zr writes one member into: chunks handed to the reader."""

    def __init__(self, feed: _Feed, filename: str) -> None:
        self._feed = feed
        self._size = 0
        feed.put("start", filename)

    def write(self, s: bytes | bytearray) -> int:
        view = memoryview(s)
        for start in range(0, len(view), _FEED_CHUNK):  # py7zr writes up to 128 MB at once
            self._feed.put("data", bytes(view[start:start + _FEED_CHUNK]))
        self._size += len(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self._size

    def close(self) -> None:  # py7zr calls it once a member is complete and its CRC checked
        self._feed.put("end")


class _FeedFactory(py7zr.io.WriterFactory):
    def __init__(self, feed: _Feed) -> None:
        self._feed = feed

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        return _FeedWriter(self._feed, filename)


class _RunFailed(Exception):
    def __init__(self, error: IngestError) -> None:
        super().__init__(str(error))
        self.error = error


class _MemberStream(io.RawIOBase):
    """One member's bytes, read from the feed until its end event."""

    def __init__(self, feed: _Feed) -> None:
        self._feed = feed
        self._buf = b""
        self._pos = 0
        self.finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            if self.finished:
                return 0
            kind, value = self._feed.get()
            if kind == "data":
                self._buf, self._pos = value, 0
            elif kind == "end":
                self.finished = True
            else:  # "done" (or another "start") before "end": py7zr failed inside this member
                self.finished = True
                err = value if kind == "done" and value is not None else RuntimeError("member ended early")
                raise _RunFailed(_7z_error(err))
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n


class _SevenZipRun:
    """One py7zr extraction of the members left, in a thread that feeds the reader chunk by chunk.

    py7zr pushes data into writers; the reader pulls, so that each member goes through
    ctx.blob_from_stream (caps, spilling) and only a few chunks are ever in memory.
    """

    def __init__(self, szf: py7zr.SevenZipFile, left: dict[int, Any]) -> None:
        self._szf = szf
        self._left = left
        self._feed = _Feed()
        self._keys = self._key_map(szf, left)
        self._thread = threading.Thread(target=self._extract, daemon=True, name="leaksift-7z")
        self.failure: IngestError | None = None
        self.progressed = False
        self.completed = False  # py7zr went through every member it was asked for
        self._feed.producer = self._thread
        self._thread.start()

    @staticmethod
    def _key_map(szf: py7zr.SevenZipFile, left: dict[int, Any]) -> dict[str, deque[Any]]:
        """Which member each writer name stands for, renaming duplicates as py7zr does."""
        targets = {e.filename for e in left.values()}
        seen: dict[str, int] = {}
        keys: dict[str, deque[Any]] = {}
        for f in szf.files:
            if f.filename not in targets:
                continue
            if f.filename in seen:
                outname = f"{f.filename}_{seen[f.filename]}"
                seen[f.filename] += 1
            else:
                outname, seen[f.filename] = f.filename, 0
            try:
                keys.setdefault(_7z_key(outname), deque()).append(f)
            except (py7zr.exceptions.Bad7zFile, OSError):
                continue
        return keys

    def _extract(self) -> None:
        targets = sorted({e.filename for e in self._left.values()})
        error: Exception | None = None
        try:
            self._szf.extract(targets=targets, factory=_FeedFactory(self._feed))
        except _Stopped:
            return
        except Exception as e:  # noqa: BLE001 - handed to the reader, which maps it to a reason
            error = e
        try:
            self._feed.put("done", error)
        except _Stopped:
            pass

    def children(self, ctx: Context, archive_size: int) -> Iterator[tuple[Any, Child]]:
        while True:
            kind, value = self._feed.get()
            if kind == "done":
                if value is not None:
                    self.failure = _7z_error(value)
                self.completed = value is None
                return
            if kind != "start":
                continue
            queue_ = self._keys.get(value)
            entry = queue_.popleft() if queue_ else None
            stream = _MemberStream(self._feed)
            if entry is None or entry.id not in self._left:
                self._skip(stream)
                if self.failure is not None:
                    return
                continue
            child = self._member(entry, stream, ctx, archive_size)
            self.progressed = True
            yield entry, child
            if not stream.finished or self.failure is not None:
                return  # the member was refused half-way or py7zr failed: restart after it

    def _skip(self, stream: _MemberStream) -> None:
        try:
            while stream.read(_READ_CHUNK):
                pass
        except _RunFailed as e:
            self.failure = e.error

    def _member(self, entry: Any, stream: _MemberStream, ctx: Context, archive_size: int) -> Child:
        try:
            data = ctx.blob_from_stream(io.BufferedReader(stream, _READ_CHUNK), entry.uncompressed,
                                        entry.compressed or archive_size)
        except IngestError as e:
            return _7z_child(entry, error=e)
        except _RunFailed as e:
            self.failure = e.error
            return _7z_child(entry, error=e.error)
        return _7z_child(entry, blob=data)

    def stop(self) -> None:
        self._feed.stop()
        self._thread.join()


# --- rar ------------------------------------------------------------------------------------

_RAR5 = b"Rar!\x1a\x07\x01\x00"
_RAR4 = b"Rar!\x1a\x07\x00"
_RAR5_MAX_HEADER = 2 * 1024 * 1024  # the format's own limit


class RarReader:
    """RAR cannot be extracted without a non-free tool: list what the headers say, then refuse."""

    name = "rar"
    mimes = frozenset({sniff.RAR})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        info: dict[str, Any] = {"format": "rar", "members": []}
        ctx.out.metadata["archive"] = info
        with blob.open() as f:
            try:
                if blob.head(8) == _RAR5:
                    info["version"] = 5
                    _rar5_list(f, blob.size, info)
                else:
                    info["version"] = 4
                    _rar4_list(f, blob.size, info)
            except (struct.error, ValueError, IndexError, OSError) as e:
                info["listing_error"] = f"{type(e).__name__}: {e}"
        raise IngestError(UNSUPPORTED, f"RAR archives are not extracted ({len(info['members'])} members listed)")
        yield  # pragma: no cover - makes this a generator like the other readers


def _vint(buf: bytes, pos: int) -> tuple[int, int]:
    """A RAR5 variable-length integer: 7 bits a byte, high bit set on all but the last."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("RAR vint too long")


def _rar5_list(f: BinaryIO, size: int, info: dict[str, Any]) -> None:
    pos = len(_RAR5)
    while pos < size and len(info["members"]) < MAX_LISTED:
        f.seek(pos)
        head = f.read(4 + 3)
        if len(head) < 7:
            return
        hsize, p = _vint(head, 4)
        if hsize > _RAR5_MAX_HEADER:
            raise ValueError(f"RAR5 header of {hsize} bytes")
        block = head + f.read(max(0, p + hsize - len(head)))
        if len(block) < p + hsize:
            info["truncated"] = True
            return
        htype, q = _vint(block, p)
        hflags, q = _vint(block, q)
        if hflags & 0x1:
            _, q = _vint(block, q)
        data_size = 0
        if hflags & 0x2:
            data_size, q = _vint(block, q)
        if htype == 4:  # archive encryption header: everything after it is encrypted
            info["headers_encrypted"] = True
            return
        if htype == 5:
            return
        if htype == 2:
            info["members"].append(_rar5_file(block, q))
        pos += p + hsize + data_size


def _rar5_file(block: bytes, q: int) -> dict[str, Any]:
    fflags, q = _vint(block, q)
    unpacked, q = _vint(block, q)
    _, q = _vint(block, q)  # attributes
    mtime = None
    if fflags & 0x2:
        mtime = _iso_utc(struct.unpack_from("<I", block, q)[0])
        q += 4
    if fflags & 0x4:
        q += 4
    _, q = _vint(block, q)  # compression
    _, q = _vint(block, q)  # host os
    nlen, q = _vint(block, q)
    written = block[q:q + nlen].decode("utf-8", "backslashreplace")
    return {"name": clean_member_name(written), "size": unpacked, "directory": bool(fflags & 0x1), "mtime": mtime}


def _rar4_list(f: BinaryIO, size: int, info: dict[str, Any]) -> None:
    pos = len(_RAR4)
    while pos + 7 <= size and len(info["members"]) < MAX_LISTED:
        f.seek(pos)
        head = f.read(7)
        if len(head) < 7:
            return
        _, htype, hflags, hsize = struct.unpack("<HBHH", head)
        if hsize < 7:
            return
        block = head + f.read(hsize - 7)
        add = struct.unpack_from("<I", block, 7)[0] if hflags & 0x8000 and len(block) >= 11 else 0
        if htype == 0x73 and hflags & 0x80:
            info["headers_encrypted"] = True
            return
        if htype == 0x7B:
            return
        if htype == 0x74 and len(block) >= 32:
            info["members"].append(_rar4_file(block, hflags))
            if hflags & 0x100 and len(block) >= 40:
                add += struct.unpack_from("<I", block, 32)[0] << 32
        pos += hsize + add


def _rar4_file(block: bytes, hflags: int) -> dict[str, Any]:
    unpacked = struct.unpack_from("<I", block, 11)[0]
    nsize = struct.unpack_from("<H", block, 26)[0]
    start = 32 + (8 if hflags & 0x100 else 0)
    raw = block[start:start + nsize]
    if hflags & 0x200 and b"\x00" in raw:  # ASCII name, then a compressed Unicode form
        raw = raw.split(b"\x00", 1)[0]
    try:
        written = raw.decode("utf-8")
    except UnicodeDecodeError:
        written = raw.decode("cp437")
    return {"name": clean_member_name(written), "size": unpacked,
            "directory": hflags & 0xE0 == 0xE0, "encrypted": bool(hflags & 0x4)}


READERS: list[type] = [ZipReader, TarReader, CompressedReader, SevenZipReader, RarReader]
