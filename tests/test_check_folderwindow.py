"""A folder whose documents were all last modified within minutes."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.folderwindow import FolderWindowCheck


class FakeStore:
    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs

    def items_with_metadata(self, key: str, emails: bool = True):  # noqa: ANN201
        return iter(self.docs if key == "core" else [])


def _doc(i: int, folder: str, created: str, modified: str) -> dict:
    return {"id": f"d{i}", "path": f"{folder}/{i}.xlsx", "kind": "document", "sha256": f"{i:064d}",
            "metadata": {"core": {"created": created, "modified": modified}}}


def test_files_created_apart_but_modified_together_weaken() -> None:
    docs = [_doc(i, "finances", f"2016-0{i + 1}-10T09:00:00Z", f"2017-04-27T14:0{i}:30Z") for i in range(6)]
    found = list(FolderWindowCheck().run(FakeStore(docs), CheckContext()))
    assert len(found) == 6 and {f.effect for _, f in found} == {"weakens"}
    assert found[0][1].evidence["window_seconds"] == 300 and found[0][1].evidence["files"] == 6


def test_batch_export_is_info_and_ordinary_folders_are_quiet() -> None:
    batch = [_doc(i, "export", "2017-04-27T14:00:00Z", f"2017-04-27T14:0{i}:00Z") for i in range(6)]
    assert {f.effect for _, f in FolderWindowCheck().run(FakeStore(batch), CheckContext())} == {"info"}
    spread = [_doc(i, "notes", "2016-01-10T09:00:00Z", f"2017-0{i + 1}-27T14:00:00Z") for i in range(6)]
    assert list(FolderWindowCheck().run(FakeStore(spread), CheckContext())) == []
    few = [_doc(i, "small", f"2016-0{i + 1}-10T09:00:00Z", f"2017-04-27T14:0{i}:30Z") for i in range(3)]
    assert list(FolderWindowCheck().run(FakeStore(few), CheckContext())) == []
