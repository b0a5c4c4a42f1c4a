"""Threads: a reply that misquotes its parent is found, with a word diff; honest quoting is not."""

from __future__ import annotations

from pathlib import Path

from conftest import export_lines, scan_dump

from leaksift.checks.threads import compare_quote, quoted_text

PARENT = ("Bonjour à tous,\n\nLe sondage interne de cette semaine nous donne 18 % au premier tour.\n"
          "Merci de ne pas communiquer ce chiffre avant le meeting de Lyon.\n\nHélène\n")


def _reply(quoted: str) -> str:
    return "Merci, bien noté.\n\nLe 3 mai, Hélène a écrit :\n" + "\n".join("> " + ln for ln in quoted.splitlines())


def test_quoted_text_takes_the_first_level_only() -> None:
    text = "top\n> one\n>> deeper\n> > also deeper\n>two\nbottom"
    assert quoted_text(text) == "one\ntwo"


def test_honest_quote_is_quiet_even_rewrapped_and_trimmed() -> None:
    rewrapped = PARENT.replace("semaine nous", "semaine\nnous").split("Merci")[0]
    assert compare_quote(quoted_text(_reply(rewrapped)), PARENT) == []
    assert compare_quote(quoted_text(_reply(PARENT)), PARENT) == []


def test_changed_figure_is_found_with_a_word_diff() -> None:
    changes = compare_quote(quoted_text(_reply(PARENT.replace("18 %", "28 %"))), PARENT)
    assert [(c.parent, c.quoted) for c in changes] == [("18", "28")]


def test_dropped_negation_is_found() -> None:
    changes = compare_quote(quoted_text(_reply(PARENT.replace("ne pas communiquer", "communiquer"))), PARENT)
    assert [(c.parent, c.quoted) for c in changes] == [("ne pas", "")]


def test_sample_misquote_is_flagged_and_nothing_else(tmp_path: Path) -> None:
    from leaksift.sample import build_sample

    manifest = build_sample(tmp_path / "leak")
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db)
    rows = export_lines(db)
    flagged = {r["message_id"] for r in rows
               for f in r["findings"] if f["check"] == "threads" and f["effect"] == "weakens"}
    misquote = set(manifest.cases["misquote"])
    assert flagged == misquote
    reply = next(r for r in rows if r["message_id"] in misquote)
    finding = next(f for f in reply["findings"] if f["check"] == "threads")
    assert finding["evidence"]["changes"] and reply["verdict"] == "suspicious"
