"""Word documents that share session ids are linked as relatives; unrelated ones are not."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.rsids import RsidCheck


class FakeStore:
    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs

    def items_with_metadata(self, key: str, emails: bool = True):  # noqa: ANN201
        return iter(self.docs)


def _doc(i: int, root: str, rsids: list[str], sha: str | None = None) -> dict:
    return {"id": f"d{i}", "path": f"docs/{i}.docx", "sha256": sha or f"{i:064d}", "verdict": "consistent",
            "metadata": {"rsid_root": root, "rsids": [root, *rsids]}}


def test_shared_root_and_sessions_link_relatives() -> None:
    a = _doc(1, "00B4387D", ["007C53DA", "008D8FDC", "00AE86A6"])
    b = _doc(2, "00B4387D", ["007C53DA", "008D8FDC", "00AE86A6", "00CDA42C"])
    c = _doc(3, "0063A15E", ["007CF258"])
    found = list(RsidCheck().run(FakeStore([a, b, c]), CheckContext()))
    assert {i for i, _ in found} == {"d1", "d2"}
    assert all(f.effect == "info" for _, f in found)
    sessions = [f for _, f in found if "editing-session" in f.summary]
    assert sessions and sessions[0].evidence["shared_sessions"] == 3


def test_copies_and_strangers_are_quiet() -> None:
    a = _doc(1, "00B4387D", ["007C53DA", "008D8FDC", "00AE86A6"], sha="f" * 64)
    copy = dict(_doc(2, "00B4387D", ["007C53DA", "008D8FDC", "00AE86A6"], sha="f" * 64))
    stranger = _doc(3, "00AAAAAA", ["007C53DA", "00111111"])  # one session id in common only
    assert list(RsidCheck().run(FakeStore([a, copy, stranger]), CheckContext())) == []


def test_template_ids_shared_by_many_files_are_ignored() -> None:
    docs = [_doc(i, f"{i:08X}", ["TEMPLATE1", "TEMPLATE2", "TEMPLATE3"]) for i in range(60)]
    assert list(RsidCheck().run(FakeStore(docs), CheckContext())) == []
