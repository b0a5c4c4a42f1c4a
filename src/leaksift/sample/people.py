"""The fictional cast of the sample leak: a 2017 campaign team and the people who write to it.

Every name is invented and every domain is reserved (RFC 2606 `.example`). Each campaign member owns one
mailbox, and each mailbox is written in a different format, so the sample exercises every mail reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# Mailbox formats, one per campaign member: see mailboxes.py.
MAILDIR = "maildir"
MBOX = "mbox"
EMLX = "emlx"
EML = "eml"
ZIP = "zip"
NESTED = "nested"  # an mbox inside a zip inside archives/export.tar.gz

OUTLOOK = "X-Mailer: Microsoft Outlook 16.0"
OUTLOOK_MAC = "User-Agent: Microsoft-MacOutlook/15.33.0.170409"
THUNDERBIRD = "User-Agent: Mozilla/5.0 (Windows NT 10.0; WOW64; rv:45.0) Gecko/20100101 Thunderbird/45.8.0"
APPLE_MAIL = "X-Mailer: Apple Mail (2.3273)"
IPHONE = "X-Mailer: iPhone Mail (14E304)"
WEBMAIL = "X-Mailer: Gmail.example Webmail"
LISTSERV = "X-Mailer: ListServ.example 3.2"
BANKMAIL = "X-Mailer: BankNotify 2.1"


@dataclass(frozen=True)
class Person:
    key: str  # short id; for campaign members also the mailbox owner id
    name: str
    email: str
    org: str  # campaign, gmail, press, bank, lists, news
    lang: str  # fr or en
    role: str
    mailer: str  # the client header line this person's mail carries
    tz: str = "paris"  # paris or london
    owner: str | None = None  # the campaign member whose mailbox keeps this address's mail
    fmt: str | None = None  # mailbox format, campaign members only

    @property
    def first(self) -> str:
        return self.name.split()[0]

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    @property
    def is_staff(self) -> bool:
        return self.owner is not None


def _staff(key: str, name: str, role: str, mailer: str, fmt: str, lang: str = "fr") -> Person:
    return Person(key, name, f"{key}@campaign.example", "campaign", lang, role, mailer, owner=key, fmt=fmt)


STAFF = (
    _staff("helene.marchetti", "Hélène Marchetti", "directrice de campagne", OUTLOOK, MAILDIR),
    _staff("julien.ferrand", "Julien Ferrand", "trésorier", OUTLOOK, MAILDIR),
    _staff("camille.besson", "Camille Besson", "directrice de la communication", THUNDERBIRD, MAILDIR),
    _staff("thomas.leroy", "Thomas Leroy", "responsable terrain", THUNDERBIRD, MBOX),
    _staff("sophie.garnier", "Sophie Garnier", "responsable numérique", THUNDERBIRD, MBOX),
    _staff("marc.aubert", "Marc Aubert", "conseiller spécial", APPLE_MAIL, EMLX),
    _staff("claire.dumont", "Claire Dumont", "attachée de presse", OUTLOOK, ZIP),
    _staff("emma.clarke", "Emma Clarke", "polling strategist", OUTLOOK_MAC, EML, lang="en"),
    _staff("nicolas.petit", "Nicolas Petit", "responsable informatique", THUNDERBIRD, NESTED),
)

PERSONAL = (
    Person("julien.perso", "Julien Ferrand", "julien.ferrand.perso@gmail.example", "gmail", "fr", "trésorier",
           WEBMAIL, owner="julien.ferrand"),
    Person("marc.perso", "Marc Aubert", "m.aubert75@gmail.example", "gmail", "fr", "conseiller", IPHONE,
           owner="marc.aubert"),
)

PRESS = (
    Person("pierre.lambert", "Pierre Lambert", "pierre.lambert@press.example", "press", "fr", "journaliste",
           THUNDERBIRD),
    Person("rachel.moore", "Rachel Moore", "rachel.moore@press.example", "press", "en", "Europe editor",
           OUTLOOK, tz="london"),
)

BANK = (
    Person("antoine.girard", "Antoine Girard", "antoine.girard@bank.example", "bank", "fr", "chargé d'affaires",
           OUTLOOK),
    Person("bank.notices", "Bank Example - Avis d'opération", "avis@bank.example", "bank", "fr", "notification",
           BANKMAIL),
)

NEWSLETTERS = (
    Person("lettre", "La Lettre du Sondage", "lettre@lists.example", "lists", "fr", "newsletter", LISTSERV),
    Person("briefing", "Morning Briefing", "briefing@news.example", "news", "en", "newsletter", LISTSERV,
           tz="london"),
)

EVERYONE = STAFF + PERSONAL + PRESS + BANK + NEWSLETTERS
BY_KEY = {p.key: p for p in EVERYONE}


def person(key: str) -> Person:
    return BY_KEY[key]


def staff_with_format(fmt: str) -> list[Person]:
    return [p for p in STAFF if p.fmt == fmt]


# Summer time began in both Paris and London on 2017-03-26 at 01:00 UTC.
_DST_2017 = datetime(2017, 3, 26, 1, 0, tzinfo=timezone.utc)


def local_offset(tz: str, when_utc: datetime) -> timezone:
    """The UTC offset a mail client in this zone wrote on 2017 dates."""
    base = 1 if tz == "paris" else 0
    summer = when_utc >= _DST_2017
    return timezone(timedelta(hours=base + (1 if summer else 0)))


def local_time(p: Person, when_utc: datetime) -> datetime:
    return when_utc.astimezone(local_offset(p.tz, when_utc))
