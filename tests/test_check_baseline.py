"""Domain signing baseline: fires where a domain that always signs has an unsigned delivered message."""

from __future__ import annotations

from leaksift.checks.base import CheckContext
from leaksift.checks.baseline import BaselineCheck


class FakeStore:
    def __init__(self, messages: list[dict]) -> None:
        self.messages = messages

    def delivered_emails(self):  # noqa: ANN201
        return iter(self.messages)


def _msg(i: int, addr: str, signed_by: str | None) -> dict:
    findings = [{"check": "dkim", "effect": "proves", "evidence": {"domain": signed_by}}] if signed_by else \
        [{"check": "dkim", "effect": "info", "evidence": {"status": "no_key"}}]
    return {"id": f"m{i}", "from_addr": addr, "findings": findings}


def test_unsigned_message_of_a_signing_domain_is_flagged() -> None:
    msgs = [_msg(i, f"p{i}@campaign.example", "campaign.example") for i in range(12)]
    msgs.append(_msg(99, "forger@campaign.example", None))
    found = list(BaselineCheck().run(FakeStore(msgs), CheckContext()))
    assert [(i, f.effect) for i, f in found] == [("m99", "weakens")]
    assert found[0][1].evidence == {"domain": "campaign.example", "delivered": 13, "signed": 12, "rate": 0.923}


def test_a_parent_domain_signature_counts_for_its_subdomains() -> None:
    msgs = [_msg(i, f"p{i}@mail.campaign.example", "campaign.example") for i in range(12)]
    assert list(BaselineCheck().run(FakeStore(msgs), CheckContext())) == []


def test_no_habit_no_finding() -> None:
    msgs = [_msg(i, f"p{i}@press.example", "press.example" if i % 5 else None) for i in range(20)]  # 80 %
    assert list(BaselineCheck().run(FakeStore(msgs), CheckContext())) == []
    few = [_msg(i, f"p{i}@bank.example", "bank.example") for i in range(5)] + [_msg(9, "x@bank.example", None)]
    assert list(BaselineCheck().run(FakeStore(few), CheckContext())) == []


def test_sent_copies_are_not_delivered_mail(tmp_path) -> None:
    """The store only hands over messages with Received headers: a Sent-folder copy is never judged."""
    from conftest import scan_dump, write_eml

    from leaksift.store import open_store

    dump = tmp_path / "dump"
    write_eml(dump / "sent.eml", 1)
    write_eml(dump / "inbox.eml", 2, Received="from mx.campaign.example by mx2; Thu, 04 May 2017 10:00:05 +0200")
    scan_dump(dump, tmp_path / "case.db")
    store = open_store(tmp_path / "case.db")
    try:
        assert [m["from_addr"] for m in store.delivered_emails()] == ["p2@campaign.example"]
    finally:
        store.close()
