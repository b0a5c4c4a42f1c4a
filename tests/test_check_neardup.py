"""Near-duplicates: a doctored copy of a verified document is tampered; versions and look-alikes are only noted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import scan_dump

from leaksift.checks.base import CheckContext
from leaksift.checks.case import run_case_checks
from leaksift.checks.neardup import (HEAD_CHARS, MAX_NOTED, MAX_WORDS, NearDupCheck, identity, text_signature,
                                     word_changes, words)
from leaksift.keys import KeyStore
from leaksift.model import Finding
from leaksift.sample import build_sample
from leaksift.sample.office import DocMeta, docx
from leaksift.store import open_store

BUDGET = [
    "Budget prévisionnel de la campagne, version 3, arrêté par le trésorier après la réunion du bureau.",
    "Meetings et location de salles dans les grandes villes : 420 000 euros pour le premier tour.",
    "Impression et affichage, tracts et affiches pour les militants : 310 000 euros.",
    "Numérique et réseaux sociaux, publicité ciblée comprise : 170 000 euros.",
    "Prestations de conseil facturées via Harbour Capital Ltd : 350 000 euros.",
    "Total des dépenses prévues pour la campagne : 1 250 000 euros.",
]
OTHER = [
    "Compte rendu de la réunion des bénévoles de Lyon, tenue dans la salle paroissiale mardi soir.",
    "Les équipes de porte-à-porte se répartissent les quartiers de la Croix-Rousse et de Vaise.",
    "Les tracts arrivent jeudi ; la distribution commence samedi matin devant les marchés.",
    "Prochaine réunion dans deux semaines, même lieu, même heure, avec le candidat si possible.",
]
META = DocMeta("Budget", "Julien Ferrand", "Claire Dumont", datetime(2017, 2, 2, 16, 42, tzinfo=timezone.utc),
               datetime(2017, 2, 3, 14, 3, tzinfo=timezone.utc), revision=13)


def _neardup(store, item_id: str) -> list[dict]:
    return [f for f in store.item(item_id)["findings"] if f["check"] == "neardup"]


def _ids(store) -> dict[str, str]:
    return {it["path"]: it["id"] for it in store.iter_items()}


@pytest.fixture
def case(tmp_path: Path):
    """A folder of documents, scanned; the genuine budget is then proven as a DKIM check would."""
    dump = tmp_path / "dump"
    dump.mkdir()
    doctored = [p.replace("350 000", "35 000") for p in BUDGET]
    later = BUDGET[:4] + ["Prestations de conseil facturées via Harbour Capital Ltd : 380 000 euros."] + BUDGET[5:]
    files = {
        "genuine.docx": docx(META, BUDGET),
        "doctored.docx": docx(META, doctored),
        "v4.docx": docx(replace(META, modified=META.modified + timedelta(days=2), revision=14), later),
        "other.docx": docx(replace(META, title="Réunion"), OTHER),
    }
    for name, data in files.items():
        (dump / name).write_bytes(data)
    db = tmp_path / "case.db"
    scan_dump(dump, db, jobs=1)
    store = open_store(db)
    ids = _ids(store)
    store.add_findings(ids["genuine.docx"], [Finding("dkim", "Proven for the test.", "proves", {})], "verified")
    yield store, ids
    store.close()


def test_doctored_copy_of_a_verified_document_is_tampered(case) -> None:
    store, ids = case
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    fake = store.item(ids["doctored.docx"])
    assert fake["verdict"] == "tampered"
    [f] = [f for f in _neardup(store, ids["doctored.docx"]) if f["effect"] != "info"]
    assert f["effect"] == "contradicts"
    assert "“350” → “35”" in f["summary"]
    assert {"a": "350", "b": "35"} in f["evidence"]["changes"] or {"a": "35", "b": "350"} in f["evidence"]["changes"]
    assert f["evidence"]["stamp_a"] == f["evidence"]["stamp_b"] == ["2017-02-03T14:03:00Z", "13"]
    assert store.item(ids["genuine.docx"])["verdict"] == "verified"


def test_later_revision_is_a_version_not_a_fake(case) -> None:
    store, ids = case
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    v4 = _neardup(store, ids["v4.docx"])
    assert v4 and {f["effect"] for f in v4} == {"info"}
    assert any("Another version" in f["summary"] for f in v4)
    assert store.item(ids["v4.docx"])["verdict"] == "consistent"


def test_unrelated_document_gets_nothing(case) -> None:
    store, ids = case
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    assert _neardup(store, ids["other.docx"]) == []


def test_same_save_without_a_verified_side_is_only_info(case) -> None:
    store, ids = case
    store.add_findings(ids["genuine.docx"], [], "consistent")
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    for name in ("genuine.docx", "doctored.docx"):
        found = _neardup(store, ids[name])
        assert found and {f["effect"] for f in found} == {"info"}, name
        assert store.item(ids[name])["verdict"] == "consistent"


def test_identity_needs_creation_and_save_times() -> None:
    core = {"core": {"creator": "A", "created": "2017-01-01T00:00:00Z", "modified": "2017-01-02T00:00:00Z",
                     "revision": "2"}}
    assert identity(core) == (("ooxml", "A", "2017-01-01T00:00:00Z"), ("2017-01-02T00:00:00Z", "2"))
    assert identity({"core": {"creator": "A"}}) is None
    pdf = {"info": {"Author": "B", "CreationDate": "D:2017", "ModDate": "D:2018"}}
    assert identity(pdf) == (("pdf", "B", "D:2017"), ("D:2018",))
    assert identity({"summary": {"author": "C", "created": "x", "last_saved": "y", "revision": 3}}) == (
        ("ole", "C", "x"), ("y", "3"))
    ratio, changes, n = word_changes(words("a b c d e"), words("a b x d e f"))
    assert n == 2 and changes == [{"a": "c", "b": "x"}, {"a": "", "b": "f"}] and 0.7 < ratio < 0.8


def test_word_changes_ratio_and_floor() -> None:
    """The ratio is 2 x common words / all words on the longest common subsequence; below the floor the changes
    are not worked out, above it they are the same as without a floor."""
    a = words("the budget for the campaign is three hundred and fifty thousand euros this year")
    far = words("nothing in common here apart from the one word budget said twice budget again")
    near = words("the budget for the campaign is three hundred and five thousand euros this year")
    full = word_changes(a, far)
    bound = word_changes(a, far, floor=0.8)
    assert bound[1] == [] and bound[2] == 0 and bound[0] == full[0] < 0.8 and full[2] > 0
    assert word_changes(a, near, floor=0.8) == word_changes(a, near)
    assert word_changes(a, near) == (26 / 28, [{"a": "fifty", "b": "five"}], 1)
    # an insertion and a deletion far apart are two changed places, in order
    moved = a[1:] + ["again"]
    assert word_changes(a, moved)[1:] == ([{"a": "the", "b": ""}, {"a": "", "b": "again"}], 2)
    # the same words in reverse order share few in sequence: far below the floor, whatever the bag of words says
    assert word_changes(a, list(reversed(a)), floor=0.8)[0] < 0.3


def test_sample_doctored_docx_is_tampered(tmp_path: Path) -> None:
    """The sample's genuine budget is attached to DKIM-verified mail; its doctored copy in the export is caught."""
    manifest = build_sample(tmp_path / "leak", keys_out=tmp_path / "keys.zone", emails=40, documents=12)
    ctx = CheckContext(keys=KeyStore.from_files([tmp_path / "keys.zone"]),
                       leaked_at=datetime.fromisoformat("2017-05-05T22:00:00+02:00"))
    db = tmp_path / "case.db"
    scan_dump(tmp_path / "leak", db, check_ctx=ctx)
    [doc] = [d for d in manifest.documents if d.doctored_of]
    assert doc.path in manifest.cases["doctored_docx"]
    store = open_store(db)
    try:
        run_case_checks(store, ctx, [NearDupCheck()])
        ids = _ids(store)
        fake, genuine = ids[doc.path.replace("!", "/")], ids[doc.doctored_of.replace("!", "/")]
        assert store.item(genuine)["verdict"] == "verified"
        assert store.item(fake)["verdict"] == "tampered"
        [f] = [f for f in _neardup(store, fake) if f["effect"] == "contradicts"]
        assert "“350” → “35”" in f["summary"]
        tampered = {it["path"] for it in store.iter_items() if any(
            x["check"] == "neardup" and x["effect"] == "contradicts" for x in it["findings"])}
        assert tampered == {doc.path.replace("!", "/")}
    finally:
        store.close()


class TextStore:
    """The store reads neardup uses, over texts in memory, as a case whose item phase made signatures (the rows
    carry a text's first `text_chars` characters); counts blob reads (texts are read again only to diff)."""

    def __init__(self, texts: dict[str, str], kind: str = "email") -> None:
        self.texts, self.kind, self.blob_reads = texts, kind, 0

    def text_blobs(self, min_chars: int = 1, text_chars: int = 0, email_metadata: bool = True,  # noqa: ANN201
                   emails: bool = True):
        if not emails and self.kind == "email":
            return
        for sha in sorted(self.texts):
            text = self.texts[sha]
            yield {"sha256": sha, "text": text[:text_chars] if text_chars else None, "metadata": {},
                   "kind": self.kind, "verified": False, "minhash": text_signature(text)}

    def blob_text(self, sha256: str) -> str:
        self.blob_reads += 1
        return self.texts[sha256]

    def locations(self, sha256: str) -> list[dict]:
        return [{"id": f"item-{sha256}"}]


TEMPLATE = ("Bonjour {name}, merci pour votre soutien à la campagne. La réunion publique de votre circonscription "
            "aura lieu samedi prochain à la salle des fêtes, à partir de dix heures. Nous comptons sur vous pour "
            "diffuser les tracts dans votre quartier et pour inviter vos voisins. Bien cordialement, l'équipe.")


def test_templated_mailing_is_one_cluster_not_a_flood() -> None:
    """2,000 copies of one mailing: a handful of findings pointing at one representative, and bounded diffs."""
    names = [f"Prénom{i} Nom{i}" for i in range(2000)]
    texts = {f"{i:064x}": TEMPLATE.format(name=n) for i, n in enumerate(names)}
    texts["f" * 64] = " ".join(OTHER * 3)  # an unrelated text: no cluster, no finding
    store = TextStore(texts)
    found = list(NearDupCheck().run(store, CheckContext()))
    members = [f for _, f in found if "representative" in f.evidence and "cluster_size" not in f.evidence]
    [(rep_item, rep)] = [(i, f) for i, f in found if "cluster_size" in f.evidence]
    assert len(members) == MAX_NOTED and len(found) == MAX_NOTED + 1
    assert rep.evidence["cluster_size"] == 2000 and rep_item == f"item-{rep.evidence['representative']}"
    assert {f.evidence["representative"] for f in members} == {rep.evidence["representative"]}
    assert all(f.effect == "info" and f.evidence["similarity"] >= 0.8 for f in members)
    assert rep.evidence["members_noted"] == [f.evidence["b"] for f in members]
    assert store.blob_reads <= MAX_NOTED * 3  # the other members were never re-read nor diffed
    assert "item-" + "f" * 64 not in {i for i, _ in found}


def test_a_change_past_the_head_read_with_the_signature_is_still_found() -> None:
    """Rows carry a text's first HEAD_CHARS characters; a text whose MAX_WORDS words run past them is read whole,
    so a change near its end is seen, and texts within the head are not read again."""
    long_words = [f"mot{i:011d}" for i in range(MAX_WORDS - 100)]  # 15 characters a word with its space
    assert len(" ".join(long_words)) > HEAD_CHARS
    changed = list(long_words)
    changed[-50] = "offshore"
    texts = {"a" * 64: " ".join(long_words), "b" * 64: " ".join(changed)}
    store = TextStore(texts)
    found = {item: f for item, f in NearDupCheck().run(store, CheckContext())}
    assert {"a": long_words[-50], "b": "offshore"} in found["item-" + "b" * 64].evidence["changes"]
    assert store.blob_reads == 2  # both cut short in their rows
    short = {"c" * 64: " ".join(long_words[:2000]), "d" * 64: " ".join(long_words[:1990] + ["offshore"] * 10)}
    store = TextStore(short)
    assert "changes" in dict(NearDupCheck().run(store, CheckContext()))["item-" + "d" * 64].evidence
    assert store.blob_reads == 1  # the representative: its words were not needed when it was placed


def test_identical_texts_in_other_bytes_say_nothing() -> None:
    text = TEMPLATE.format(name="Claire")
    assert list(NearDupCheck().run(TextStore({"a" * 64: text, "b" * 64: text}), CheckContext())) == []


def test_signatures_from_the_item_phase_match_those_made_in_the_case_phase(case) -> None:
    """A case read before signatures were kept (minhash NULL) gets the same findings, made from the texts."""
    store, ids = case
    kept = store.db.execute("SELECT count(*) FROM blobs WHERE length(minhash) > 4").fetchone()[0]
    assert kept >= 4, "the item phase kept no signatures"
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    before = sorted((i, ev["a"], ev.get("b")) for i, ev in store.findings_of("neardup"))
    store.db.execute("UPDATE blobs SET minhash = NULL")
    run_case_checks(store, CheckContext(), [NearDupCheck()])
    after = sorted((i, ev["a"], ev.get("b")) for i, ev in store.findings_of("neardup"))
    assert before and before == after


@pytest.mark.parametrize("text, digest", [
    ("Le virement offshore de la campagne a été validé par le trésorier " * 6, "80f98d6ecf552895"),
    (" ".join(f"w{i}" for i in range(30)), "759e532119955667"),
    ("Один два три четыре пять шесть семь восемь девять десять " * 3, "c1f87a01d80019a5"),
])
def test_text_signatures_stay_what_cases_already_hold(text: str, digest: str) -> None:
    """Signatures are kept with the content, so a rescan into an old case compares new with stored ones: the
    shingles and their hashing must not drift (values made by the per-shingle join of 2026-12-03)."""
    import hashlib

    from leaksift.checks.neardup import text_signature
    sig = text_signature(text)
    assert len(sig) == 4 + 4 * 64 and hashlib.sha256(sig).hexdigest()[:16] == digest
