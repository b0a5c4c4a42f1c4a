"""Messages of the sample: who writes to whom, threads, attachments, signatures, and deliberate forgeries.

`MailPlanner.plan()` yields messages in date order: mostly drawn from the seed, plus fixed cases at fixed
positions (the forgeries and formats later checks need). `render` writes the MIME bytes a mail client sends
(CRLF), `deliver` adds what the mail servers add (DKIM-Signature, Received hops, Return-Path) and then the
forger's changes. A sender's own copy (a Sent folder) is the rendered form: never signed, no Received.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Iterator
from urllib.parse import quote

from . import text
from .dkimsign import RELAXED, RELAXED_SIMPLE, SIMPLE, sign_message
from .docs import MIME, PUBLICATION, WINDOW_START, DocFactory, DocFile
from .keys import DkimKey
from .manifest import DELIVERED, SENT
from .people import BANK, NEWSLETTERS, PERSONAL, PRESS, STAFF, Person, local_time, person

CRLF = b"\r\n"
# Publication of the leak: nothing in it can be dated later.
LEAK_PUBLISHED = datetime(2017, 5, 5, 22, 0, tzinfo=timezone(timedelta(hours=2)))

# Fixed cases, at these fractions of the message count (whatever the count, each happens once).
FIXED = (
    ("newsletter_lists", 0.03), ("newsletter_news", 0.05), ("press_expiring", 0.08),
    ("shared_attachment_1", 0.12), ("forward_1", 0.16), ("bank_notice", 0.20), ("simple_canon", 0.22),
    ("unsigned_internal", 0.25), ("misquote_parent", 0.28), ("misquote", 0.31), ("sent_copy", 0.33),
    ("mbox_escape", 0.36), ("gmail", 0.40), ("body_altered", 0.45), ("forward_2", 0.50), ("nested", 0.52),
    ("extra_from", 0.56), ("received_disorder", 0.62), ("shared_attachment_2", 0.70), ("forward_3", 0.80),
    ("eml_crlf", 0.88), ("eml_lf", 0.92), ("late_date", 1.0),
)
MIN_EMAILS = 40

# Drawn messages: category -> weight.
CATEGORIES = (("internal", 42), ("outbound", 8), ("press", 8), ("bank", 5), ("newsletter", 7), ("personal", 4),
              ("reply", 23), ("forward", 3))


@dataclass
class Message:
    index: int
    when: datetime  # UTC time the client sent it
    sender: Person
    to: list[Person]
    subject: str
    text: str
    kind: str  # original, reply, forward, newsletter, notification
    topic: str
    lang: str
    message_id: str
    cc: list[Person] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    parent: int | None = None  # index of the message replied to or forwarded
    attachments: list[DocFile] = field(default_factory=list)
    forwarded: int | None = None  # index of the message attached as message/rfc822
    html: bool = False
    cte: str = "quoted-printable"
    signed: bool = False  # whether the sender's server signs the delivered form
    canon: tuple[bytes, bytes] = RELAXED
    expires_after: int | None = None  # seconds from t= to x=
    tampering: list[str] = field(default_factory=list)
    owners: list[tuple[str, str]] = field(default_factory=list)  # (mailbox owner, DELIVERED or SENT)
    details: dict = field(default_factory=dict)
    case: str | None = None  # the fixed case this message is, if any

    @property
    def recipients(self) -> list[Person]:
        return self.to + self.cc

    @property
    def date(self) -> datetime:
        return local_time(self.sender, self.when)

    @property
    def date_header(self) -> str:
        return format_datetime(self.date)


# --- planning -----------------------------------------------------------------------------------------------

class MailPlanner:
    """Decides every message of the sample, in date order."""

    def __init__(self, rng: random.Random, docs: DocFactory, count: int, fixed_docs: dict[str, DocFile]) -> None:
        if count < MIN_EMAILS:
            raise ValueError(f"the sample needs at least {MIN_EMAILS} emails to hold every fixed case")
        self.rng, self.docs, self.count, self.fixed_docs = rng, docs, count, fixed_docs
        self.cases = self._case_slots(count)
        self.recent: deque[Message] = deque(maxlen=60)  # conversation a reply or forward may continue
        self.by_case: dict[str, Message] = {}

    @staticmethod
    def _case_slots(count: int) -> dict[int, str]:
        slots: dict[int, str] = {}
        for name, frac in FIXED:
            i = min(int(frac * (count - 1)), count - 1)
            while i in slots:
                i = i + 1 if i + 1 < count - 1 else 1
            slots[i] = name
        return slots

    def _times(self) -> list[datetime]:
        """Send times between 1 Feb and the evening of 5 May 2017, in office-ish hours, sorted."""
        rng, days = self.rng, (PUBLICATION - WINDOW_START).days
        out = []
        for _ in range(self.count):
            day = WINDOW_START.replace(hour=0, minute=0) + timedelta(days=rng.randrange(days))
            out.append(day + timedelta(seconds=rng.randrange(6 * 3600, 21 * 3600)))
        return sorted(out)

    def plan(self) -> Iterator[Message]:
        for i, when in enumerate(self._times()):
            name = self.cases.get(i)
            msg = self._fixed(name, i, when) if name else self._drawn(i, when)
            if not msg.owners:
                msg.owners = self._owners(msg)
            if msg.kind not in ("newsletter", "notification"):
                self.recent.append(msg)
            yield msg

    def _message_id(self, sender: Person, i: int) -> str:
        token = hashlib.sha256(f"{self.rng.random()}/{i}".encode()).hexdigest()
        if sender.mailer.startswith("X-Mailer: Apple") or sender.mailer.startswith("X-Mailer: iPhone"):
            u = token[:32].upper()
            return f"<{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}@{sender.domain}>"
        if sender.org == "gmail":
            return f"<CA+{base64.b64encode(bytes.fromhex(token[:42])).decode().replace('/', '_')}@mail.gmail.example>"
        return f"<{token[:12]}.{token[12:20]}@{sender.domain}>"

    def _owners(self, msg: Message) -> list[tuple[str, str]]:
        rng = self.rng
        staff = [p.owner for p in msg.recipients if p.org == "campaign" and p.owner]
        owners: list[tuple[str, str]] = []
        if staff:
            owners.append((rng.choice(staff), DELIVERED))
            others = [s for s in staff if s != owners[0][0]]
            if others and rng.random() < 0.04:  # the same message in a second mailbox
                owners.append((rng.choice(others), DELIVERED))
            if msg.sender.org == "campaign" and rng.random() < 0.04:  # and in the sender's Sent folder
                owners.append((msg.sender.key, SENT))
        elif msg.sender.org == "campaign":
            owners.append((msg.sender.key, SENT))
        else:
            owners.append((rng.choice(STAFF).key, DELIVERED))
        return owners

    # --- drawn messages ---

    def _drawn(self, i: int, when: datetime) -> Message:
        rng = self.rng
        category = rng.choices([c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])[0]
        if category in ("reply", "forward") and len(self.recent) < 3:
            category = "internal"
        if category == "reply":
            return self.reply(i, when, rng.choice(list(self.recent)[-30:]))
        if category == "forward":
            return self.forward(i, when)
        if category == "newsletter":
            return self.newsletter(i, when, rng.choice(NEWSLETTERS))
        if category == "bank":
            return self.bank(i, when)
        topic = rng.choice(text.TOPICS)
        if category == "internal":
            sender = rng.choice(STAFF)
            pool = [p for p in STAFF if p is not sender]
            to = rng.sample(pool, rng.choice((1, 1, 1, 2, 3)))
            cc = rng.sample([p for p in pool if p not in to], rng.choice((0, 0, 0, 1, 2)))
        elif category == "outbound":
            sender = rng.choice(STAFF)
            to, cc = [rng.choice(PRESS + BANK[:1])], []
            topic = "presse" if to[0].org == "press" else "virement"
        elif category == "press":
            sender = rng.choice(PRESS)
            to, cc, topic = [rng.choice(STAFF)], [], "presse"
        else:  # personal mail from a member's own address
            sender = rng.choice(PERSONAL)
            to, cc = [rng.choice([p for p in STAFF if p.key != sender.owner])], []
        msg = self.original(i, when, sender, to, topic, cc=cc)
        if category in ("internal", "outbound") and rng.random() < 0.12:
            msg.attachments.append(self.docs.attachment(topic, sender, when))
        return msg

    def original(self, i: int, when: datetime, sender: Person, to: list[Person], topic: str,
                 cc: list[Person] | None = None, body: str | None = None, subject: str | None = None) -> Message:
        rng = self.rng
        lang = sender.lang if all(p.lang == sender.lang for p in to) else "fr"
        msg = Message(
            index=i, when=when, sender=sender, to=to, cc=cc or [], topic=topic, lang=lang, kind="original",
            subject=subject or text.subject(rng, topic, lang, when),
            text=body or text.letter(rng, topic, sender, to, when, lang),
            message_id=self._message_id(sender, i), html=sender.org == "gmail" or rng.random() < 0.1,
            cte="8bit" if sender.mailer.startswith("X-Mailer: Apple") else "quoted-printable")
        self._sign_policy(msg)
        return msg

    def _sign_policy(self, msg: Message) -> None:
        rng, org = self.rng, msg.sender.org
        if org == "campaign":
            external = any(p.org != "campaign" for p in msg.recipients)
            msg.signed = external or rng.random() < 0.85
            msg.canon = SIMPLE if rng.random() < 0.12 else RELAXED
        elif org == "press":
            msg.signed, msg.canon = True, RELAXED
            msg.expires_after = 7 * 86400 if rng.random() < 0.5 else None
        elif org == "bank":
            msg.signed, msg.canon = True, RELAXED_SIMPLE
        elif org in ("lists", "gmail"):
            msg.signed, msg.canon = True, RELAXED
        else:
            msg.signed = False

    def reply(self, i: int, when: datetime, parent: Message, misquote: tuple[str, str] | None = None,
              sender: Person | None = None) -> Message:
        rng = self.rng
        repliers = [p for p in parent.recipients if p.org in ("campaign", "press")] or [rng.choice(STAFF)]
        sender = sender or rng.choice(repliers)
        lang = sender.lang
        quoted = parent.text if misquote is None else parent.text.replace(*misquote)
        intro = rng.choice(text.REPLY_OPENERS[lang])
        if rng.random() < 0.5:
            intro += " " + " ".join(text.paragraphs(rng, parent.topic, lang, when, 1))
        said = text.attribution(f"{parent.sender.name} <{parent.sender.email}>", parent.date, lang)
        body = f"{intro}\n\n{sender.first}\n\n{said}\n{text.quote(quoted)}"
        subj = parent.subject if parent.subject.lower().startswith(("re:", "re :")) else f"Re: {parent.subject}"
        cc = [p for p in parent.cc if p is not sender]
        msg = Message(
            index=i, when=max(when, parent.when + timedelta(minutes=3)), sender=sender, to=[parent.sender],
            cc=cc, subject=subj, text=body, kind="reply", topic=parent.topic, lang=lang,
            message_id=self._message_id(sender, i), in_reply_to=parent.message_id,
            references=(parent.references + [parent.message_id])[-10:], parent=parent.index,
            cte="8bit" if sender.mailer.startswith("X-Mailer: Apple") else "quoted-printable")
        self._sign_policy(msg)
        return msg

    def forward(self, i: int, when: datetime) -> Message:
        """A member forwards a message they received, attached whole (message/rfc822), to a colleague."""
        rng = self.rng
        received = [m for m in list(self.recent)[-40:]
                    if not m.tampering and any(o[1] == DELIVERED for o in m.owners)]
        if not received:
            return self.original(i, when, rng.choice(STAFF), [rng.choice(STAFF)], "meeting")
        parent = rng.choice(received)
        holder = person(next(o for o in parent.owners if o[1] == DELIVERED)[0])
        to = [rng.choice([p for p in STAFF if p is not holder])]
        lang = holder.lang
        note = rng.choice(text.FORWARD_NOTES[lang])
        body = f"{text.greeting(to, lang)}\n\n{note}\n\n{text.signature(holder, lang, rng)}\n"
        prefix = "TR: " if lang == "fr" and holder.mailer.startswith("X-Mailer: Microsoft") else "Fwd: "
        msg = Message(
            index=i, when=max(when, parent.when + timedelta(minutes=5)), sender=holder, to=to, kind="forward",
            subject=prefix + parent.subject, text=body, topic=parent.topic, lang=lang,
            message_id=self._message_id(holder, i), parent=parent.index, forwarded=parent.index)
        self._sign_policy(msg)
        return msg

    def newsletter(self, i: int, when: datetime, sender: Person) -> Message:
        rng = self.rng
        subj, body = text.newsletter(rng, sender, when)
        to = rng.sample(list(STAFF), rng.randint(2, 4))
        msg = Message(index=i, when=when, sender=sender, to=to, subject=subj, text=body, kind="newsletter",
                      topic="sondage", lang=sender.lang, message_id=self._message_id(sender, i), html=True)
        self._sign_policy(msg)
        return msg

    def bank(self, i: int, when: datetime) -> Message:
        rng = self.rng
        sender = rng.choice(BANK)
        to = [person("julien.ferrand")] if rng.random() < 0.8 else [person("helene.marchetti")]
        if sender.key == "bank.notices":
            subj, body, _ = text.bank_notice(rng, when)
            kind = "notification"
        else:
            subj, body = text.subject(rng, "virement", "fr", when), text.letter(rng, "virement", sender, to, when, "fr")
            kind = "original"
        msg = Message(index=i, when=when, sender=sender, to=to, subject=subj, text=body, kind=kind,
                      topic="virement", lang="fr", message_id=self._message_id(sender, i))
        self._sign_policy(msg)
        return msg

    # --- fixed cases ---

    def _fixed(self, name: str, i: int, when: datetime) -> Message:
        msg = getattr(self, "_case_" + re.sub(r"_\d+$", "", name))(i, when, name)
        msg.case = name
        self.by_case[name] = msg
        return msg

    def _case_newsletter_lists(self, i: int, when: datetime, name: str) -> Message:
        return self.newsletter(i, when, person("lettre"))

    def _case_newsletter_news(self, i: int, when: datetime, name: str) -> Message:
        return self.newsletter(i, when, person("briefing"))

    def _case_press_expiring(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("rachel.moore"), [person("claire.dumont")], "presse")
        msg.expires_after = 7 * 86400
        return msg

    def _case_shared_attachment(self, i: int, when: datetime, name: str) -> Message:
        julien = person("julien.ferrand")
        to = person("helene.marchetti") if name.endswith("1") else person("emma.clarke")
        lang = to.lang
        body = (f"{text.greeting([to], lang)}\n\n" +
                ("Ci-joint le budget prévisionnel v3, merci de ne pas le diffuser." if lang == "fr" else
                 "Attached is the v3 budget forecast. Please keep it to yourself.") +
                f"\n\n{text.signature(julien, lang, self.rng)}\n")
        msg = self.original(i, when, julien, [to], "budget", body=body,
                            subject="Budget prévisionnel v3" if lang == "fr" else "Budget forecast v3")
        msg.attachments.append(self.fixed_docs["budget_previsionnel_v3.docx"])
        msg.signed, msg.canon, msg.html = True, RELAXED, False
        msg.owners = [(to.key, DELIVERED)]
        return msg

    def _case_forward(self, i: int, when: datetime, name: str) -> Message:
        return self.forward(i, when)

    def _case_bank_notice(self, i: int, when: datetime, name: str) -> Message:
        sender, to = person("bank.notices"), [person("julien.ferrand")]
        subj, body, figure = text.bank_notice(self.rng, when)
        msg = Message(index=i, when=when, sender=sender, to=to, subject=subj, text=body, kind="notification",
                      topic="virement", lang="fr", message_id=self._message_id(sender, i), details={"amount": figure})
        self._sign_policy(msg)
        return msg

    def _case_simple_canon(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("camille.besson"), [person("sophie.garnier")], "numerique")
        msg.signed, msg.canon = True, SIMPLE
        return msg

    def _case_unsigned_internal(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("thomas.leroy"), [person("camille.besson")], "meeting")
        msg.signed = False
        return msg

    def _case_misquote_parent(self, i: int, when: datetime, name: str) -> Message:
        helene = person("helene.marchetti")
        to = [person("camille.besson"), person("thomas.leroy")]
        body = ("Bonjour à tous,\n\nLe sondage interne de cette semaine nous donne 18 % au premier tour.\n"
                "Merci de ne pas communiquer ce chiffre avant le meeting de Lyon.\n\n"
                f"{text.signature(helene, 'fr', self.rng)}\n")
        msg = self.original(i, when, helene, to, "sondage", body=body, subject="Sondage interne : chiffres")
        msg.signed, msg.canon, msg.html = True, RELAXED, False
        msg.owners = [("camille.besson", DELIVERED)]
        return msg

    def _case_misquote(self, i: int, when: datetime, name: str) -> Message:
        parent = self.by_case["misquote_parent"]
        msg = self.reply(i, when, parent, misquote=("18 %", "24 %"), sender=person("camille.besson"))
        msg.tampering.append("misquote")
        msg.details["quoted_change"] = ["18 %", "24 %"]
        self._sign_policy(msg)
        msg.signed = True
        msg.owners = [("helene.marchetti", DELIVERED)]
        return msg

    def _case_sent_copy(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("helene.marchetti"), [person("pierre.lambert")], "presse")
        msg.owners = [("helene.marchetti", SENT)]
        return msg

    def _case_mbox_escape(self, i: int, when: datetime, name: str) -> Message:
        sophie = person("sophie.garnier")
        body = ("Bonjour Thomas,\n\nVoici les retours du terrain, copiés tels quels :\n\n"
                "From the field: la salle de Lyon était pleine, 2 500 personnes.\n"
                ">From the archive: le meeting de 2012 avait fait moitié moins.\n"
                "From now on, on compte les entrées à la porte.\n\n"
                f"{text.signature(sophie, 'fr', self.rng)}\n")
        msg = self.original(i, when, sophie, [person("thomas.leroy")], "meeting", body=body,
                            subject="Retours terrain Lyon")
        msg.signed, msg.canon, msg.html, msg.cte = True, RELAXED, False, "8bit"
        msg.owners = [("thomas.leroy", DELIVERED)]
        return msg

    def _case_gmail(self, i: int, when: datetime, name: str) -> Message:
        return self.original(i, when, person("julien.perso"), [person("helene.marchetti")], "virement")

    def _case_body_altered(self, i: int, when: datetime, name: str) -> Message:
        julien = person("julien.ferrand")
        body = ("Hélène,\n\nLe virement de 48 000 € vers Atlantis Trust (Nassau) est parti ce matin.\n"
                "Il ne doit pas apparaître dans le compte de campagne.\n\n"
                f"{text.signature(julien, 'fr', self.rng)}\n")
        msg = self.original(i, when, julien, [person("helene.marchetti")], "virement", body=body,
                            subject="Virement offshore")
        msg.signed, msg.canon, msg.html, msg.cte = True, RELAXED, False, "quoted-printable"
        msg.tampering.append("body_altered")
        msg.details["changed"] = ["48 000", "480 000"]
        msg.owners = [("helene.marchetti", DELIVERED)]
        return msg

    def _case_nested(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("thomas.leroy"), [person("nicolas.petit")], "numerique")
        msg.owners = [("nicolas.petit", DELIVERED)]
        return msg

    def _case_extra_from(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("thomas.leroy"), [person("claire.dumont")], "presse")
        msg.signed, msg.canon, msg.html = True, RELAXED, False
        msg.tampering.append("extra_from")
        helene = person("helene.marchetti")
        msg.details["added_from"] = formataddr((helene.name, helene.email), charset="utf-8")
        msg.owners = [("claire.dumont", DELIVERED)]
        return msg

    def _case_received_disorder(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("helene.marchetti"), [person("marc.aubert")], "meeting")
        msg.signed = True
        msg.tampering.append("received_disorder")
        msg.owners = [("marc.aubert", DELIVERED)]
        return msg

    def _case_eml(self, i: int, when: datetime, name: str) -> Message:
        msg = self.original(i, when, person("helene.marchetti"), [person("emma.clarke")], "sondage")
        msg.owners = [("emma.clarke", DELIVERED)]
        msg.details["line_ending"] = "crlf" if name == "eml_crlf" else "lf"
        return msg

    def _case_eml_crlf(self, i: int, when: datetime, name: str) -> Message:
        return self._case_eml(i, when, name)

    def _case_eml_lf(self, i: int, when: datetime, name: str) -> Message:
        return self._case_eml(i, when, name)

    def _case_late_date(self, i: int, when: datetime, name: str) -> Message:
        late = datetime(2017, 5, 6, 7, 14, 9, tzinfo=timezone.utc)  # the morning after publication
        msg = self.original(i, late, person("marc.aubert"), [person("claire.dumont")], "virement")
        msg.signed = False
        msg.tampering.append("late_date")
        msg.owners = [("claire.dumont", DELIVERED)]
        return msg


# --- rendering ----------------------------------------------------------------------------------------------

def _fold(name: str, value: str) -> bytes:
    """One header field, folded before 78 columns: after the commas of an address list, else at spaces."""
    line = f"{name}: {value}"
    if len(line) <= 78 or "\r\n" in value:  # short, or already folded (encoded words)
        return line.encode() + CRLF
    if name in ("To", "Cc"):
        tokens = [t + "," for t in value.split(", ")]
        tokens[-1] = tokens[-1][:-1]
    else:
        tokens = value.split(" ")
    lines, cur = [], f"{name}:"
    for tok in tokens:
        if cur != f"{name}:" and len(cur) + 1 + len(tok) > 78:
            lines.append(cur)
            cur = " " + tok
        else:
            cur += " " + tok
    lines.append(cur)
    return "\r\n".join(lines).encode() + CRLF


@lru_cache(maxsize=64)
def _addr(p: Person) -> str:
    return formataddr((p.name, p.email), charset="utf-8")


def _encoded(value: str, name: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _boundary(msg: Message, level: int) -> str:
    return "----=_Part_" + hashlib.sha1(f"{msg.message_id}/{level}".encode()).hexdigest()[:24]


def _qp(s: str) -> bytes:
    return quopri.encodestring(s.encode("utf-8")).replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def _text_part(msg: Message) -> bytes:
    body = msg.text.replace("\r\n", "\n")
    if msg.cte == "8bit":
        data = body.encode("utf-8").replace(b"\n", CRLF)
    else:
        data = _qp(body)
    return (b'Content-Type: text/plain; charset="utf-8"' + CRLF +
            f"Content-Transfer-Encoding: {msg.cte}".encode() + CRLF + CRLF + data)


def _html_part(msg: Message) -> bytes:
    paras = "".join(f"<p>{p.replace('&', '&amp;').replace('<', '&lt;').replace(chr(10), '<br>')}</p>"
                    for p in msg.text.split("\n\n"))
    html = f'<html><head><meta charset="utf-8"></head><body style="font-family:Calibri">{paras}</body></html>\n'
    return (b'Content-Type: text/html; charset="utf-8"' + CRLF + b"Content-Transfer-Encoding: quoted-printable" +
            CRLF + CRLF + _qp(html))


def _attachment_part(doc: DocFile) -> bytes:
    mime = MIME[doc.fmt]
    if doc.name.isascii():
        ctype, disp = f'{mime}; name="{doc.name}"', f'attachment; filename="{doc.name}"'
    else:  # RFC 2231 for the parameter, an encoded word for clients that ignore it (as Outlook writes)
        enc = Header(doc.name, "utf-8").encode()
        ctype = f'{mime}; name="{enc}"'
        disp = f"attachment; filename*=utf-8''{quote(doc.name)}"
    data = base64.encodebytes(doc.data).replace(b"\n", CRLF)
    return (_fold("Content-Type", ctype) + _fold("Content-Disposition", disp) +
            b"Content-Transfer-Encoding: base64" + CRLF + CRLF + data)


def _rfc822_part(raw: bytes, subject: str) -> bytes:
    name = re.sub(r"[^\w .-]", "_", subject)[:60] + ".eml"
    cte = "7bit" if raw.isascii() else "8bit"
    return (_fold("Content-Type", f'message/rfc822; name="{_encoded(name, "Content-Type")}"') +
            _fold("Content-Disposition", f'attachment; filename="{_encoded(name, "Content-Disposition")}"') +
            f"Content-Transfer-Encoding: {cte}".encode() + CRLF + CRLF + raw)


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    b = boundary.encode()
    body = b"This is a multi-part message in MIME format." + CRLF + CRLF
    for part in parts:
        body += b"--" + b + CRLF + part + CRLF
    body += b"--" + b + b"--" + CRLF
    return f'multipart/{subtype}; boundary="{boundary}"'.encode(), body


def _split_part(part: bytes) -> tuple[list[bytes], bytes]:
    head, body = part.split(CRLF + CRLF, 1)
    return [ln + CRLF for ln in head.split(CRLF)], body


def render(msg: Message, forwarded: bytes | None = None) -> bytes:
    """The message as the sender's client submits it: CRLF line ends, unsigned, no trace headers."""
    main = _text_part(msg)
    if msg.html:
        ctype, body = _multipart("alternative", _boundary(msg, 1), [main, _html_part(msg)])
        main = b"Content-Type: " + ctype + CRLF + CRLF + body
    extras = [_attachment_part(d) for d in msg.attachments]
    if forwarded is not None and msg.forwarded is not None:
        extras.append(_rfc822_part(forwarded, msg.subject.split(": ", 1)[-1]))
    if extras:
        ctype, body = _multipart("mixed", _boundary(msg, 0), [main] + extras)
        content_headers, payload = [b"Content-Type: " + ctype + CRLF], body
    else:
        content_headers, payload = _split_part(main)
    headers = [_fold("From", _addr(msg.sender)), _fold("To", ", ".join(_addr(p) for p in msg.to))]
    if msg.cc:
        headers.append(_fold("Cc", ", ".join(_addr(p) for p in msg.cc)))
    headers += [_fold("Subject", _encoded(msg.subject, "Subject")), _fold("Date", msg.date_header),
                _fold("Message-ID", msg.message_id)]
    if msg.in_reply_to:
        headers += [_fold("In-Reply-To", msg.in_reply_to), _fold("References", " ".join(msg.references))]
    if msg.sender.org == "lists":
        headers += [_fold("List-Id", "La Lettre du Sondage <lettre.lists.example>"),
                    _fold("List-Unsubscribe", "<https://lists.example/desinscription>")]
    headers.append(b"MIME-Version: 1.0" + CRLF)
    headers += content_headers
    name, value = msg.sender.mailer.split(": ", 1)
    headers.append(_fold(name, value))
    if msg.sender.mailer.startswith("X-Mailer: Microsoft"):
        headers.append(b"Content-Language: " + (b"fr-FR" if msg.lang == "fr" else b"en-GB") + CRLF)
    return b"".join(headers) + CRLF + payload


# --- delivery: what the servers add, and what the forger changed --------------------------------------------

def _server_time(when: datetime, tz_person: Person) -> str:
    local = local_time(tz_person, when)
    zone = {3600: "CET", 7200: "CEST", 0: "GMT"}.get(int(local.utcoffset().total_seconds()), "")
    if tz_person.tz == "london" and local.utcoffset() == timedelta(hours=1):
        zone = "BST"
    return f"{format_datetime(local)} ({zone})"


def _hex_id(msg: Message, n: int) -> str:
    return hashlib.sha1(f"{msg.message_id}/hop{n}".encode()).hexdigest()[:10].upper()


def received_hops(msg: Message, rcpt: Person) -> list[bytes]:
    """Received fields from the top (last hop) down, with times that grow from the bottom up."""
    s, t = msg.sender, msg.when
    paris = person("helene.marchetti")
    client = f"198.51.100.{(msg.index * 7) % 250 + 3}"
    if s.org == "campaign":
        hops = [
            (f"from [{client}] (unknown [{client}])\r\n\tby smtp.campaign.example (Postfix) with ESMTPSA id "
             f"{_hex_id(msg, 1)}\r\n\tfor <{rcpt.email}>", t + timedelta(seconds=1), paris),
            (f"from smtp.campaign.example (smtp.campaign.example [192.0.2.25])\r\n\tby imap.campaign.example "
             f"(Dovecot) with LMTP id {_hex_id(msg, 2)}\r\n\tfor <{rcpt.email}>", t + timedelta(seconds=3), paris),
        ]
    else:
        dom = s.domain
        hops = [
            (f"from [{client}] (unknown [{client}])\r\n\tby smtp.{dom} with ESMTPSA id {_hex_id(msg, 1)}",
             t + timedelta(seconds=1), s),
            (f"from smtp.{dom} (smtp.{dom} [203.0.113.{len(dom) * 9 % 250}])\r\n\tby mx1.campaign.example (Postfix) "
             f"with ESMTPS id {_hex_id(msg, 2)}\r\n\tfor <{rcpt.email}>", t + timedelta(seconds=5), paris),
            (f"from mx1.campaign.example (mx1.campaign.example [192.0.2.10])\r\n\tby imap.campaign.example "
             f"(Dovecot) with LMTP id {_hex_id(msg, 3)}\r\n\tfor <{rcpt.email}>", t + timedelta(seconds=6), paris),
        ]
    if "received_disorder" in msg.tampering:  # the last hop claims to be three hours before the first
        clause, when, tz = hops[-1]
        hops[-1] = (clause, hops[0][1] - timedelta(hours=3), tz)
    return [f"Received: {clause};\r\n\t{_server_time(when, tz)}\r\n".encode() for clause, when, tz in reversed(hops)]


@dataclass
class Delivered:
    raw: bytes  # CRLF bytes as the recipient's mailbox holds them
    dkim_key: DkimKey | None
    timestamp: int | None
    expires: int | None


def deliver(msg: Message, submitted: bytes, keys: dict[str, DkimKey], rcpt: Person) -> Delivered:
    """Sign (when the sender's server does), add the trace fields, then apply the forger's change."""
    key = keys.get(msg.sender.domain) if msg.signed else None
    raw, ts, xp = submitted, None, None
    if key is not None:
        ts = int(msg.when.timestamp()) + 1
        xp = ts + msg.expires_after if msg.expires_after else None
        raw = sign_message(submitted, key, ts, xp, msg.canon)
    raw = b"Return-Path: <" + msg.sender.email.encode() + b">" + CRLF + b"".join(received_hops(msg, rcpt)) + raw
    if "body_altered" in msg.tampering:
        raw = _alter_body(raw, *msg.details["changed"])
    if "extra_from" in msg.tampering:
        raw = _add_from(raw, msg.details["added_from"])
    return Delivered(raw, key, ts, xp)


def _alter_body(raw: bytes, old: str, new: str) -> bytes:
    head, body = raw.split(CRLF + CRLF, 1)
    if old.encode() not in body:
        raise AssertionError(f"{old!r} not in the body to alter")
    return head + CRLF + CRLF + body.replace(old.encode(), new.encode(), 1)


def _add_from(raw: bytes, forged: str) -> bytes:
    """A second From field right above the signed one: mail clients show the top one."""
    head, body = raw.split(CRLF + CRLF, 1)
    at = head.index(CRLF + b"From: ") + 2
    return head[:at] + _fold("From", forged) + head[at:] + CRLF + CRLF + body
