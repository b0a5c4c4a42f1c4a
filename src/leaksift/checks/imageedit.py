"""A photo's own history: its EXIF thumbnail, the software that last wrote it, its dates and its file date.

The image reader decodes the JPEG's EXIF thumbnail and the picture at reduced size and records how far
apart they are (`thumbnail.dhash_distance`, 0-64 bits, the smallest over the picture as stored and as its
Orientation displays it, whole or cropped to the thumbnail's aspect; `thumbnail.mean_abs_diff`, 0-255 grey
levels at 16x16). A camera writes both from the same frame
(built pairs, 20 scenes: distance 0-2 bits, difference under 1 grey level); an editor that changes the
picture and keeps the camera's thumbnail leaves another picture there (20 unrelated pairs: 9-34 bits, 21-57
grey levels; 19 of 20 reach `thumbnail_differs`, the other `thumbnail_changed`). Real camera files were not
available to calibrate on (../shared/corpus holds no JPEG with an EXIF thumbnail).
The message date of a carried photo is checks/exifdates.py's business, and DateTime before DateTimeOriginal is
checks/docdates.py's; here only the rest of the item's own history.

| finding               | effect  | innocent explanation                                                   |
|-----------------------|---------|------------------------------------------------------------------------|
| thumbnail_differs     | weakens | a heavy crop or retouch (colour grading, removed background) by a tool that keeps the old thumbnail, still a change after capture; rarely, firmware that writes the thumbnail of an unprocessed frame (HDR, panorama) |
| thumbnail_changed     | info    | small differences: a light crop, a rotation of a few degrees, local fixes |
| edited_camera_photo   | weakens | routine editing of a real photo (crop, exposure) in Photoshop, Lightroom, GIMP...: the bytes are not the camera's, the scene may still be genuine |
| editing_software      | info    | a picture made or re-saved by a graphics tool, a viewer or a converter (IrfanView, ImageMagick) with no camera claim |
| modified_after_capture | info   | phone photo apps and raw converters update DateTime when saving an edit or an export |
| file_before_capture   | weakens | a camera clock set ahead or to the wrong year; an archive written on a machine with a wrong clock |
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ..model import Finding, ItemRecord
from .base import CheckContext
from .docdates import parse_date

NAME = "imageedit"
DIFFERS_BITS, DIFFERS_GREY = 12, 16  # of 64 bits, of 255 grey levels: both (flat pictures share hash bits)
STRONG_BITS = 24  # or this many bits alone
CHANGED_BITS, CHANGED_GREY = 8, 8  # below both: the same frame (built pairs: at most 2 bits, 0.6 grey)
EDIT_SLACK = timedelta(minutes=1)  # cameras write DateTime a second or two after DateTimeOriginal
ZONE_SLACK = timedelta(hours=14)  # EXIF dates and zip times carry no zone
EDITORS = re.compile(r"photoshop|lightroom|gimp|paint\.net|pixelmator|affinity|snapseed|picsart|photoscape|"
                     r"luminar|acdsee|paint ?shop|corel|photopea|fotor|facetune|meitu|darktable|rawtherapee|"
                     r"capture one|photoimpact|photo ?editor|krita|inkscape", re.I)
RESAVERS = re.compile(r"irfanview|xnview|imagemagick|graphicsmagick|gd-jpeg|libvips|picasa|windows photo|"
                      r"photos|preview|digikam|shotwell|faststone", re.I)


def _date(value: Any) -> datetime | None:
    parsed = parse_date(value) if isinstance(value, str) else None
    return parsed[0] if parsed else None


def _span(td: timedelta) -> str:
    hours = abs(td.total_seconds()) / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def writer(meta: dict[str, Any]) -> str | None:
    """The software that last wrote the picture: EXIF Software, else XMP CreatorTool."""
    xmp = meta.get("xmp") if isinstance(meta.get("xmp"), dict) else {}
    for value in (meta.get("software"), xmp.get("xmp:CreatorTool")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def camera_name(meta: dict[str, Any]) -> str:
    """'Canon EOS 80D' from Make 'Canon' and Model 'Canon EOS 80D'; '' when neither is given."""
    make, model = (str(meta.get(k) or "").strip() for k in ("camera_make", "camera_model"))
    return model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()


def file_date(meta: dict[str, Any]) -> tuple[str, str] | None:
    """The date the container (zip, tar ...) gives the file: (field, value), UTC fields first."""
    container = meta.get("container") if isinstance(meta.get("container"), dict) else {}
    for key in ("ntfs_mtime", "extra_mtime", "mtime", "date_time"):
        if isinstance(container.get(key), str) and _date(container[key]):
            return key, container[key]
    return None


class ImageEditCheck:
    name: ClassVar[str] = NAME

    def applies(self, rec: ItemRecord) -> bool:
        return rec.mime.startswith("image/") and bool(rec.metadata)

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        meta = rec.metadata
        out = self._thumbnail(meta)
        taken, modified = _date(meta.get("created")), _date(meta.get("modified"))
        camera = camera_name(meta)
        tool = writer(meta)
        dates = {"taken": meta.get("created"), "modified": meta.get("modified")}
        edited = bool(tool and EDITORS.search(tool))
        if edited and camera and taken:
            out.append(Finding(NAME, f"A {camera} photo last written by {tool}: not the camera's original"
                               + (f", saved {_span(modified - taken)} after it was taken." if modified and
                                  modified - taken > EDIT_SLACK else "."), "weakens",
                               {"finding": "edited_camera_photo", "software": tool, "camera": camera, **dates}))
        elif tool and (edited or RESAVERS.search(tool)):
            out.append(Finding(NAME, f"Last written by {tool}, a graphics editor or converter.", "info",
                               {"finding": "editing_software", "software": tool, "camera": camera or None}))
        if taken and modified and not (edited and camera):
            out += self._modify_dates(taken, modified, dates)
        out += self._file_date(meta, max((d for d in (taken, modified) if d), default=None), dates)
        return out

    def _file_date(self, meta: dict[str, Any], latest: datetime | None, dates: dict[str, Any]) -> list[Finding]:
        found = file_date(meta)
        stamp = _date(found[1]) if found else None
        if found and stamp and latest and stamp < latest - ZONE_SLACK:
            gap = latest - stamp
            return [Finding(NAME, f"The archive dates the file {_span(gap)} before the photo's own EXIF date "
                               f"({found[1]} vs {meta.get('modified') or meta.get('created')}).", "weakens",
                               {"finding": "file_before_capture", "file_date_field": found[0],
                                "file_date": found[1], **dates, "gap_seconds": int(gap.total_seconds())})]
        return []

    def _thumbnail(self, meta: dict[str, Any]) -> list[Finding]:
        thumb = meta.get("thumbnail") if isinstance(meta.get("thumbnail"), dict) else {}
        bits, grey = thumb.get("dhash_distance"), thumb.get("mean_abs_diff")
        if not isinstance(bits, int) or not isinstance(grey, (int, float)):
            return []
        if bits < CHANGED_BITS and grey < CHANGED_GREY:
            return []
        evidence = {"dhash_distance": bits, "mean_abs_diff": grey, "thumbnail_dhash": thumb.get("dhash"),
                    "image_dhash": thumb.get("image_dhash"),
                    "fit": thumb.get("fit"), "thumbnail_sha256": thumb.get("sha256")}
        if (bits >= DIFFERS_BITS and grey >= DIFFERS_GREY) or bits >= STRONG_BITS:
            return [Finding(NAME, f"The EXIF thumbnail shows another picture than the image ({bits} of 64 hash "
                            f"bits and {grey} grey levels apart): the picture was changed after capture.",
                            "weakens", {"finding": "thumbnail_differs", **evidence})]
        return [Finding(NAME, f"The EXIF thumbnail differs somewhat from the image ({bits} of 64 hash bits, "
                        f"{grey} grey levels).",
                        "info", {"finding": "thumbnail_changed", **evidence})]

    def _modify_dates(self, taken: datetime, modified: datetime, dates: dict[str, Any]) -> list[Finding]:
        gap = modified - taken
        if gap > EDIT_SLACK:
            return [Finding(NAME, f"EXIF DateTime is {_span(gap)} after DateTimeOriginal: saved again after "
                            "capture.", "info", {"finding": "modified_after_capture", **dates,
                                                 "gap_seconds": int(gap.total_seconds())})]
        return []  # DateTime before DateTimeOriginal: docdates


CHECKS = [ImageEditCheck]
