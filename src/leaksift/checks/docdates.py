"""Document dates: do a document's own dates agree with each other, with the leak, and with its tools and fonts?

From the metadata the readers recorded (OOXML core/app, ODF meta, OLE SummaryInformation, PDF Info and XMP, EXIF)
the check normalises each source's claimed created/modified dates, the total editing time and the applications
that wrote the file, then compares them with the release table in leaksift/data/releases.csv (each row sourced).

Findings and their innocent explanations (copied to docs/verdicts.md):

| finding | effect | innocent explanations |
|---|---|---|
| modified before created, 1-14 h, both dates with a zone | info | a writer that stamps local time as UTC ('Z'); a clock changed between saves |
| modified before created, over 14 h | weakens | a wrong system clock; a tool that copies the created date from another file (templates, mail merge) |
| created/modified after the leak (1 day slack) | contradicts | a wrong --leaked-at; a camera or PC clock set in the future |
| latest date before the writing application's release | weakens (info for LibreOffice-written office files) | a beta/preview build (the table's slack covers the usual public betas); a wrong clock; LibreOffice's headless conversion keeps the source's dates |
| editing time longer than created-to-modified span (over 5 years: ignored, a writer bug) | weakens | Word counts time the file is open even when idle across a clock change; a "Save As" copy that keeps the editing time but resets the created date |
| a font newer than the latest date | weakens | a font substituted at export/print time; a wrong clock; an old file re-saved by a tool that keeps its dates |

Dates are compared in UTC; a date written without a zone (ODF, EXIF) is read as UTC and every comparison allows
14 hours for the unknown offset. Dates before 1985 are read as unset placeholders (1601/1970/1980 epochs) and
skipped. The release checks use the latest date the document claims, never the created date alone: a converted
file legitimately keeps a created date older than the tool that converted it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar

from ..model import Finding, ItemRecord
from .base import CheckContext

NAME = "docdates"
ZONE_SLACK = timedelta(hours=14)  # the widest UTC offsets are -12 and +14
SMALL_SLIP = timedelta(hours=1)  # below this a backwards step is clock noise, not worth a line
LEAK_SLACK = timedelta(days=1)
EDIT_SLACK = timedelta(hours=2)
EDIT_SLACK_RATIO = 0.2  # editing clocks round and idle time counts: allow 20% over the span as well
OLDEST_REAL = datetime(1985, 1, 1, tzinfo=timezone.utc)
MAX_EDIT = timedelta(days=5 * 365)  # longer editing clocks are writer bugs (seen in real PowerPoint 97 files)
# LibreOffice's headless conversion (soffice --convert-to) keeps the source file's dates while writing its own
# generator name, so a LibreOffice-written office file dated before that LibreOffice is only worth a note.
CONVERTER_FIELDS = frozenset({"app.Application", "meta:generator"})


@dataclass(frozen=True)
class Release:
    kind: str
    version: str
    released: date
    slack_days: int
    source: str

    @property
    def not_before(self) -> datetime:
        day = self.released - timedelta(days=self.slack_days)
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


@dataclass
class Stamp:
    """One claimed date: where it came from, as written, and as UTC."""
    source: str
    field: str
    raw: str
    when: datetime
    zoned: bool  # False when written without an offset (read as UTC)


@dataclass
class Claims:
    pairs: list[tuple[Stamp | None, Stamp | None]] = field(default_factory=list)  # (created, modified) per source
    apps: list[tuple[str, str]] = field(default_factory=list)  # (field, value as written)
    edit_seconds: list[tuple[str, float, Stamp, Stamp]] = field(default_factory=list)
    fonts: list[str] = field(default_factory=list)

    def stamps(self) -> list[Stamp]:
        return [s for pair in self.pairs for s in pair if s is not None]


@lru_cache(maxsize=1)
def releases() -> tuple[Release, ...]:
    text = resources.files("leaksift.data").joinpath("releases.csv").read_text(encoding="utf-8")
    return tuple(Release(r["kind"], r["version"], date.fromisoformat(r["released"]), int(r["slack_days"]),
                         r["source"]) for r in csv.DictReader(text.splitlines()))


def release(kind: str, version: str) -> Release | None:
    for r in releases():
        if r.kind == kind and r.version.lower() == version.lower():
            return r
    return None


# --- dates -----------------------------------------------------------------------------------------------------

PDF_DATE = re.compile(r"D?:?\s*(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*([Zz+\-])?\s*(\d{2})?'?(\d{2})?")


def parse_date(value: Any) -> tuple[datetime, bool] | None:
    """ISO 8601, EXIF ('2017:04:17 08:28:02') or PDF ('D:20170415065653+02'00'') -> (UTC datetime, zoned)."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    dt = _pdf_date(s) if s.startswith("D:") or re.fullmatch(r"\d{8,14}.*", s) else _iso_date(s)
    if dt is None:
        return None
    zoned = dt.tzinfo is not None
    dt = dt.astimezone(timezone.utc) if zoned else dt.replace(tzinfo=timezone.utc)
    return (dt, zoned) if dt >= OLDEST_REAL else None


def _iso_date(s: str) -> datetime | None:
    s = re.sub(r"^(\d{4}):(\d{2}):(\d{2})", r"\1-\2-\3", s)  # EXIF date part
    s = re.sub(r"(\.\d{6})\d+", r"\1", s.replace("z", "Z"))  # ODF writes nanoseconds
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def _pdf_date(s: str) -> datetime | None:
    m = PDF_DATE.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec, sign, oh, om = m.groups()
    try:
        dt = datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(sec or 0))
    except ValueError:
        return None
    if sign in ("Z", "z"):
        return dt.replace(tzinfo=timezone.utc)
    if sign in ("+", "-") and oh:
        off = timedelta(hours=int(oh), minutes=int(om or 0))
        try:
            return dt.replace(tzinfo=timezone(off if sign == "+" else -off))
        except ValueError:
            return None
    return dt


def stamp(source: str, name: str, value: Any) -> Stamp | None:
    parsed = parse_date(value)
    return Stamp(source, name, str(value), parsed[0], parsed[1]) if parsed else None


# --- what the readers recorded -> claims -----------------------------------------------------------------------

def _d(meta: dict[str, Any], key: str) -> dict[str, Any]:
    v = meta.get(key)
    return v if isinstance(v, dict) else {}


ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def duration_seconds(value: Any) -> float | None:
    """ODF editing-duration 'PT3H20M0S' (or 'P1DT2H') -> seconds."""
    m = ISO_DURATION.match(value.strip()) if isinstance(value, str) else None
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def claims(meta: dict[str, Any]) -> Claims:
    out = Claims()
    core, app = _d(meta, "core"), _d(meta, "app")
    core_pair = _pair(out, "ooxml core", core, "created", "modified")
    if app.get("Application"):
        out.apps.append(("app.Application", f"{app.get('Application')} {app.get('AppVersion') or ''}".strip()))
    minutes = _number(app.get("TotalTime"))
    if minutes is not None:
        _edit(out, "app.TotalTime", minutes * 60, core_pair)
    odf = _d(meta, "meta") if meta.get("format") == "odf" else {}
    odf_pair = _pair(out, "odf meta", odf, "meta:creation-date", "dc:date")
    if odf.get("meta:generator"):
        out.apps.append(("meta:generator", str(odf["meta:generator"])))
    secs = duration_seconds(odf.get("meta:editing-duration"))
    if secs is not None:
        _edit(out, "meta:editing-duration", secs, odf_pair)
    summary, doc_summary = _d(meta, "summary"), _d(meta, "doc_summary")
    ole_pair = _pair(out, "ole summary", summary, "created", "last_saved")
    if summary.get("app_name"):
        version = doc_summary.get("app_version_text") or ""
        out.apps.append(("summary.app_name", f"{summary['app_name']} {version}".strip()))
    secs = _number(summary.get("edit_time_seconds"))
    if secs is not None:
        _edit(out, "summary.edit_time", secs, ole_pair)
    info, xmp = _d(meta, "info"), _d(meta, "xmp")
    _pair(out, "pdf info", info, "CreationDate", "ModDate")
    _pair(out, "xmp", xmp, "xmp:CreateDate", "xmp:ModifyDate")
    for name, src in (("info.Producer", info.get("Producer")), ("info.Creator", info.get("Creator")),
                      ("xmp pdf:Producer", xmp.get("pdf:Producer")), ("xmp:CreatorTool", xmp.get("xmp:CreatorTool"))):
        if isinstance(src, str) and src.strip():
            out.apps.append((name, src.strip()))
    exif = _d(meta, "exif")
    if exif:
        sub, ifd0 = _d(exif, "exif"), _d(exif, "ifd0")
        out.pairs.append((stamp("exif", "DateTimeOriginal", sub.get("DateTimeOriginal")),
                          stamp("exif", "DateTime", ifd0.get("DateTime"))))
        if isinstance(ifd0.get("Software"), str):
            out.apps.append(("exif Software", ifd0["Software"]))
    for key in ("fonts", "theme_fonts"):
        out.fonts += [f for f in meta.get(key) or [] if isinstance(f, str)]
    return out


def _pair(out: Claims, source: str, d: dict[str, Any], created: str, modified: str) -> tuple[Stamp | None, ...]:
    pair = (stamp(source, created, d.get(created)), stamp(source, modified, d.get(modified)))
    if pair != (None, None):
        out.pairs.append(pair)
    return pair


def _edit(out: Claims, name: str, seconds: float, pair: tuple[Stamp | None, ...]) -> None:
    """The editing clock is compared with the dates of its own source only."""
    c, m = pair
    if c is not None and m is not None:
        out.edit_seconds.append((name, seconds, c, m))


# --- applications and fonts -> the release table ---------------------------------------------------------------

APP_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"LibreOffice(?:_Vanilla)?[/ ](\d+\.\d+)"), "libreoffice"),
    (re.compile(r"Microsoft\W*\s.*\bfor (Microsoft 365|Office 365)"), "brand"),
    (re.compile(r"Microsoft\W*\s[\w ]*?\b(2007|2010|2013|2016|2019|2021|2024)\b"), "office_year"),
    (re.compile(r"(?:Mac OS X|macOS)(?: Version)? (10\.\d+|1[1-9]|[2-9]\d)\b"), "macos"),
    (re.compile(r"Acrobat (?:Distiller|PDFMaker) (\d+)"), "acrobat"),
    (re.compile(r"^Microsoft.*?\s(\d+)\.\d{4}$"), "office"),  # app.xml / DocumentSummary 'Application AppVersion'
)


def app_releases(value: str) -> list[Release]:
    out = []
    for pattern, kind in APP_PATTERNS:
        m = pattern.search(value)
        if m:
            version = m.group(1)
            r = release(kind, version)
            if r is not None:
                out.append(r)
    return out


def _font_key(name: str) -> str:
    name = re.sub(r"^[A-Z]{6}\+", "", name)  # PDF subset tag
    name = re.split(r"[,]", name)[0]
    return re.sub(r"[\s\-_]", "", name).lower()


@lru_cache(maxsize=1)
def _font_table() -> tuple[tuple[str, Release], ...]:
    """The table's fonts with their keys, computed once (every font of every document is looked up)."""
    return tuple((_font_key(r.version), r) for r in releases() if r.kind == "font")


@lru_cache(maxsize=4096)  # documents of a case share their fonts: bounded, and the answer depends on the name only
def font_release(name: str) -> Release | None:
    """The longest table font the name starts with ('Calibri-Light' -> Calibri Light, 'ABCDEF+Calibri,Bold' ->
    Calibri); None when unknown."""
    key = _font_key(name)
    best: Release | None = None
    best_len = -1
    for rk, r in _font_table():
        if key.startswith(rk) and len(rk) > best_len:
            rest = key[len(rk):]
            if not rest or rest.startswith(("light", "bold", "italic", "regular", "mt", "math", "semi", "black",
                                            "ps", "display", "serif", "narrow", "condensed")):
                best, best_len = r, len(rk)
    return best


# --- the check -------------------------------------------------------------------------------------------------

def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _span(td: timedelta) -> str:
    hours = td.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _stamp_ev(s: Stamp) -> dict[str, Any]:
    return {"source": s.source, "field": s.field, "value": s.raw, "utc": _iso(s.when), "zoned": s.zoned}


class DocDatesCheck:
    name: ClassVar[str] = NAME

    def applies(self, rec: ItemRecord) -> bool:
        return rec.kind in ("document", "attachment") and bool(rec.metadata) and not rec.error

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        c = claims(rec.metadata)
        found = self._order(c) + self._edit_time(c)
        if ctx.leaked_at is not None:
            found += self._after_leak(c, ctx.leaked_at)
        latest = max(c.stamps(), key=lambda s: s.when, default=None)
        if latest is not None:
            found += self._apps(c, latest) + self._fonts(c, latest)
        return found

    def _order(self, c: Claims) -> list[Finding]:
        out = []
        for created, modified in c.pairs:
            if created is None or modified is None or modified.when >= created.when:
                continue
            back = created.when - modified.when
            ev = {"created": _stamp_ev(created), "modified": _stamp_ev(modified),
                  "backwards_seconds": int(back.total_seconds()), "slack_seconds": int(ZONE_SLACK.total_seconds())}
            if back > ZONE_SLACK:
                out.append(Finding(NAME, f"The {created.source} modified date is {_span(back)} before its created "
                                         f"date, more than any time-zone slip.", "weakens", ev))
            elif back > SMALL_SLIP and created.zoned and modified.zoned:
                out.append(Finding(NAME, f"The {created.source} modified date is {_span(back)} before its created "
                                         f"date (within time-zone slack).", "info", ev))
        return out

    def _after_leak(self, c: Claims, leaked_at: datetime) -> list[Finding]:
        leak = leaked_at if leaked_at.tzinfo else leaked_at.replace(tzinfo=timezone.utc)
        late = [s for s in c.stamps() if s.when - leak > LEAK_SLACK]
        if not late:
            return []
        worst = max(late, key=lambda s: s.when)
        return [Finding(NAME, f"The document claims a date {_span(worst.when - leak)} after the dump was "
                              f"published ({worst.source} {worst.field}).", "contradicts",
                        {"leaked_at": _iso(leak), "dates": [_stamp_ev(s) for s in late],
                         "slack_seconds": int(LEAK_SLACK.total_seconds())})]

    def _edit_time(self, c: Claims) -> list[Finding]:
        out = []
        for name, seconds, created, modified in c.edit_seconds:
            span = (modified.when - created.when).total_seconds()
            if span < 0 or seconds > MAX_EDIT.total_seconds():
                continue  # a backwards span is _order's finding; an absurd clock is a writer bug
            allowed = span * (1 + EDIT_SLACK_RATIO) + EDIT_SLACK.total_seconds()
            if seconds > allowed:
                out.append(Finding(
                    NAME, f"The recorded editing time ({_span(timedelta(seconds=seconds))}) is longer than the "
                          f"{_span(timedelta(seconds=span))} between created and modified.", "weakens",
                    {"field": name, "edit_seconds": int(seconds), "span_seconds": int(span),
                     "allowed_seconds": int(allowed), "created": _stamp_ev(created), "modified": _stamp_ev(modified)}))
        return out

    def _apps(self, c: Claims, latest: Stamp) -> list[Finding]:
        out, seen = [], set()
        for name, value in c.apps:
            for r in app_releases(value):
                if latest.when < r.not_before and (r.kind, r.version) not in seen:
                    seen.add((r.kind, r.version))
                    effect = "info" if r.kind == "libreoffice" and name in CONVERTER_FIELDS else "weakens"
                    out.append(Finding(
                        NAME, f"The document's latest date is before the release of the application that wrote "
                              f"it ({value}).", effect, self._release_ev(r, latest, {"field": name, "value": value})))
        return out

    def _fonts(self, c: Claims, latest: Stamp) -> list[Finding]:
        late = {}
        for font in c.fonts:
            r = font_release(font)
            if r is not None and latest.when < r.not_before:
                late.setdefault(r.version, (font, r))
        if not late:
            return []
        fonts = [self._release_ev(r, latest, {"font": f}) for f, r in late.values()]
        names = ", ".join(sorted(late))
        return [Finding(NAME, f"The document uses fonts released after its latest date ({names}).", "weakens",
                        {"latest": _stamp_ev(latest), "fonts": fonts})]

    @staticmethod
    def _release_ev(r: Release, latest: Stamp, extra: dict[str, Any]) -> dict[str, Any]:
        return {**extra, "latest": _stamp_ev(latest), "release": {"kind": r.kind, "version": r.version,
                "released": r.released.isoformat(), "slack_days": r.slack_days, "not_before": _iso(r.not_before),
                "source": r.source}}


CHECKS = [DocDatesCheck]
