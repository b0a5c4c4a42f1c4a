"""The mbox reader (streamed split on From lines) and Maildir files typed as single messages."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import shared_corpus
from leaksift.ingest.base import Budget, Context, FileBlob, IngestError, Limits, MiB, Parsed, SpooledBlob
from leaksift.ingest.engine import Engine
from leaksift.ingest.mailbox import LINE_CAP, MboxReader
from leaksift.ingest.registry import default_registry
from leaksift.ingest.sniff import EML, MBOX, sniff


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(path: Path, limits: Limits | None = None, tmp_dir: Path | None = None):
    ctx = Context(limits=limits or Limits(), out=Parsed(), budget=Budget(10**12), tmp_dir=tmp_dir)
    children = []
    for child in MboxReader().read(FileBlob(path), ctx):
        data = None
        if child.blob is not None:
            with child.blob.open() as f:
                data = f.read()
        children.append((child, data))
    return ctx.out, children


def ingest(root: Path, name: str, tmp: Path, limits: Limits | None = None):
    return list(Engine(default_registry(), limits or Limits(), tmp_dir=tmp).ingest_file(root, name))


MSG1 = b"From: one@example.org\nSubject: first\n\nHello\n>From the escaped line\n>>From deeper\n"
MSG2 = (b"From: two@example.org\nSubject: second\n\nA body line then\nFrom here without a blank line\n"
        b"\nFrom now on, a sentence after a blank line\n")
MSG3 = b"From: three@example.org\nSubject: third\n\nlast one\n"
SEP = [b"From one@example.org Mon Jan  1 10:00:00 2001\n", b"From MAILER-DAEMON Tue Jan  2 10:00:00 2001\n",
       b"From - Wed Jan  3 10:00:00 2001\n"]


def mbox(messages: list[bytes], seps: list[bytes], blank: bytes = b"\n") -> bytes:
    return b"".join(sep + msg + blank for sep, msg in zip(seps, messages))


def test_messages_numbered_exact_bytes_and_escapes(tmp_path):
    path = tmp_path / "box.mbox"
    path.write_bytes(mbox([MSG1, MSG2, MSG3], SEP))
    out, kids = read(path)
    assert [c.name for c, _ in kids] == ["1", "2", "3"]
    assert [data for _, data in kids] == [MSG1, MSG2, MSG3]
    assert [c.metadata["mbox_from_line"] for c, _ in kids] == [s.decode().rstrip("\n") for s in SEP]
    assert kids[0][0].transforms == ["mbox_from_escaped", "lf_line_endings"]
    assert kids[1][0].transforms == ["lf_line_endings"]
    assert all(c.kind == "email" for c, _ in kids)
    assert out.children_expected == 3


def test_mbox_through_the_engine(tmp_path):
    root = tmp_path / "dump"
    root.mkdir()
    (root / "box.mbox").write_bytes(mbox([MSG1, MSG2, MSG3], SEP))
    recs = {r.path: r for r in ingest(root, "box.mbox", tmp_path / "tmp")}
    top = recs["box.mbox"]
    assert top.mime == MBOX and top.kind == "archive" and top.error is None
    assert (top.children_expected, top.children_emitted) == (3, 3)
    assert [recs[f"box.mbox/{n}"].email.subject for n in "123"] == ["first", "second", "third"]
    assert recs["box.mbox/1"].raw == MSG1 and recs["box.mbox/1"].kind == "email"
    assert recs["box.mbox/1"].transforms == ["mbox_from_escaped", "lf_line_endings"]
    assert recs["box.mbox/2"].metadata["container"]["mbox_from_line"].startswith("From MAILER-DAEMON")
    assert "From here without a blank line" in recs["box.mbox/2"].text


def test_crlf_mbox_and_no_trailing_blank_line(tmp_path):
    m1 = MSG1.replace(b"\n", b"\r\n")
    m3 = MSG3.replace(b"\n", b"\r\n")
    data = SEP[0].replace(b"\n", b"\r\n") + m1 + b"\r\n" + SEP[2].replace(b"\n", b"\r\n") + m3
    path = tmp_path / "crlf.mbox"
    path.write_bytes(data)
    out, kids = read(path)
    assert [d for _, d in kids] == [m1, m3]  # the last message had no blank line after it: nothing cut
    assert kids[0][0].transforms == ["mbox_from_escaped"]
    assert kids[1][0].transforms == []
    assert kids[0][0].metadata["mbox_from_line"] == SEP[0].decode().rstrip("\n")


def test_blank_lines_in_bodies_and_empty_messages(tmp_path):
    body = b"Subject: blanks\n\n\n\nthree blank lines above\n\n"
    data = SEP[0] + body + b"\n" + SEP[1] + b"\n" + SEP[2] + MSG3
    path = tmp_path / "b.mbox"
    path.write_bytes(data)
    out, kids = read(path)
    assert [d for _, d in kids] == [body, b"", MSG3]
    assert out.children_expected == 3
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    out, kids = read(empty)
    assert kids == [] and out.children_expected == 0


def test_long_lines_are_read_in_pieces(tmp_path):
    exact = b"x" * LINE_CAP + b"\n"  # its line break comes as a piece of its own: not an empty line
    msg = b"Subject: long\n\n" + exact + b"From inside 2001, after no empty line\n" + b"y" * 300_000 + b"\n"
    long_sep = b"From x Mon Jan  1 10:00:00 2001 " + b"z" * 100_000 + b"\n"
    path = tmp_path / "long.mbox"
    path.write_bytes(SEP[0] + msg + b"\n" + long_sep + MSG3)
    out, kids = read(path)
    assert [d for _, d in kids] == [msg, MSG3]
    assert kids[1][0].metadata["mbox_from_line"] == long_sep.decode()[:1000]


def test_large_message_spills_to_the_tmp_dir(tmp_path):
    big = b"From: a@example.org\nSubject: big\n\n" + (b"y" * 999 + b"\n") * 3000  # 3 MB
    path = tmp_path / "big.mbox"
    path.write_bytes(SEP[0] + big + b"\n" + SEP[1] + MSG3)
    limits = Limits(memory_member_bytes=1 * MiB)
    out, kids = read(path, limits, tmp_dir=tmp_path / "spill")
    assert isinstance(kids[0][0].blob, SpooledBlob)
    assert sha(kids[0][1]) == sha(big) and kids[1][1] == MSG3
    out, kids = read(path, limits, tmp_dir=None)  # nowhere to spill: that message fails, the next is read
    assert kids[0][0].error is not None and kids[0][0].error.reason == "too_large"
    assert kids[0][0].size == len(big)
    assert kids[1][1] == MSG3 and out.children_expected == 2
    root = tmp_path
    recs = {r.path: r for r in ingest(root, "big.mbox", tmp_path / "tmp", limits)}
    assert recs["big.mbox/1"].sha256 == sha(big) and recs["big.mbox/1"].email.subject == "big"
    assert recs["big.mbox/1"].error is None


def test_budget_exhaustion_stops_the_mailbox(tmp_path):
    path = tmp_path / "box.mbox"
    path.write_bytes(mbox([MSG1, MSG2, MSG3], SEP))
    ctx = Context(limits=Limits(), out=Parsed(), budget=Budget(len(MSG1) + 10))
    names = []
    try:
        for child in MboxReader().read(FileBlob(path), ctx):
            names.append(child.name)
        raised = None
    except IngestError as e:
        raised = e.reason
    assert names == ["1"] and raised == "bomb"


BIG_MBOX_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from leaksift.ingest.base import Limits
    from leaksift.ingest.engine import Engine
    from leaksift.ingest.registry import default_registry
    root, tmp = Path(sys.argv[1]), Path(sys.argv[2])
    engine = Engine(default_registry(), Limits(), tmp_dir=tmp)
    for rec in engine.ingest_file(root, "small.mbox"):  # warm up: imports, first allocations
        pass
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = errors = 0
    top = None
    for rec in engine.ingest_file(root, "big.mbox"):
        count += 1
        errors += rec.error is not None
        top = rec
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kb": peak - base, "count": count, "errors": errors,
                      "expected": top.children_expected, "emitted": top.children_emitted}))
""")


@pytest.mark.slow
def test_large_mbox_is_read_with_bounded_memory(tmp_path):
    root = tmp_path / "dump"
    root.mkdir()
    line = b"The quick brown fox jumps over the lazy dog. " * 22 + b"\n"  # ~1 KB
    body = line * 2000  # ~2 MB a message
    n = 100
    with open(root / "big.mbox", "wb") as f:
        for i in range(n):
            f.write(b"From sender@example.org Mon Jan  1 10:00:00 2001\n")
            f.write(b"From: sender@example.org\nSubject: message %d\n\n" % i)
            f.write(body)
            f.write(b"\n")
    size = (root / "big.mbox").stat().st_size
    assert size > 180 * MiB
    (root / "small.mbox").write_bytes(mbox([MSG1, MSG3], SEP))
    proc = subprocess.run([sys.executable, "-c", BIG_MBOX_SCRIPT, str(root), str(tmp_path / "tmp")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (res["count"], res["errors"], res["expected"], res["emitted"]) == (n + 1, 0, n, n)
    assert res["growth_kb"] * 1024 < size / 4, res  # peak memory grew by far less than the file


def test_maildir_files_are_single_messages(tmp_path):
    root = tmp_path / "dump"
    for sub, name, subject in (("cur", "1700000000.M1P1.host:2,S", "seen"), ("new", "1700000001.M2P2.host", "new")):
        folder = root / "Maildir" / sub
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"Return-Path: <a@example.org>\nDelivered-To: b@example.org\n"
                                    b"From: a@example.org\nTo: b@example.org\nSubject: " + subject.encode()
                                    + b"\nDate: Mon, 1 Jan 2001 10:00:00 +0100\n\nbody of " + subject.encode() + b"\n")
    (root / "Maildir" / "tmp").mkdir()
    files = sorted(p for p in (root / "Maildir").rglob("*") if p.is_file())
    assert len(files) == 2
    for path in files:
        assert sniff(FileBlob(path), path.name) == EML
        rel = str(path.relative_to(root))
        rec = ingest(root, rel, tmp_path / "tmp")[-1]
        assert rec.kind == "email" and rec.error is None
        assert rec.email.subject in ("seen", "new") and rec.email.date == "2001-01-01T10:00:00+01:00"
        assert rec.text == f"body of {rec.email.subject}\n"


def test_shared_corpus_mbox(tmp_path):
    root = shared_corpus("ingest")
    out, kids = read(root / "plan.mbox")
    assert len(kids) == 1 and out.children_expected == 1
    child, data = kids[0]
    assert child.metadata["mbox_from_line"] == "From - Tue Feb 21 10:04:06 2017"
    assert child.transforms == []  # CRLF inside: nothing to undo
    raw = (root / "plan.mbox").read_bytes()
    assert data == raw[raw.index(b"\n") + 1:-1]  # less the separator and the final blank line
    recs = ingest(root, "plan.mbox", tmp_path / "tmp")
    assert [r.error for r in recs] == [None] * len(recs)
    assert recs[-1].children_emitted == 1
