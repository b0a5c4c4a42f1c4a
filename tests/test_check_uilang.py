"""The interface language of the saving Office against each person's other documents."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.uilang import UiLanguageCheck, label_language


class FakeStore:
    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs

    def items_with_metadata(self, key: str, emails: bool = True):  # noqa: ANN201
        return iter(self.docs if key == "app" else [])


def _doc(i: int, label: str, creator: str, editor: str | None = None) -> dict:
    return {"id": f"d{i}", "path": f"{i}.xlsx", "sha256": f"{i:064d}", "verdict": "consistent",
            "metadata": {"app": {"HeadingPairs": [label, "2"]},
                         "core": {"creator": creator, "lastModifiedBy": editor or creator}}}


def test_label_languages() -> None:
    assert label_language(["Feuilles de calcul"]) == "fr"
    assert label_language(["Листы"]) == "ru"
    assert label_language(["Листки"]) == "cyrillic"
    assert label_language(["워크시트"]) == "hangul"
    assert label_language(["Sheets of mine"]) is None


def test_known_person_in_a_foreign_office_is_flagged() -> None:
    docs = [_doc(i, "Feuilles de calcul", "Claire Dumont") for i in range(10)]
    docs.append(_doc(99, "Листы", "Claire Dumont"))
    found = list(UiLanguageCheck().run(FakeStore(docs), CheckContext()))
    assert [(i, f.effect) for i, f in found] == [("d99", "weakens")]
    assert found[0][1].evidence["language"] == "ru" and found[0][1].evidence["person_languages"] == {"fr": 10}


def test_outsiders_and_small_cases_are_quiet() -> None:
    docs = [_doc(i, "Feuilles de calcul", "Claire Dumont") for i in range(10)]
    docs.append(_doc(99, "Листы", "Иван Петров"))  # an outside document: its people are unknown here
    assert list(UiLanguageCheck().run(FakeStore(docs), CheckContext())) == []
    few = [_doc(i, "Feuilles de calcul", "Claire Dumont") for i in range(3)] + [_doc(9, "Листы", "Claire Dumont")]
    assert list(UiLanguageCheck().run(FakeStore(few), CheckContext())) == []
