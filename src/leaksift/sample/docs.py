"""The documents of the sample: what each one says, who wrote it when, and where it is filed.

`DocFactory` makes standalone documents (documents/ and inside the archives) and email attachments. The
first documents are fixed cases that later checks rely on (a doctored copy of a docx, an incrementally
updated PDF, an edited photo ...); the rest are drawn from the seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import text
from .images import PhotoMeta, jpeg
from .office import DocMeta, docx, odt, pptx, replace_part, xlsx
from .pdf import PdfMeta, add_revision, pdf_document
from .people import STAFF, Person, local_time, person

MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "pdf": "application/pdf", "jpg": "image/jpeg", "csv": "text/csv", "txt": "text/plain",
}
# Where a document is filed: a folder of documents/, the tar of archives/export.tar.gz, or the zip inside it.
DOCUMENTS, EXPORT, NESTED_ZIP = "documents", "export", "nested"
FOLDERS = {"docx": "notes", "odt": "communication", "pptx": "communication", "xlsx": "finances", "pdf": "rapports",
           "jpg": "photos", "csv": "finances", "txt": "notes"}
EXTRA_KINDS = ("docx", "docx", "docx", "xlsx", "xlsx", "pdf", "pdf", "jpg", "jpg", "pptx", "odt", "csv", "txt")

WINDOW_START = datetime(2017, 2, 1, 8, 0, tzinfo=timezone.utc)
PUBLICATION = datetime(2017, 5, 5, 20, 0, tzinfo=timezone.utc)  # 2017-05-05T22:00+02:00
PARIS = (48.8566, 2.3522)
LYON = (45.7640, 4.8357)


@dataclass
class DocFile:
    """One document: its bytes, where it goes, and what a reader should find in it."""

    name: str
    fmt: str
    data: bytes
    place: str = DOCUMENTS  # DOCUMENTS, EXPORT or NESTED_ZIP
    folder: str = ""  # sub-folder of documents/
    truth: dict = field(default_factory=dict)  # title, author, dates, application, revisions, tampering ...

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _rsids(rng: random.Random, n: int) -> list[str]:
    return [f"00{rng.randrange(16 ** 6):06X}" for _ in range(n)]


def _iso(when: datetime) -> str:
    return when.isoformat()


class DocFactory:
    """Documents and attachments drawn from one seeded random stream."""

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.seed = seed

    # --- metadata -------------------------------------------------------------------------------------------

    def _when(self, start: datetime = WINDOW_START, end: datetime = PUBLICATION) -> datetime:
        span = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randrange(span))

    def office_meta(self, title: str, author: Person, fmt: str, created: datetime | None = None,
                    editor: Person | None = None) -> DocMeta:
        rng = self.rng
        created = created or self._when(end=PUBLICATION - timedelta(days=3))
        modified = min(created + timedelta(minutes=rng.randint(10, 60 * 24 * 6)), PUBLICATION - timedelta(hours=1))
        editor = editor or rng.choice([author] * 2 + list(STAFF))
        app, version = {"docx": ("Microsoft Office Word", "16.0000"), "xlsx": ("Microsoft Excel", "16.0300"),
                        "pptx": ("Microsoft Office PowerPoint", "16.0000")}.get(fmt, ("LibreOffice", "5.3"))
        if author.key == "emma.clarke" and fmt == "docx":
            app, version = "Microsoft Macintosh Word", "15.0000"
        return DocMeta(
            title=title, creator=author.name, last_modified_by=editor.name,
            created=local_time(author, created).replace(second=0),
            modified=local_time(editor, modified).replace(second=0),
            application=app, app_version=version, total_time=rng.randint(3, 400), revision=rng.randint(1, 14),
            custom={"Classification": rng.choice(("Confidentiel", "Interne", "Diffusion restreinte")),
                    "Projet": "Présidentielle 2017"},
            rsids=_rsids(rng, rng.randint(2, 6)), lang="en-GB" if author.lang == "en" else "fr-FR")

    def _truth(self, meta: DocMeta, fmt: str, **extra: object) -> dict:
        t = {"format": fmt, "title": meta.title, "author": meta.creator, "last_modified_by": meta.last_modified_by,
             "created": _iso(meta.created), "modified": _iso(meta.modified), "application": meta.application,
             "app_version": meta.app_version, "company": meta.company, "total_time": meta.total_time,
             "revision": meta.revision, "tampering": []}
        t.update(extra)
        return t

    # --- one document of each kind --------------------------------------------------------------------------

    def word(self, name: str, title: str, author: Person, paragraphs: list[str], **kw: object) -> DocFile:
        meta = self.office_meta(title, author, "docx")
        return DocFile(name, "docx", docx(meta, paragraphs), truth=self._truth(meta, "docx", **kw))

    def sheet(self, name: str, title: str, author: Person, rows: list[list[str | int | float]]) -> DocFile:
        meta = self.office_meta(title, author, "xlsx")
        return DocFile(name, "xlsx", xlsx(meta, rows, "Budget"), truth=self._truth(meta, "xlsx"))

    def slides(self, name: str, title: str, author: Person, when: datetime) -> DocFile:
        meta = self.office_meta(title, author, "pptx")
        deck = [(title, [f"Campagne 2017 - {author.name}"])] + [
            (t.capitalize(), text.paragraphs(self.rng, t, author.lang, when, 3))
            for t in self.rng.sample(text.TOPICS, 3)]
        return DocFile(name, "pptx", pptx(meta, deck), truth=self._truth(meta, "pptx", slides=len(deck)))

    def writer(self, name: str, title: str, author: Person, paragraphs: list[str]) -> DocFile:
        meta = self.office_meta(title, author, "odt")
        meta.application, meta.app_version = "LibreOffice", "5.3.1.2"
        return DocFile(name, "odt", odt(meta, paragraphs),
                       truth=self._truth(meta, "odt", generator=meta.generator))

    def pdf(self, name: str, title: str, author: Person, lines: list[str], app: str = "Microsoft® Word 2016",
            revised: list[str] | None = None) -> DocFile:
        created = local_time(author, self._when(end=PUBLICATION - timedelta(days=4))).replace(microsecond=0)
        modified = created + timedelta(minutes=self.rng.randint(1, 30))
        doc_id = hashlib.md5(f"{self.seed}/{name}".encode()).hexdigest()
        producer = "LibreOffice 5.3" if app == "Writer" else app
        meta = PdfMeta(title, author.name, app, producer, created, modified, doc_id)
        data = pdf_document(meta, [lines])
        truth = {"format": "pdf", "title": title, "author": author.name, "creator": app, "producer": producer,
                 "created": _iso(created), "modified": _iso(modified), "revisions": 1, "tampering": [],
                 "text": lines}
        if revised is not None:
            later = modified + timedelta(days=self.rng.randint(2, 3), minutes=self.rng.randint(0, 600))
            data = add_revision(data, meta, 1, revised, later)
            truth.update(revisions=2, modified=_iso(later), text=revised, original_text=lines,
                         xmp_modified=_iso(modified), tampering=["incremental_update_changes_text"])
        return DocFile(name, "pdf", data, truth=truth)

    def photo(self, name: str, author: Person, edited: bool = False, gps: tuple[float, float] | None = None) -> DocFile:
        rng = self.rng
        taken = local_time(author, self._when()).replace(tzinfo=None, microsecond=0)
        if rng.random() < 0.5 or gps:
            make, model, software = "Apple", rng.choice(("iPhone 6s", "iPhone 7")), "10.3.1"
        else:
            make, model, software = "Canon", "Canon EOS 80D", "Firmware Version 1.0.2"
        modified = taken
        if edited:
            software, modified = "Adobe Photoshop CC 2017 (Windows)", taken + timedelta(days=1, hours=3)
        meta = PhotoMeta(make, model, software, taken, modified, gps=gps)
        truth = {"format": "jpg", "make": make, "model": model, "software": software,
                 "taken": taken.isoformat(), "modified": modified.isoformat(), "gps": list(gps) if gps else None,
                 "tampering": ["edited_after_capture"] if edited else []}
        return DocFile(name, "jpg", jpeg(rng, meta), truth=truth)

    def table(self, name: str, when: datetime) -> DocFile:
        rng = self.rng
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
        w.writerow(["date", "institut", "candidat", "score_pct", "echantillon"])
        for _ in range(rng.randint(8, 20)):
            day = when - timedelta(days=rng.randint(0, 40))
            w.writerow([day.strftime("%Y-%m-%d"), rng.choice(text.INSTITUTES), rng.choice("ABCDE"),
                        f"{rng.randint(80, 310) / 10:.1f}".replace(".", ","), rng.choice((800, 1000, 1500))])
        return DocFile(name, "csv", buf.getvalue().encode("utf-8"), truth={"format": "csv", "tampering": []})

    def memo(self, name: str, author: Person, when: datetime) -> DocFile:
        paras = text.paragraphs(self.rng, "virement", "fr", when, 4)
        body = (f"MEMO - {text.DAYS_FR[when.weekday()]} {when:%d/%m/%Y}\nDe : {author.name}\n"
                "Objet : trésorerie et comptes offshore\n\n" + "\n\n".join(paras) + "\n\nNe pas diffuser.\n")
        return DocFile(name, "txt", body.encode("utf-8"), truth={"format": "txt", "author": author.name,
                                                                 "tampering": []})

    # --- the fixed cases ------------------------------------------------------------------------------------

    def fixed_documents(self) -> list[DocFile]:
        """The documents every sample holds, whatever its size."""
        julien, emma = person("julien.ferrand"), person("emma.clarke")
        budget = [
            "Budget prévisionnel de la campagne, version 3.",
            "Meetings et location de salles : 420 000 €.",
            "Impression et affichage : 310 000 €.",
            "Numérique et réseaux sociaux : 170 000 €.",
            "Prestations de conseil (facturées via Harbour Capital Ltd) : 350 000 €.",
            "Total des dépenses prévues : 1 250 000 €.",
        ]
        original = self.word("budget_previsionnel_v3.docx", "Budget prévisionnel v3", julien, budget)
        original.folder = "finances"
        # As a forger edits a docx: unzip, change one figure in word/document.xml, zip again. Every
        # metadata part (and the word counts in app.xml) stays as it was.
        with zipfile.ZipFile(io.BytesIO(original.data)) as zf:
            body = zf.read("word/document.xml").replace("350 000".encode(), "35 000".encode())
        doctored = DocFile(original.name, "docx", replace_part(original.data, "word/document.xml", body),
                           place=EXPORT, truth=dict(original.truth, tampering=["doctored_copy"],
                                                    changed=["350 000", "35 000"]))
        when = datetime(2017, 4, 12, 16, 0, tzinfo=timezone.utc)
        rows: list[list[str | int | float]] = [["Poste", "Montant (EUR)"]] + [
            [f"Meeting de {c}", self.rng.randint(20, 90) * 1000] for c in text.CITIES[:6]]
        docs = [
            original, doctored,
            self.sheet("budget_meetings_avril.xlsx", "Budget meetings avril", julien, rows),
            self.slides("strategie_numerique.pptx", "Stratégie numérique", person("sophie.garnier"), when),
            self.writer("communique_meeting_lyon.odt", "Communiqué - meeting de Lyon", person("claire.dumont"),
                        text.paragraphs(self.rng, "presse", "fr", when, 3)),
            self.pdf("sondage_interne_avril.pdf", "Sondage interne - avril 2017", emma,
                     ["Intentions de vote au premier tour : 18 %", "Marge d'erreur : 3 points",
                      "Echantillon : 1 000 personnes"]),
            self.pdf("note_virement_offshore.pdf", "Note - virement", julien,
                     ["Objet : virement vers Atlantis Trust (Nassau)", "Montant du virement : 75 000 €",
                      "Validé par : H. Marchetti"],
                     revised=["Objet : virement vers Atlantis Trust (Nassau)", "Montant du virement : 57 000 €",
                              "Validé par : H. Marchetti"]),
            self.photo("IMG_0412.JPG", person("thomas.leroy"), gps=LYON),
            self.photo("meeting_lyon_retouche.jpg", person("camille.besson"), edited=True),
            self.table("sondage_interne_avril.csv", when),
            self.memo("memo_tresorerie.txt", julien, when),
            self.word("polling_memo_EC.docx", "Polling memo", emma,
                      text.paragraphs(self.rng, "sondage", "en", when, 4)),
        ]
        folders = ["finances", "", "finances", "communication", "communication", "rapports", "rapports", "photos",
                   "photos", "finances", "notes", "notes"]
        for doc, folder in zip(docs, folders):
            doc.folder = doc.folder or folder
        return docs

    # --- drawn documents ------------------------------------------------------------------------------------

    def extra_document(self, index: int) -> DocFile:
        rng = self.rng
        kind = rng.choice(EXTRA_KINDS)
        author = rng.choice(STAFF)
        when = self._when()
        topic = rng.choice(text.TOPICS)
        title = text.subject(rng, topic, author.lang, when)
        stem = f"{topic}_{index:04d}"
        if kind == "docx":
            doc = self.word(f"{stem}.docx", title, author, text.paragraphs(rng, topic, author.lang, when, 5))
        elif kind == "xlsx":
            rows: list[list[str | int | float]] = [["Poste", "Montant (EUR)"]] + [
                [rng.choice(text.VENDORS), rng.randint(1, 90) * 500] for _ in range(rng.randint(3, 12))]
            doc = self.sheet(f"{stem}.xlsx", title, author, rows)
        elif kind == "pptx":
            doc = self.slides(f"{stem}.pptx", title, author, when)
        elif kind == "odt":
            doc = self.writer(f"{stem}.odt", title, author, text.paragraphs(rng, topic, author.lang, when, 4))
        elif kind == "pdf":
            doc = self.pdf(f"{stem}.pdf", title, author, text.paragraphs(rng, topic, author.lang, when, 4),
                           app=rng.choice(("Microsoft® Word 2016", "Writer", "Microsoft® Excel® 2016")))
        elif kind == "jpg":
            doc = self.photo(f"IMG_{1000 + index:04d}.JPG", author, gps=PARIS if rng.random() < 0.3 else None)
        elif kind == "csv":
            doc = self.table(f"{stem}.csv", when)
        else:
            doc = self.memo(f"{stem}.txt", author, when)
        roll = rng.random()
        doc.place = EXPORT if roll < 0.2 else NESTED_ZIP if roll < 0.3 else DOCUMENTS
        doc.folder = FOLDERS[kind]
        return doc

    def attachment(self, topic: str, author: Person, when: datetime) -> DocFile:
        """A small file attached to a message, matching its topic."""
        rng = self.rng
        kinds = {"budget": ("xlsx", "pdf"), "sondage": ("csv", "pdf"), "meeting": ("jpg", "docx"),
                 "virement": ("pdf", "xlsx"), "presse": ("docx", "pdf"), "numerique": ("jpg", "docx")}[topic]
        kind = rng.choice(kinds)
        day = when.strftime("%Y-%m-%d")
        title = text.subject(rng, topic, author.lang, when)
        if kind == "xlsx":
            rows: list[list[str | int | float]] = [["Poste", "Montant (EUR)"]] + [
                [rng.choice(text.VENDORS), rng.randint(1, 90) * 500] for _ in range(rng.randint(3, 8))]
            return self.sheet(f"{topic}_{day}.xlsx", title, author, rows)
        if kind == "pdf":
            return self.pdf(f"{topic}_{day}.pdf", title, author, text.paragraphs(rng, topic, author.lang, when, 3))
        if kind == "csv":
            return self.table(f"{topic}_{day}.csv", when)
        if kind == "jpg":
            return self.photo(f"IMG_{rng.randint(1000, 9999)}.JPG", author)
        # Minutes of meetings carry an accented name: encoded with RFC 2231 in the message.
        name = f"compte_rendu_réunion_{day}.docx" if topic == "meeting" else f"{topic}_{day}.docx"
        return self.word(name, title, author, text.paragraphs(rng, topic, author.lang, when, 3))
