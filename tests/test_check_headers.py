"""Header consistency: each finding fires on a built case and stays quiet on the genuine counterpart."""

from __future__ import annotations

from datetime import datetime

from leaksift.checks.base import CheckContext
from leaksift.checks.headers import HeaderCheck, hop_time
from leaksift.model import EmailFields, ItemRecord

LEAK = CheckContext(leaked_at=datetime.fromisoformat("2017-05-05T22:00:00+02:00"))


def _msg(date: str, *hops: str) -> ItemRecord:
    """hops are given top (last server) first, as in the message."""
    rec = ItemRecord(id="x", path="x.eml", parent=None, source="x.eml", depth=0, kind="email",
                     mime="message/rfc822", sha256="0" * 64, size=1)
    rec.email = EmailFields(date=date)
    rec.metadata["received"] = [f"from mx{i}.campaign.example by mx{i+1}.campaign.example; {h}"
                                for i, h in enumerate(hops)]
    return rec


def _summaries(rec: ItemRecord, ctx: CheckContext = LEAK) -> list[tuple[str, str]]:
    return [(f.effect, f.summary) for f in HeaderCheck().run(rec, ctx)]


def test_genuine_chain_is_quiet() -> None:
    rec = _msg("2017-05-04T10:00:00+02:00", "Thu, 04 May 2017 08:00:09 +0000", "Thu, 04 May 2017 10:00:05 +0200")
    assert _summaries(rec) == []


def test_small_clock_drift_is_not_disorder() -> None:
    rec = _msg("2017-05-04T10:00:00+02:00", "Thu, 04 May 2017 08:00:00 +0000", "Thu, 04 May 2017 10:05:00 +0200")
    assert _summaries(rec) == []


def test_hops_out_of_order() -> None:
    rec = _msg("2017-05-04T10:00:00+02:00", "Thu, 04 May 2017 05:00:00 +0000", "Thu, 04 May 2017 10:00:05 +0200")
    found = HeaderCheck().run(rec, LEAK)
    assert [f.effect for f in found] == ["weakens"] and "out of order" in found[0].summary
    assert found[0].evidence["backwards_seconds"] == 3 * 3600 + 5


def test_first_hop_long_after_date() -> None:
    rec = _msg("2017-04-01T10:00:00+02:00", "Thu, 04 May 2017 10:00:05 +0200")
    found = HeaderCheck().run(rec, LEAK)
    assert len(found) == 1 and found[0].evidence["delay_seconds"] > 30 * 86400


def test_date_far_after_first_hop() -> None:
    rec = _msg("2017-05-04T18:00:00+02:00", "Thu, 04 May 2017 10:00:05 +0200")
    found = HeaderCheck().run(rec, LEAK)
    assert len(found) == 1 and "later than the first server" in found[0].summary


def test_after_the_leak_with_late_stamps_contradicts() -> None:
    rec = _msg("2017-05-06T09:14:09+02:00", "Sat, 06 May 2017 07:14:15 +0000")
    found = HeaderCheck().run(rec, LEAK)
    assert [f.effect for f in found] == ["contradicts"]
    assert found[0].evidence["late_hops"][0]["time"] == "2017-05-06T07:14:15+00:00"


def test_date_after_the_leak_but_stamps_before_only_weakens() -> None:
    rec = _msg("2017-05-06T09:14:09+02:00", "Fri, 05 May 2017 07:14:15 +0000")
    effects = [f.effect for f in HeaderCheck().run(rec, LEAK)]
    assert "contradicts" not in effects and "weakens" in effects


def test_no_leak_date_no_leak_finding() -> None:
    rec = _msg("2017-05-06T09:14:09+02:00")
    assert _summaries(rec, CheckContext()) == []
    assert [f.effect for f in HeaderCheck().run(rec, LEAK)] == ["contradicts"]


def test_hop_time_parsing() -> None:
    assert hop_time("from a by b; Thu, 4 May 2017 10:00:05 +0200 (CEST)").isoformat() == "2017-05-04T10:00:05+02:00"
    assert hop_time("from a by b") is None
    assert hop_time("from a; not a date") is None


def test_sample_cases(tmp_path) -> None:
    """The generator's late_date and received_disorder messages fire; its ordinary mail does not."""
    from conftest import export_lines, scan_dump

    from leaksift.sample import build_sample

    manifest = build_sample(tmp_path / "leak")
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, check_ctx=LEAK)
    rows = export_lines(db)
    by_id: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] == "email":
            by_id.setdefault(r["message_id"], []).append(r)
    late = manifest.cases["late_date"][0]
    disorder = manifest.cases["received_disorder"][0]
    assert all(r["verdict"] == "tampered" for r in by_id[late])
    assert any("out of order" in f["summary"] for r in by_id[disorder] for f in r["findings"])
    flagged = {mid for mid, rs in by_id.items() for r in rs for f in r["findings"] if f["check"] == "headers"}
    assert flagged == {late, disorder}, flagged - {late, disorder}
