"""Threads: link replies to their parents and compare what a reply quotes with what the parent says.

A reply that quotes words its parent does not contain means one of the two was changed. Which one: where one
side is proven by its signature, the other carries the doubt; otherwise the reply does, and the parent is told.
Innocent explanations (docs/verdicts.md): people edit quotes in inline replies, clients re-wrap lines and
replace characters; only changed or inserted words count here, never trimmed passages.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext

WORD = re.compile(r"\w+(?:[’'.,%-]\w+)*|[%€$]", re.UNICODE)
MAX_GAP_WORDS = 3  # words missing inside a quote: a removed "not" matters, a trimmed paragraph does not
MIN_QUOTED_WORDS = 8


def quoted_text(text: str) -> str:
    """The lines a reply quotes at the first level ("> x"), without the markers."""
    lines = []
    for line in text.splitlines():
        s = line.lstrip()
        if not s.startswith(">"):
            continue
        s = s[1:]
        if s.startswith(">") or s.lstrip().startswith(">"):
            continue  # a deeper level quotes the grandparent
        lines.append(s[1:] if s.startswith(" ") else s)
    return "\n".join(lines)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass
class Alteration:
    parent: str  # the parent's words at that place ("" where the quote adds words)
    quoted: str  # the quote's words there ("" where the quote drops words)


def compare_quote(quote: str, parent: str) -> list[Alteration]:
    """Words the quote changed, added, or dropped inside the quoted span (not trimmed at its ends)."""
    q, p = words(quote), words(parent)
    if len(q) < MIN_QUOTED_WORDS:
        return []
    sm = difflib.SequenceMatcher(None, q, p, autojunk=False)
    ops = sm.get_opcodes()
    equal = [i for i, op in enumerate(ops) if op[0] == "equal"]
    if not equal:
        return []
    out = []
    for op, q1, q2, p1, p2 in ops[equal[0]:equal[-1] + 1]:
        if op == "replace" or op == "delete" or (op == "insert" and p2 - p1 <= MAX_GAP_WORDS):
            out.append(Alteration(" ".join(p[p1:p2]), " ".join(q[q1:q2])))
    return out


class ThreadCheck:
    """A case check: runs once the whole dump is in the store."""

    name: ClassVar[str] = "threads"

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        for reply in store.replies():
            parents = store.messages_by_id(reply["in_reply_to"])
            if not parents:
                continue
            quote = quoted_text(reply["text"] or "")
            if len(words(quote)) < MIN_QUOTED_WORDS:
                continue
            parent = parents[0]
            changes = compare_quote(quote, parent["text"] or "")
            if not changes:
                continue
            diff = [{"parent": c.parent, "quoted": c.quoted} for c in changes[:50]]
            evidence = {"reply": reply["id"], "parent": parent["id"], "message_id": reply["in_reply_to"],
                        "changes": diff, "changed_places": len(changes)}
            shown = "; ".join(f"“{c.parent or '∅'}” → “{c.quoted or '∅'}”" for c in changes[:3])
            reply_proven = reply["verdict"] == "verified"
            parent_proven = parent["verdict"] == "verified"
            if parent_proven and not reply_proven:
                yield reply["id"], Finding("threads", f"This reply misquotes its verified parent: {shown}.",
                                           "weakens", evidence)
                continue
            for p in parents:
                if reply_proven and not parent_proven:
                    yield p["id"], Finding("threads", f"A verified reply quotes this message differently: {shown}.",
                                           "weakens", evidence)
                else:
                    yield p["id"], Finding("threads", f"A reply quotes this message with changed words: {shown}.",
                                           "info", evidence)
            if not reply_proven:
                yield reply["id"], Finding("threads", f"This reply quotes its parent with changed words: {shown}.",
                                           "weakens", evidence)

CHECKS = [ThreadCheck]
