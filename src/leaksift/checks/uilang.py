"""The language of the Office that last saved a document, read from the labels it writes, against the case.

Office writes the sheet-list and title labels of docProps/app.xml (HeadingPairs: "Worksheets", "Feuilles de
calcul", "Листы"...) in the language of its own interface. The MacronLeaks spreadsheets carried Russian labels in
a French campaign's files. A document whose author or editor is one of the case's own people, but whose labels are
in a language that person's other documents (at least three, all in one language) never show, is a finding
(weakens). Generic account names (Administrator, User, Apache POI...) are no one's habit and are skipped. A document from outside, whose
people are unknown here, is not: leaks are full of genuine third-party files.
Innocent explanations: a colleague's computer, a travelling laptop, a file converted by another office suite.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

# Labels Office writes in HeadingPairs, by interface language (from files of each localized Office).
LABELS = {
    "en": ("worksheets", "title", "named ranges", "slide titles", "fonts used", "theme", "charts", "headings",
           "design template"),
    "fr": ("feuilles de calcul", "titre", "plages nommées", "titres des diapositives", "polices utilisées",
           "thème", "graphiques", "titres"),
    "de": ("arbeitsblätter", "titel", "benannte bereiche", "folientitel", "verwendete schriftarten", "design",
           "diagramme", "überschriften"),
    "es": ("hojas de cálculo", "título", "rangos con nombre", "títulos de diapositiva", "fuentes usadas", "tema",
           "gráficos"),
    "it": ("fogli di lavoro", "titolo", "intervalli denominati", "titoli diapositive", "tipi di carattere utilizzati",
           "grafici"),
    "ru": ("листы", "название", "заголовок", "именованные диапазоны", "заголовки слайдов",
           "использованные шрифты", "тема", "диаграммы"),
}
BY_LABEL = {label: lang for lang, labels in LABELS.items() for label in labels}
MIN_LABELLED = 10  # documents with labels before a case has a habit
PERSON_MIN_DOCS = 3  # a person's other documents needed to say what they usually use
# Account names that are no one in particular: what a fresh install or a library writes.
GENERIC_NAMES = frozenset({"administrator", "admin", "user", "owner", "author", "unknown", "guest", "test",
                           "microsoft office user", "microsoft office", "apache poi", "poi", "windows user",
                           "default", "utilisateur", "benutzer", "пользователь", "администратор"})


def label_language(labels: list[str]) -> str | None:
    for label in labels:
        lang = BY_LABEL.get(label.strip().lower())
        if lang:
            return lang
    for label in labels:  # unknown words: the script still tells a Cyrillic or Korean Office
        for ch in label:
            if ch.isalpha():
                name = unicodedata.name(ch, "")
                if not name.startswith("LATIN"):
                    return name.split(" ")[0].lower()
    return None


def _labels(meta: dict) -> list[str]:
    pairs = (meta.get("app") or {}).get("HeadingPairs") if isinstance(meta.get("app"), dict) else None
    if pairs is None and isinstance(meta.get("doc_summary"), dict):
        pairs = meta["doc_summary"].get("heading_pairs")
    if not isinstance(pairs, list):
        return []
    return [str(x) for x in pairs[::2] if isinstance(x, str) and not x.isdigit()]


def _people(meta: dict) -> set[str]:
    core = meta.get("core") if isinstance(meta.get("core"), dict) else {}
    summ = meta.get("summary") if isinstance(meta.get("summary"), dict) else {}
    names = (core.get("creator"), core.get("lastModifiedBy"), summ.get("author"), summ.get("last_author"))
    return {str(n).strip().lower() for n in names if n and str(n).strip()}


class UiLanguageCheck:
    name: ClassVar[str] = "uilang"
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        docs = []
        seen: set[str] = set()
        for key in ("app", "doc_summary"):
            for d in store.items_with_metadata(key, emails=False):
                lang = label_language(_labels(d["metadata"]))
                if lang and d["sha256"] not in seen:
                    seen.add(d["sha256"])
                    docs.append((d, lang, _people(d["metadata"]), _labels(d["metadata"])))
        if len(docs) < MIN_LABELLED:
            return
        by_person: dict[str, Counter[str]] = defaultdict(Counter)
        for _, lang, people, _ in docs:
            for p in people:
                by_person[p][lang] += 1
        for d, lang, people, labels in docs:
            for p in sorted(people):
                others = by_person[p].copy()
                others[lang] -= 1
                usual = [lg for lg, n in others.items() if n > 0]
                if p in GENERIC_NAMES or len(usual) != 1:
                    continue  # a shared account, or someone who already works in several languages
                if sum(others.values()) >= PERSON_MIN_DOCS and others[lang] == 0:
                    yield d["id"], Finding(
                        "uilang", f"Saved by an Office whose interface language is {lang} (label "
                                  f"“{labels[0]}”), though the {sum(others.values())} other documents of "
                                  f"{p} in this case were saved in {', '.join(sorted(usual))}.",
                        "weakens", {"language": lang, "labels": labels[:5], "person": p,
                                    "person_languages": {lg: n for lg, n in others.items() if n > 0}})
                    break


CHECKS = [UiLanguageCheck]
