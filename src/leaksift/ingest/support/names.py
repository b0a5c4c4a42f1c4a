"""Names of children: a declared file name reduced to one safe path component, kept distinct among siblings."""

from __future__ import annotations

import re

from .headers import clean

MAX_NAME_CHARS = 255
_SEPARATORS = re.compile(r"[\\/]")
_DOTS = ("", ".", "..")


def path_parts(path: str, strip: bool = False) -> list[str]:
    """The components of a path written with / or \\, without empty, "." and ".." ones."""
    parts = _SEPARATORS.split(path)
    if strip:
        parts = [p.strip() for p in parts]
    return [p for p in parts if p not in _DOTS]


def safe_name(declared: str) -> str:
    """The last path component of a declared file name, without NULs or control characters; "" if none."""
    text = "".join(ch for ch in declared if ch >= " " and ch != "\x7f")
    parts = path_parts(text, strip=True)
    name = clean(parts[-1]) if parts else ""
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        name = stem[:MAX_NAME_CHARS - len(ext) - 1] + "." + ext if dot and len(ext) < 16 else name[:MAX_NAME_CHARS]
    return name


class UniqueNames:
    """Gives a name again as `stem~2.ext`, `stem~3.ext` ... so siblings keep distinct paths.

    With ignore_case, names that differ only in case count as the same (a.txt, A~2.txt).
    """

    def __init__(self, ignore_case: bool = False) -> None:
        self._ignore_case = ignore_case
        self._next: dict[str, int] = {}  # name (casefolded with ignore_case) -> the next suffix to try

    def _key(self, name: str) -> str:
        return name.casefold() if self._ignore_case else name

    def take(self, name: str) -> str:
        key = self._key(name)
        if key not in self._next:
            self._next[key] = 2
            return name
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        k = self._next[key]
        while self._key(f"{stem}~{k}{dot}{ext}") in self._next:
            k += 1
        self._next[key] = k + 1
        unique = f"{stem}~{k}{dot}{ext}"
        self._next[self._key(unique)] = 2
        return unique
