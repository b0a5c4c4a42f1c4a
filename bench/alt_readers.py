"""What compiled libraries could do for the document throughput: lxml on the Word bodies, python-calamine on the
spreadsheets, on the same corpus files as bench/doc_throughput.py. Neither is a dependency of leaksift; this
script measures whether one would be worth it. Run it in a scratch environment:

    python3 -m venv /tmp/alt && /tmp/alt/bin/pip install lxml python-calamine
    /tmp/alt/bin/python bench/alt_readers.py [--reps 3]

- lxml: every Word story part (document, headers, footers, foot- and endnotes) of the corpus' docx files parsed into
  a tree (libxml2, entities not resolved, no network), then the same parse and a walk that visits, in document end
  order, only the elements leaksift's Word reader acts on (`iterwalk` with a tag filter, in C), appending their text.
  The walk does less than leaksift's reader (no tracked changes, no Fallback rule, no checks of names): a floor.
- python-calamine: every xls and xlsx of the corpus opened and every sheet's values read (`to_python`). Files it
  cannot read are counted; a Rust panic surfaces as pyo3's PanicException, a BaseException, which is counted apart.
CPU seconds in this process, the best of `--reps` passes. Compare with doc_throughput.py's `floors_word_bodies` and
`by_type_cpu` on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("LEAKSIFT_SHARED", ROOT.parent / "shared")) / "corpus"
WORD_STORY = re.compile(r"word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml")
WORD_TAGS = ["{*}" + n for n in ("t", "tab", "br", "cr", "noBreakHyphen", "p", "tc", "tr", "ins", "del", "moveFrom",
                                 "moveTo", "Fallback")]


def best_of(reps: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(reps):
        c0 = time.process_time()
        out = run()
        best = min(best, time.process_time() - c0)
    return round(best, 3), out


def word_parts() -> list[bytes]:
    parts = []
    for path in sorted((CORPUS / "office").rglob("*.docx")):
        try:
            with zipfile.ZipFile(path) as zf:
                parts += [zf.read(n) for n in zf.namelist() if WORD_STORY.fullmatch(n)]
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
            continue
    return parts


def lxml_figures(parts: list[bytes], reps: int) -> dict[str, Any]:
    from lxml import etree

    def parser() -> Any:
        return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

    def trees() -> int:
        failed = 0
        for data in parts:
            try:
                etree.fromstring(data, parser())
            except etree.XMLSyntaxError:
                failed += 1
        return failed

    def walks() -> int:
        chars = 0
        for data in parts:
            try:
                root = etree.fromstring(data, parser())
            except etree.XMLSyntaxError:
                continue
            out: list[str] = []
            for _, elem in etree.iterwalk(root, events=("end",), tag=WORD_TAGS):
                tag = elem.tag
                name = tag[tag.rfind("}") + 1:]
                if name == "t":
                    out.append(elem.text or "")
                elif name in ("p", "tr"):
                    out.append("\n")
                elif name == "tc":
                    out.append("\t")
                elif name == "tab" and elem.getparent().tag.endswith("}r"):
                    out.append("\t")
            chars += len("".join(out))
        return chars

    tree_s, failed = best_of(reps, trees)
    walk_s, chars = best_of(reps, walks)
    return {"lxml_version": etree.__version__, "parts": len(parts), "mb": round(sum(map(len, parts)) / 1e6, 1),
            "failed": failed, "tree_cpu_s": tree_s, "tree_and_walk_cpu_s": walk_s, "walk_chars": chars}


def calamine_figures(reps: int) -> dict[str, Any]:
    from importlib.metadata import version

    from python_calamine import CalamineWorkbook

    out: dict[str, Any] = {"python_calamine_version": version("python-calamine")}
    for ext in ("xls", "xlsx"):
        files = sorted(p for p in (CORPUS / "office").rglob(f"*.{ext}") if p.suffix.lower() == f".{ext}")

        def read_all(files: list[Path] = files) -> dict[str, int]:
            counts = {"read": 0, "error": 0, "panic": 0}
            for path in files:
                try:
                    book = CalamineWorkbook.from_path(str(path))
                    for name in book.sheet_names:
                        book.get_sheet_by_name(name).to_python()
                    counts["read"] += 1
                except Exception:  # noqa: BLE001 - counted: what a reader built on it would have to handle
                    counts["error"] += 1
                except BaseException as e:  # noqa: BLE001 - pyo3's PanicException; anything else goes on up
                    if type(e).__name__ != "PanicException":
                        raise
                    counts["panic"] += 1
            return counts

        seconds, counts = best_of(reps, read_all)
        out[ext] = {"files": len(files), "cpu_s": seconds, **counts}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    if not (CORPUS / "office").is_dir():
        sys.exit(f"alt_readers: the reference corpus is absent ({CORPUS}/office); set LEAKSIFT_SHARED")
    os.environ.setdefault("RUST_BACKTRACE", "0")
    result: dict[str, Any] = {"corpus": str(CORPUS)}
    try:
        result["lxml_word_bodies"] = lxml_figures(word_parts(), args.reps)
    except ImportError:
        result["lxml_word_bodies"] = "lxml is not installed here"
    try:
        result["calamine_spreadsheets"] = calamine_figures(args.reps)
    except ImportError:
        result["calamine_spreadsheets"] = "python-calamine is not installed here"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
