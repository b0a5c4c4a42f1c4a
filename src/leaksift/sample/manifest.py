"""What a sample build wrote, and the ground truth a later check should reach about each item.

Locations name an item inside the sample folder:
  `mailboxes/helene.marchetti/Maildir/cur/<name>`      a plain file
  `mbox/thomas.leroy/2017-03.mbox#5`                   the 5th message of an mbox (1-based)
  `archives/claire.dumont-messages.zip!Messages/x.eml` a member of an archive; `!` chains nested archives
`read_message` in mailboxes.py turns a location back into the message's bytes (mbox unescaped).

Expected DKIM results (`dkim`): pass, fail (broken on purpose), no_key (signed, key not published),
none (unsigned). A pass with a 512-bit key (`key_bits`) or x= before the verification time proves nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL, NO_KEY, NONE = "pass", "fail", "no_key", "none"
DELIVERED, SENT = "delivered", "sent"  # a recipient's copy (signed, with Received) or the sender's own copy


@dataclass
class Location:
    path: str
    form: str  # delivered or sent
    line_ending: str  # crlf or lf
    dkim: str  # the expected DKIM result of these bytes


@dataclass
class MessageTruth:
    index: int
    message_id: str
    subject: str
    sender: str
    date: str  # the Date header as written
    kind: str  # original, reply, forward, newsletter, notification
    lang: str
    dkim: str  # expected result of the delivered form
    signed: bool = False
    domain: str | None = None
    selector: str | None = None
    algorithm: str | None = None
    canonicalization: str | None = None
    key_bits: int | None = None
    timestamp: int | None = None  # t=
    expires: int | None = None  # x=
    tampering: list[str] = field(default_factory=list)
    parent: str | None = None  # Message-ID replied to or forwarded
    forwarded: str | None = None  # Message-ID of the message/rfc822 part
    attachments: list[dict[str, str]] = field(default_factory=list)  # filename, mime, sha256
    locations: list[Location] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class KeyInfo:
    domain: str
    selector: str
    algorithm: str  # rsa-sha256 or ed25519-sha256
    bits: int
    published: bool
    name: str  # selector._domainkey.domain.
    record: str  # the TXT record
    note: str


@dataclass
class DocumentTruth:
    name: str
    path: str  # a location, as for messages
    format: str
    sha256: str
    tampering: list[str] = field(default_factory=list)
    doctored_of: str | None = None  # the path of the genuine document this one copies
    details: dict[str, Any] = field(default_factory=dict)  # title, author, dates, application, revisions ...


@dataclass
class SampleManifest:
    out_dir: Path
    seed: int
    keys_path: Path | None
    counts: dict[str, int]  # items written per format, wherever they lie (top level or in archives)
    files: list[str]  # every top-level file written, relative to out_dir, sorted
    keys: list[KeyInfo]
    messages: list[MessageTruth]
    documents: list[DocumentTruth]
    archives: dict[str, list[str]]  # archive location -> member names, in order
    cases: dict[str, list[str]]  # named case -> Message-IDs or document paths
    build_seconds: float = 0.0

    def message(self, message_id: str) -> MessageTruth:
        for m in self.messages:
            if m.message_id == message_id:
                return m
        raise KeyError(message_id)

    def case(self, name: str) -> list[MessageTruth]:
        """The messages of a named case (e.g. "body_altered")."""
        return [self.message(mid) for mid in self.cases.get(name, [])]

    def document(self, path: str) -> DocumentTruth:
        for d in self.documents:
            if d.path == path:
                return d
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["keys_path"] = str(self.keys_path) if self.keys_path else None
        return data

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
