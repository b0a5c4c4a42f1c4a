"""Small JPEG photos with EXIF (camera, dates, software, optional GPS), drawn with Pillow."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw

# EXIF tag numbers (Exif 2.3)
MAKE, MODEL, SOFTWARE, DATETIME, ARTIST = 0x010F, 0x0110, 0x0131, 0x0132, 0x013B
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004


@dataclass
class PhotoMeta:
    make: str
    model: str
    software: str
    taken: datetime  # local wall-clock time as the camera wrote it
    modified: datetime  # DateTime (0x0132): equal to taken unless edited
    gps: tuple[float, float] | None = None  # latitude, longitude in degrees (north, east)
    artist: str | None = None


def _dms(deg: float) -> tuple[float, float, float]:
    d = int(deg)
    m = int((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60, 2)
    return (float(d), float(m), s)


def _exif(meta: PhotoMeta) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[SOFTWARE] = meta.make, meta.model, meta.software
    exif[DATETIME] = meta.modified.strftime("%Y:%m:%d %H:%M:%S")
    if meta.artist:
        exif[ARTIST] = meta.artist
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATETIME_ORIGINAL] = sub[DATETIME_DIGITIZED] = meta.taken.strftime("%Y:%m:%d %H:%M:%S")
    if meta.gps:
        gps = exif.get_ifd(GPS_IFD)
        gps[1], gps[2] = "N", _dms(meta.gps[0])
        gps[3], gps[4] = "E", _dms(meta.gps[1])
    return exif


def jpeg(rng: random.Random, meta: PhotoMeta, size: tuple[int, int] = (320, 240)) -> bytes:
    """A small picture of a 'rally': a sky, a stage, a crowd of dots; deterministic for the rng state."""
    img = Image.new("RGB", size, (rng.randint(90, 140), rng.randint(130, 180), rng.randint(190, 240)))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((w // 5, h // 3, 4 * w // 5, h // 2), fill=(rng.randint(120, 200), 30, 40))
    for _ in range(120):
        x, y = rng.randint(0, w), rng.randint(h // 2, h)
        c = rng.randint(20, 90)
        draw.ellipse((x, y, x + 6, y + 8), fill=(c, c, c + 20))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=82, exif=_exif(meta))
    return buf.getvalue()
