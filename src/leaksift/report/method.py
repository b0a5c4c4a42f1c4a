"""The method section of the report: what each check means, what it cannot show, its innocent explanations,
and the sources it rests on. Kept as data (condensed from docs/verdicts.md) so the report never parses markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    name: str
    meaning: str


@dataclass(frozen=True)
class CheckMethod:
    name: str
    title: str
    means: str
    cannot_show: str
    innocent: tuple[str, ...]
    sources: tuple[str, ...] = field(default_factory=tuple)


VERDICTS = (
    Verdict("verified", "A finding proves origin and content: a valid cryptographic signature with a key that counts, "
                        "or bytes covered by one."),
    Verdict("consistent", "Nothing proves it and nothing contradicts it. The default: most genuine material can be "
                          "neither proven nor disproven."),
    Verdict("suspicious", "A finding weakens it: evidence that innocent processes rarely produce, but can."),
    Verdict("tampered", "A finding contradicts it: its own evidence shows it was changed."),
    Verdict("unreadable", "It could not be read (encrypted, corrupt, truncated, over a safety cap); the reason is "
                          "given. An unreadable item is neither genuine nor fake."),
)

RULES = (
    "An item with a read error is unreadable.",
    "Any finding that contradicts makes it tampered, even if another finding proves something: a valid signature "
    "over headers does not clear a body that no longer matches.",
    "Otherwise any finding that weakens makes it suspicious.",
    "Otherwise any finding that proves makes it verified.",
    "Otherwise it is consistent. Findings that support or inform never change a verdict on their own.",
)

CHECKS = (
    CheckMethod(
        "dkim", "DKIM signatures",
        "Each DKIM-Signature is checked with every key record the case holds for its selector; a failure is split "
        "into the body hash and the header signature. Expiry (x=) is judged against the message's own dates. "
        "Recorded container changes (LF line ends, mbox '>From ' escaping, a list's subject tag or footer) are "
        "undone before concluding the message was altered.",
        "It proves only what the signer signed: unsigned headers, content beyond l=, and who wrote the text inside "
        "the signer's domain are outside it. No key in the case means unverifiable, never failed. Keys under 1024 "
        "bits prove nothing.",
        ("an exporter or mail client that rewrote bodies", "a mailing list that changed subject or footer",
         "a relay that rewrote a header", "the key was rotated away before anyone archived it"),
        ("RFC 6376 (DKIM)", "RFC 8463 (Ed25519 for DKIM)", "RFC 8301 (RSA-SHA1 and key sizes)", "dkimpy"),
    ),
    CheckMethod(
        "arc", "ARC chains",
        "Validates ARC sets added by lists and forwarders with the case's keys, without today's clock; a valid "
        "chain whose first hop recorded dkim=pass makes a broken origin signature consistent with a list change.",
        "A chain only vouches that a hop saw a passing signature; it never proves content on its own.",
        ("implementations disagree on ARC; DKIM is the judge", "sealer keys missing from the case"),
        ("RFC 8617 (ARC)",),
    ),
    CheckMethod(
        "headers", "Received chain and dates",
        "Compares the Received hops with each other, with the Date header and with the publication of the dump.",
        "Received headers are text anyone can write; order and dates show inconsistency, not authorship.",
        ("a server with a wrong clock", "a message written offline and sent later", "a long queue",
         "a sender's clock set ahead", "a wrong --leaked-at"),
        ("RFC 5321 §4.4 (trace fields)", "RFC 5322 (message format)"),
    ),
    CheckMethod(
        "inherit", "Proof that travels",
        "An attachment of a message whose signature covers its whole body is proven with it; identical bytes "
        "(same SHA-256) to a proven item are proven too.",
        "Not given for header-only proofs or l= signatures; it proves the bytes, not the claims inside a document.",
        (),
        ("RFC 6376 §3.7 (body hash)", "FIPS 180-4 (SHA-256)"),
    ),
    CheckMethod(
        "baseline", "A domain that always signs",
        "Where a domain signs at least 90% of at least 10 delivered messages, a delivered message claiming it "
        "without a valid signature from it is flagged.",
        "A habit is not a rule: it cannot say the message is fake, only that it is unlike the domain's others.",
        ("the domain began signing during the period", "mail sent through another provider",
         "a relay that broke the signature"),
        (),
    ),
    CheckMethod(
        "threads", "Replies that misquote their parent",
        "The first-level quoted lines of a reply are compared word by word with the parent's text; only words "
        "changed inside the quoted span count.",
        "It cannot tell which side was edited unless one is verified; the diff shows the words, the reader judges.",
        ("people edit quotes in inline replies", "clients replace characters",
         "the parent was edited by its author before re-sending"),
        (),
    ),
    CheckMethod(
        "neardup", "Near-duplicates and doctored copies",
        "MinHash LSH over the text of every distinct content finds candidates; a word diff confirms each pair. "
        "A document claiming the same save as a verified copy but saying something else is tampered.",
        "Without a verified side it cannot say which copy is the original.",
        ("drafts and later versions", "templates", "forwarded or re-typed text",
         "tools that save without updating the save stamp"),
        ("Broder 1997, 'On the resemblance and containment of documents' (MinHash)", "datasketch"),
    ),
    CheckMethod(
        "pdfrev", "A PDF's own history",
        "Recovers every earlier revision of a PDF (startxref, /Prev) and compares their text; compares the Info "
        "dictionary with the XMP packet.",
        "A revision shows that text changed after the first save, not who changed it or why.",
        ("a correction saved incrementally", "a form filled in and flattened", "a redaction", "OCR of a scan",
         "tools that update Info but not XMP"),
        ("ISO 32000-1 §7.5.6 (incremental updates)", "ISO 16684-1 (XMP)"),
    ),
    CheckMethod(
        "docdates", "Impossible or strained document dates",
        "Compares a document's claimed dates with each other, with the leak's publication, and with the release "
        "dates of the application and fonts that wrote it.",
        "Dates are metadata anyone can set; a consistent set proves nothing.",
        ("a wrong system clock", "templates and mail merge copying dates", "beta builds",
         "font substitution at export time"),
        ("src/leaksift/data/releases.csv (a source for each row)", "ECMA-376 (OOXML core properties)"),
    ),
    CheckMethod(
        "zipdates", "Office files re-packed after saving",
        "Office dates every zip entry 1980-01-01; an Office-claimed file whose parts carry real times was re-packed "
        "by another program.",
        "Re-packing is common and says nothing about the content.",
        ("document management systems", "mail gateways", "test-case builders"),
        ("ECMA-376 Part 2 (Open Packaging Conventions)", "PKWARE APPNOTE (zip)"),
    ),
    CheckMethod(
        "rsids", "Word documents with a common origin",
        "Different Word files sharing their root session id or several editing-session ids were edited from a "
        "common file.",
        "A shared origin is not a forgery; ids shared by many files (templates) are ignored.",
        ("templates", "copy-and-edit"),
        ("ECMA-376 Part 1 §17.15.1.72 (rsids)",),
    ),
    CheckMethod(
        "uilang", "Interface language of the saving Office",
        "A person who saved every other document in one interface language saved this one in another.",
        "It shows a different computer or suite, not a different author.",
        ("a colleague's computer", "a travelling laptop", "a conversion by another suite"),
        (),
    ),
    CheckMethod(
        "folderwindow", "A folder re-saved in one go",
        "All documents of a folder (at least 5) last modified within 10 minutes.",
        "A batch re-save is common; it cannot say what, if anything, changed.",
        ("a 'save all'", "a batch conversion or migration", "a script that stamps documents"),
        (),
    ),
    CheckMethod(
        "exifdates", "A photo taken after the message that carries it",
        "An attached image's EXIF capture date is later than the message's Date.",
        "Camera clocks are often wrong; EXIF is easy to edit.",
        ("a camera clock set wrong", "a time zone missing from EXIF"),
        ("CIPA DC-008 (Exif 2.32)",),
    ),
)


def check_method(name: str) -> CheckMethod | None:
    return next((c for c in CHECKS if c.name == name), None)
