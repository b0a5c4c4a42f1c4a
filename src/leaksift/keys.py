"""The DKIM key store: key records from files (and, only when asked, DNS), with where each came from.

A selector may have several records (a key rotated, or an archive that saw several): all are kept and all are
tried. A missing key makes a signature unverifiable, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KeyRecord:
    domain: str  # lower-case, no trailing dot
    selector: str
    record: bytes  # the TXT record, its strings joined
    source: str  # the key file's path, or "dns"
    first_seen: str | None = None  # ISO 8601, from archives of key records
    last_seen: str | None = None
    fetched_at: str | None = None  # for DNS answers: when the query was made

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass
class KeyStore:
    records: dict[tuple[str, str], list[KeyRecord]] = field(default_factory=dict)

    def add(self, rec: KeyRecord) -> None:
        key = (rec.selector.lower(), rec.domain.lower().rstrip("."))
        have = self.records.setdefault(key, [])
        if rec not in have:
            have.append(rec)

    def lookup(self, selector: str, domain: str) -> list[KeyRecord]:
        return list(self.records.get((selector.lower(), domain.lower().rstrip(".")), []))

    def __len__(self) -> int:
        return sum(len(v) for v in self.records.values())

    def __iter__(self):  # noqa: ANN204
        for recs in self.records.values():
            yield from recs
