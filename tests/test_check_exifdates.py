"""A photo taken after the message that carries it was sent."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.exifdates import ExifDatesCheck


class FakeStore:
    def __init__(self, photo_taken: str, offset: str | None = None, sent: str = "2017-04-20T10:00:00+02:00") -> None:
        exif = {"DateTimeOriginal": photo_taken}
        if offset:
            exif["OffsetTimeOriginal"] = offset
        self.photo = {"id": "p", "path": "m.eml/photo.jpg", "kind": "attachment", "sha256": "0" * 64,
                      "verdict": "consistent", "parent": "m", "metadata": {"exif": {"exif": exif}}}
        self.message = {"id": "m", "kind": "email", "date": sent}

    def items_with_metadata(self, key: str, emails: bool = True):  # noqa: ANN201
        return iter([self.photo] if key == "exif" else [])

    def item(self, item_id: str):  # noqa: ANN201
        return self.message if item_id == "m" else None


def _effects(store: FakeStore) -> list[str]:
    return [f.effect for _, f in ExifDatesCheck().run(store, CheckContext())]


def test_photo_taken_before_the_message_is_quiet() -> None:
    assert _effects(FakeStore("2017:04:19 18:30:00")) == []
    assert _effects(FakeStore("2017:04:20 20:00:00")) == []  # within any time zone of the sending


def test_photo_taken_long_after_contradicts_and_shortly_after_weakens() -> None:
    assert _effects(FakeStore("2017:06:01 12:00:00")) == ["contradicts"]
    assert _effects(FakeStore("2017:04:23 12:00:00")) == ["weakens"]


def test_offset_time_is_used() -> None:
    # 2017-04-21 09:00 at +14:00 is 2017-04-20 19:00 UTC: 11 h after sending, inside the slack
    assert _effects(FakeStore("2017:04:21 09:00:00", "+14:00")) == []
