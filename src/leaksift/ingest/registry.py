"""Readers register by MIME type; the engine asks the registry which one reads an item."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from .base import Reader

# One module per format family; each exposes READERS, a list of reader classes.
READER_MODULES = (
    "leaksift.ingest.archives",
    "leaksift.ingest.mailbox",
    "leaksift.ingest.email",
    "leaksift.ingest.outlook",
    "leaksift.ingest.office",
    "leaksift.ingest.ole",
    "leaksift.ingest.pdf",
    "leaksift.ingest.image",
    "leaksift.ingest.text",
)


@dataclass
class Registry:
    by_mime: dict[str, Reader] = field(default_factory=dict)
    by_prefix: list[tuple[str, Reader]] = field(default_factory=list)

    def register(self, reader: Reader) -> None:
        for mime in reader.mimes:
            if mime.endswith("*"):
                self.by_prefix.append((mime[:-1], reader))
            elif mime in self.by_mime:
                raise ValueError(f"{mime} is read by both {self.by_mime[mime].name} and {reader.name}")
            else:
                self.by_mime[mime] = reader

    def reader_for(self, mime: str) -> Reader | None:
        if mime in self.by_mime:
            return self.by_mime[mime]
        for prefix, reader in self.by_prefix:
            if mime.startswith(prefix):
                return reader
        return None

    def formats(self) -> dict[str, list[str]]:
        """Which reader reads which MIME types: the table of what leaksift supports."""
        table: dict[str, list[str]] = {}
        for mime, reader in self.by_mime.items():
            table.setdefault(reader.name, []).append(mime)
        for prefix, reader in self.by_prefix:
            table.setdefault(reader.name, []).append(prefix + "*")
        return {k: sorted(v) for k, v in sorted(table.items())}


def default_registry() -> Registry:
    reg = Registry()
    for modname in READER_MODULES:
        module = importlib.import_module(modname)
        for cls in module.READERS:
            reg.register(cls())
    return reg
