"""A fictional leaked campaign dump with known ground truth: the fixture of the test suite and of `make demo`.

    manifest = build_sample(Path("demo/leak"), keys_out=Path("demo/keys.zone"), emails=120, documents=24)

Everything is fictional (reserved `.example` domains, invented people) and reproducible: the same arguments
give the same bytes, keys included (see keys.py). The manifest says what was written where and what a
forensic check should conclude about each item (manifest.py).
"""

from .build import build_sample, tree_digests
from .keys import dns_records, dnsfunc
from .mailboxes import mbox_messages, read_message
from .manifest import DocumentTruth, KeyInfo, Location, MessageTruth, SampleManifest

__all__ = ["build_sample", "tree_digests", "dns_records", "dnsfunc", "read_message", "mbox_messages",
           "SampleManifest", "MessageTruth", "DocumentTruth", "KeyInfo", "Location"]
