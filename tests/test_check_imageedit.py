"""imageedit: thumbnails, editing software, EXIF dates and archive dates of built photos."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from conftest import shared_corpus
from test_ingest_image import CAMERA, camera_jpeg, letterboxed, scene

from leaksift.checks.base import CheckContext
from leaksift.checks.imageedit import ImageEditCheck
from leaksift.ingest.base import Budget, BytesBlob, Context, Limits, Parsed
from leaksift.ingest.engine import Engine
from leaksift.ingest.image import ImageReader
from leaksift.model import ItemRecord
from leaksift.ingest.registry import default_registry
from leaksift.sample.images import PhotoMeta, jpeg


def records(tmp_path: Path, name: str, data: bytes):
    (tmp_path / name).write_bytes(data)
    return list(Engine(default_registry(), Limits(), tmp_dir=tmp_path / "tmp").ingest_file(tmp_path, name))


def findings(rec) -> dict[str, object]:
    check = ImageEditCheck()
    assert check.applies(rec)
    return {f.evidence["finding"]: f for f in check.run(rec, CheckContext())}


def photo(tmp_path: Path, data: bytes) -> dict[str, object]:
    return findings(records(tmp_path, "p.jpg", data)[-1])


def test_camera_original_is_quiet(tmp_path: Path) -> None:
    img = scene(3)
    assert photo(tmp_path, camera_jpeg(img, letterboxed(img))) == {}


def test_thumbnail_showing_another_picture(tmp_path: Path) -> None:
    got = photo(tmp_path, camera_jpeg(scene(4), letterboxed(scene(3))))
    f = got["thumbnail_differs"]
    assert f.effect == "weakens" and f.evidence["dhash_distance"] >= 12 and f.evidence["mean_abs_diff"] >= 16
    assert set(got) == {"thumbnail_differs"}


def test_edited_camera_photo_and_plain_editor(tmp_path: Path) -> None:
    img = scene(3)
    edited = {**CAMERA, 0x0131: "Adobe Photoshop CC 2017 (Windows)", 0x0132: "2017:04:21 13:15:03"}
    got = photo(tmp_path, camera_jpeg(img, letterboxed(img), edited))
    assert set(got) == {"edited_camera_photo"} and got["edited_camera_photo"].effect == "weakens"
    assert "saved 27.0 hours after" in got["edited_camera_photo"].summary
    drawing = {0x0131: "GIMP 2.10.34"}  # no camera: a made picture, not a doctored photo
    got = photo(tmp_path, camera_jpeg(img, letterboxed(img), drawing))
    assert {k: f.effect for k, f in got.items()} == {"editing_software": "info"}


def test_modify_date_without_an_editor_is_info(tmp_path: Path) -> None:
    img = scene(3)
    got = photo(tmp_path, camera_jpeg(img, letterboxed(img), {**CAMERA, 0x0132: "2017:05:01 08:00:00"}))
    assert {k: f.effect for k, f in got.items()} == {"modified_after_capture": "info"}
    assert got["modified_after_capture"].evidence["gap_seconds"] == 942297


def test_sample_generators_edited_photo_fires() -> None:
    taken = datetime(2017, 4, 20, 10, 15, 3)
    plain = PhotoMeta("Canon", "Canon EOS 80D", "Firmware Version 1.0.2", taken, taken)
    edited = PhotoMeta("Canon", "Canon EOS 80D", "Adobe Photoshop CC 2017 (Windows)", taken,
                       taken + timedelta(days=1, hours=3))
    with_edit = records_of(jpeg(random.Random(1), edited))
    assert {k: f.effect for k, f in findings(with_edit).items()} == {"edited_camera_photo": "weakens"}
    assert findings(records_of(jpeg(random.Random(1), plain))) == {}


def records_of(data: bytes) -> ItemRecord:
    """The sample generator's photo read by the image reader alone (as the worker would see it)."""
    ctx = Context(Limits(), Parsed(), Budget(10 ** 9))
    list(ImageReader().read(BytesBlob(data), ctx))
    return ItemRecord(id="x", path="p.jpg", parent=None, source="p.jpg", depth=0, kind="document",
                      mime="image/jpeg", sha256=None, size=len(data), metadata=ctx.out.metadata)


def zipped(data: bytes, when: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("photos/p.jpg", when), data)
    return buf.getvalue()


def test_archive_dates_the_file_before_the_capture(tmp_path: Path) -> None:
    img = scene(3)
    data = camera_jpeg(img, letterboxed(img))  # taken 2017-04-20 10:15:03
    recs = records(tmp_path, "a.zip", zipped(data, (2017, 4, 1, 9, 0, 0)))
    member = next(r for r in recs if r.path.endswith("p.jpg"))
    f = findings(member)["file_before_capture"]
    assert f.effect == "weakens" and f.evidence["file_date"] == "2017-04-01T09:00:00"
    recs = records(tmp_path, "b.zip", zipped(data, (2017, 4, 20, 11, 0, 0)))  # copied off the camera later
    assert findings(next(r for r in recs if r.path.endswith("p.jpg"))) == {}


def test_corpus_images_stay_quiet() -> None:
    root = shared_corpus("office", "hsmf")
    check, seen = ImageEditCheck(), 0
    for path in sorted(root.glob("*.msg")):
        for rec in Engine(default_registry(), Limits()).ingest_file(root, path.name):
            if check.applies(rec):
                seen += 1
                assert [f for f in check.run(rec, CheckContext()) if f.effect != "info"] == [], rec.path
    assert seen >= 10
