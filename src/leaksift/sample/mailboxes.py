"""Where each copy of a message is filed: one mailbox per campaign member, each in its own format.

  mailboxes/<owner>/Maildir/{cur,new,tmp}/...         Maildir (Dovecot names; .Sent is a Maildir++ folder)
  mbox/<owner>/<YYYY-MM>.mbox, mbox/<owner>/Sent.mbox  mboxrd: body lines matching ^>*From get one more >
  apple/<owner>/Mail/V4/<uuid>/INBOX.mbox/.../<n>.emlx Apple Mail: byte count line, message, plist
  eml/<owner>/<nnnn> - <subject>.eml                   loose files, CRLF and LF alternating
  archives/<owner>-messages.zip                        a zip of .eml files (CRLF)
  archives/export.tar.gz                               tar > export/nicolas.petit-mail.zip > mail/<YYYY-MM>.mbox
Files are written as messages arrive (the nested export, small by design, is assembled in memory at the end).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from .docs import DocFile
from .manifest import SENT, Location
from .people import EML, EMLX, MAILDIR, MBOX, NESTED, ZIP, Person, local_time, person

CRLF = b"\r\n"
APPLE_ACCOUNT = "5C3A9E0B-7E41-4D6B-9C2F-1B8D2A7F4E10"
APPLE_STORE = "0F6B1D2E-3A4C-4B5D-8E9F-A1B2C3D4E5F6"
EXPORT_TIME = datetime(2017, 5, 4, 21, 10, tzinfo=timezone.utc)  # when the IT manager made the export
NESTED_ZIP = "export/nicolas.petit-mail.zip"
_FROM_LINE = re.compile(rb"^(>*From )", re.M)
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.M)


def mboxrd_escape(message: bytes) -> bytes:
    return _FROM_LINE.sub(rb">\1", message)


def mbox_entry(sender: str, when: datetime, lf_message: bytes) -> bytes:
    """One mboxrd entry: the From_ line (UTC asctime), the escaped message, a blank line."""
    t = when.astimezone(timezone.utc)
    head = f"From {sender} {t:%a %b} {t.day:2d} {t:%H:%M:%S %Y}\n".encode()
    body = mboxrd_escape(lf_message)
    if not body.endswith(b"\n"):
        body += b"\n"
    return head + body + b"\n"


def _slug(subject: str, n: int) -> str:
    words = re.sub(r"[^\w\- ]+", "", subject).split()
    return f"{n:04d} - {' '.join(words)[:50].strip() or 'message'}"


def _lf(raw: bytes) -> bytes:
    return raw.replace(CRLF, b"\n")


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    t = when.timetuple()
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def _emlx_plist(when: datetime, n: int, seen: bool) -> bytes:
    flags = 8590195713 if seen else 8590195712
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n'
        f"\t<key>date-received</key>\n\t<integer>{int(when.timestamp())}</integer>\n"
        f"\t<key>flags</key>\n\t<integer>{flags}</integer>\n"
        f"\t<key>remote-id</key>\n\t<string>{n - 10000}</string>\n"
        "</dict>\n</plist>\n").encode()


class MailboxWriter:
    """Files message copies into their owners' mailboxes; `close` finishes the archives."""

    def __init__(self, out_dir: Path) -> None:
        self.out = out_dir
        self.counters: dict[str, int] = {}
        self.mbox_files: dict[Path, BinaryIO] = {}
        self.zips: dict[Path, zipfile.ZipFile] = {}
        self.nested_mbox: dict[str, list[bytes]] = {}
        self.nested_eml: list[tuple[str, bytes]] = []
        self.archives: dict[str, list[str]] = {}
        self.written: dict[str, int] = {}  # format -> items
        self.made: set[Path] = set()  # folders already created

    def _folder(self, path: Path) -> Path:
        if path not in self.made:
            path.mkdir(parents=True, exist_ok=True)
            self.made.add(path)
        return path

    def _next(self, key: str, start: int = 1) -> int:
        self.counters[key] = self.counters.get(key, start - 1) + 1
        return self.counters[key]

    def _count(self, fmt: str, n: int = 1) -> None:
        self.written[fmt] = self.written.get(fmt, 0) + n

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def add(self, owner: Person, form: str, message_id: str, subject: str, sender: str, raw: bytes,
            when: datetime, dkim: str, line_ending: str | None = None) -> Location:
        """File one copy (CRLF bytes) delivered or saved at `when`; returns where it went."""
        fmt = owner.fmt
        if fmt == MAILDIR:
            return self._maildir(owner, form, message_id, raw, when, dkim)
        if fmt == MBOX:
            return self._mbox(owner, form, sender, raw, when, dkim)
        if fmt == EMLX:
            return self._emlx(owner, form, message_id, raw, when, dkim)
        if fmt == EML:
            return self._eml(owner, form, subject, raw, when, dkim, line_ending)
        if fmt == ZIP:
            return self._zip(owner, form, subject, raw, when, dkim)
        if fmt == NESTED:
            return self._nested(form, subject, sender, raw, when, dkim)
        raise ValueError(f"{owner.key} has no mailbox format")

    def _maildir(self, owner: Person, form: str, message_id: str, raw: bytes, when: datetime,
                 dkim: str) -> Location:
        base = self.out / "mailboxes" / owner.key / "Maildir"
        folder = base / ".Sent" if form == SENT else base
        if folder not in self.made:
            for sub in ("cur", "new", "tmp"):
                self._folder(folder / sub)
            self.made.add(folder)
            if folder != base:
                (folder / "maildirfolder").write_bytes(b"")
        lf = _lf(raw)
        h = hashlib.sha1(message_id.encode()).digest()
        q = self._next(f"maildir/{owner.key}")
        epoch = int(when.timestamp())
        name = (f"{epoch}.M{int.from_bytes(h[:3], 'big') % 1000000}P{1000 + h[3] * 37}Q{q}.imap.campaign.example"
                f",S={len(lf)},W={len(raw)}")
        unread = form != SENT and (h[4] < 13 or q == 2)  # one in twenty, and the 2nd: in new/, no flags
        path = folder / "new" / name if unread else folder / "cur" / (name + ":2," + ("RS" if h[5] < 40 else "S"))
        path.write_bytes(lf)
        os.utime(path, (epoch, epoch))
        self._count("maildir")
        return Location(self._rel(path), form, "lf", dkim)

    def _mbox(self, owner: Person, form: str, sender: str, raw: bytes, when: datetime, dkim: str) -> Location:
        name = "Sent.mbox" if form == SENT else f"{local_time(owner, when):%Y-%m}.mbox"
        path = self.out / "mbox" / owner.key / name
        fh = self.mbox_files.get(path)
        if fh is None:
            self._folder(path.parent)
            fh = self.mbox_files[path] = open(path, "wb")
            self._count("mbox")
        fh.write(mbox_entry(sender, when, _lf(raw)))
        n = self._next(str(path))
        self._count("mbox_messages")
        return Location(f"{self._rel(path)}#{n}", form, "lf", dkim)

    def _emlx(self, owner: Person, form: str, message_id: str, raw: bytes, when: datetime, dkim: str) -> Location:
        box = "Sent Messages.mbox" if form == SENT else "INBOX.mbox"
        folder = self._folder(self.out / "apple" / owner.key / "Mail" / "V4" / APPLE_ACCOUNT / box / APPLE_STORE /
                              "Data" / "Messages")
        n = self._next("emlx", start=10234)
        lf = _lf(raw)
        seen = hashlib.sha1(message_id.encode()).digest()[0] > 12
        path = folder / f"{n}.emlx"
        path.write_bytes(f"{len(lf):<10}\n".encode() + lf + _emlx_plist(when, n, seen))
        os.utime(path, (when.timestamp(), when.timestamp()))
        self._count("emlx")
        return Location(self._rel(path), form, "lf", dkim)

    def _eml(self, owner: Person, form: str, subject: str, raw: bytes, when: datetime, dkim: str,
             line_ending: str | None) -> Location:
        folder = self._folder(self.out / "eml" / owner.key / ("Sent" if form == SENT else ""))
        n = self._next(f"eml/{owner.key}")
        ending = line_ending or ("crlf" if n % 2 else "lf")
        path = folder / (_slug(subject, n) + ".eml")
        path.write_bytes(raw if ending == "crlf" else _lf(raw))
        os.utime(path, (when.timestamp(), when.timestamp()))
        self._count("eml")
        return Location(self._rel(path), form, ending, dkim)

    def _zip(self, owner: Person, form: str, subject: str, raw: bytes, when: datetime, dkim: str) -> Location:
        path = self.out / "archives" / f"{owner.key}-messages.zip"
        zf = self.zips.get(path)
        if zf is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            zf = self.zips[path] = zipfile.ZipFile(path, "w")
            self._count("zip")
        n = self._next(str(path))
        member = f"{'Sent Items' if form == SENT else 'Messages'}/{_slug(subject, n)}.eml"
        info = zipfile.ZipInfo(member, date_time=_zip_time(local_time(owner, when)))
        info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
        zf.writestr(info, raw)
        self.archives.setdefault(self._rel(path), []).append(member)
        self._count("eml")
        return Location(f"{self._rel(path)}!{member}", form, "crlf", dkim)

    def _nested(self, form: str, subject: str, sender: str, raw: bytes, when: datetime, dkim: str) -> Location:
        n = self._next("nested")
        outer = f"archives/export.tar.gz!{NESTED_ZIP}"
        if n % 8 == 0:  # a few messages saved from Thunderbird as .eml next to the mbox files
            member = f"mail/saved/{_slug(subject, n)}.eml"
            self.nested_eml.append((member, raw))
            self._count("eml")
            return Location(f"{outer}!{member}", form, "crlf", dkim)
        month = "Sent" if form == SENT else f"{local_time(person('nicolas.petit'), when):%Y-%m}"
        entries = self.nested_mbox.setdefault(month, [])
        entries.append(mbox_entry(sender, when, _lf(raw)))
        self._count("mbox_messages")
        return Location(f"{outer}!mail/{month}.mbox#{len(entries)}", form, "lf", dkim)

    def close(self, export_docs: list[DocFile], nested_docs: list[DocFile]) -> None:
        for fh in self.mbox_files.values():
            fh.close()
        for zf in self.zips.values():
            zf.close()
        self._write_export(export_docs, nested_docs)

    def _nested_zip(self, nested_docs: list[DocFile]) -> bytes:
        entries = [(f"mail/{month}.mbox", b"".join(msgs)) for month, msgs in sorted(self.nested_mbox.items())]
        entries += sorted(self.nested_eml)
        entries += [(f"documents/{d.name}", d.data) for d in nested_docs]
        self._count("mbox", len(self.nested_mbox))
        buf = io.BytesIO()
        stamp = _zip_time(local_time(person("nicolas.petit"), EXPORT_TIME))
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                zf.writestr(info, data)
        self.archives[f"archives/export.tar.gz!{NESTED_ZIP}"] = [name for name, _ in entries]
        self._count("zip")
        return buf.getvalue()

    def _write_export(self, export_docs: list[DocFile], nested_docs: list[DocFile]) -> None:
        path = self.out / "archives" / "export.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        members = [("export/", None), ("export/documents/", None)]
        members += [(f"export/documents/{d.name}", d.data) for d in export_docs]
        members.append((NESTED_ZIP, self._nested_zip(nested_docs)))
        mtime = int(EXPORT_TIME.timestamp())
        with open(path, "wb") as raw, gzip.GzipFile("export.tar", "wb", 9, raw, mtime=mtime) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name.rstrip("/"))
                info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 1000, 1000, "nicolas", "nicolas"
                if data is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
        self.archives["archives/export.tar.gz"] = [name for name, _ in members]
        self._count("tar.gz")


# --- reading a location back --------------------------------------------------------------------------------

def _member(container: bytes, name: str, outer: str) -> bytes:
    if outer.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(fileobj=io.BytesIO(container), mode="r:*") as tar:
            f = tar.extractfile(name)
            if f is None:
                raise KeyError(name)
            return f.read()
    with zipfile.ZipFile(io.BytesIO(container)) as zf:
        return zf.read(name)


def mbox_messages(data: bytes) -> list[bytes]:
    """Split an mboxrd file into its messages, From_ lines removed and escaping undone."""
    out: list[bytes] = []
    for chunk in re.split(rb"(?m)^From [^\n]*\n", data)[1:]:
        if chunk.endswith(b"\n\n"):
            chunk = chunk[:-1]
        out.append(_ESCAPED_FROM.sub(rb"\1", chunk))
    return out


def read_message(out_dir: Path, location: str) -> bytes:
    """The bytes of the message at a location, as its container holds them (mbox unescaped, emlx unwrapped)."""
    first, *members = location.split("!")
    last = members[-1] if members else first
    last, _, number = last.partition("#")
    if members:
        members[-1] = last
    else:
        first = last
    data = (Path(out_dir) / first).read_bytes()
    outer = first
    for name in members:
        data, outer = _member(data, name, outer), name
    if number:
        return mbox_messages(data)[int(number) - 1]
    if outer.endswith(".emlx"):
        count, rest = data.split(b"\n", 1)
        return rest[:int(count)]
    return data


def delivery_time(when: datetime) -> datetime:
    """When the recipient's server filed a message sent at `when` (after the last Received hop)."""
    return when + timedelta(seconds=7)
