"""Words of the sample: subjects and sentences of a 2017 campaign, in French and English.

Every company, bank, institute and account number is invented. The vocabulary deliberately carries the words
an investigator searches for (offshore, virement, meeting, budget, sondage).
"""

from __future__ import annotations

import random
from datetime import datetime

from .people import Person

CITIES = ("Lyon", "Marseille", "Lille", "Bordeaux", "Nantes", "Strasbourg", "Toulouse", "Rennes", "Dijon")
INSTITUTES = ("Institut Opinio", "Sondaxa", "IPV Études", "Panel Hexagone")
VENDORS = ("Événements Lumière SARL", "ImprimFast", "Sono Services", "Affiches & Co", "Tribune Location")
OFFSHORE = ("Atlantis Trust (Nassau)", "Harbour Capital Ltd (Road Town)", "Cobalt Holdings (Valletta)")
DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")
TOPICS = ("budget", "sondage", "meeting", "virement", "presse", "numerique")

SUBJECTS = {
    ("budget", "fr"): ("Budget {month}", "Point budget meeting de {city}", "Budget prévisionnel v{n}",
                       "Dépenses de la semaine", "Arbitrages budget communication"),
    ("budget", "en"): ("Budget update", "Budget review for {city}", "Spending forecast v{n}"),
    ("sondage", "fr"): ("Sondage {institute} : {pct}", "Résultats du sondage interne", "Tracking du {day}",
                        "Sondage qualitatif - synthèse"),
    ("sondage", "en"): ("Poll numbers {day}", "Tracking poll: {pct}", "Focus groups summary"),
    ("meeting", "fr"): ("Meeting de {city} - logistique", "Réunion d'équipe {day}", "Ordre du jour réunion {day}",
                        "Salle pour le meeting de {city}"),
    ("meeting", "en"): ("Meeting tomorrow", "Agenda for {day}", "Rally in {city}: logistics"),
    ("virement", "fr"): ("Virement {ref}", "Compte offshore - point", "Facture {vendor}", "Re-facturation prestataire"),
    ("virement", "en"): ("Wire transfer {ref}", "Offshore account - status", "Invoice from {vendor}"),
    ("presse", "fr"): ("Communiqué de presse", "Demande d'interview", "Éléments de langage",
                       "Revue de presse {day}"),
    ("presse", "en"): ("Interview request", "Press lines for {day}", "Media briefing"),
    ("numerique", "fr"): ("Campagne réseaux sociaux", "Newsletter militants", "Site : mise à jour", "Vidéo {city}"),
    ("numerique", "en"): ("Social media plan", "Website update", "Video from {city}"),
}

SENTENCES = {
    ("budget", "fr"): (
        "Le budget du meeting de {city} dépasse de {amount} ce qui était prévu.",
        "Il reste {amount} sur la ligne communication jusqu'à fin {month}.",
        "Peux-tu valider le budget prévisionnel avant {day} ?",
        "La sono et la scène chez {vendor} coûtent {amount} à elles seules.",
        "Je propose de couper {pct} sur l'impression des tracts.",
        "Le plafond de dépenses sera atteint vers la mi-{month} à ce rythme.",
    ),
    ("budget", "en"): (
        "The {city} rally is {amount} over budget.",
        "We have {amount} left on the media line until the end of {month_en}.",
        "Can you sign off on the forecast before {day}?",
        "I suggest we cut printing by {pct}.",
    ),
    ("sondage", "fr"): (
        "Le dernier sondage {institute} nous donne {pct} au premier tour.",
        "Sur les 18-24 ans on progresse de {pts} points.",
        "Le tracking de {day} est stable, marge d'erreur de 3 points.",
        "Les résultats du sondage interne ne doivent pas sortir avant {day}.",
        "Le qualitatif montre une vraie fatigue sur le thème de l'emploi.",
    ),
    ("sondage", "en"): (
        "The latest {institute} poll has us at {pct} in the first round.",
        "Among under-25s we are up {pts} points.",
        "The internal poll must not leak before {day}.",
        "Focus groups in {city} were lukewarm on the jobs message.",
    ),
    ("meeting", "fr"): (
        "Le meeting de {city} est confirmé pour {day} à {hour}.",
        "La salle peut accueillir {people} personnes, il faut prévoir des bus.",
        "Réunion d'équipe {day} à {hour} au QG, ordre du jour ci-dessous.",
        "Merci de confirmer ta présence avant ce soir.",
        "Le service d'ordre sera assuré par les militants de {city}.",
    ),
    ("meeting", "en"): (
        "The {city} rally is confirmed for {day} at {hour}.",
        "The venue holds {people} people; we need buses.",
        "Team meeting {day} at {hour} at HQ.",
        "Please confirm you can make it.",
    ),
    ("virement", "fr"): (
        "Le virement de {amount} vers {offshore} est parti ce matin.",
        "La facture {vendor} de {amount} sera réglée par virement depuis le compte {account}.",
        "Il ne faut pas que ce virement apparaisse dans le compte de campagne.",
        "J'ai demandé à la banque un relevé du compte offshore pour {month}.",
        "Référence du virement : {ref}.",
    ),
    ("virement", "en"): (
        "The {amount} wire to {offshore} went out this morning.",
        "The {vendor} invoice ({amount}) will be paid from account {account}.",
        "This transfer must not show up in the campaign accounts.",
        "Transfer reference: {ref}.",
    ),
    ("presse", "fr"): (
        "Le communiqué part à {hour}, merci de relire les éléments de langage.",
        "{journalist} demande une interview pour {day}.",
        "La revue de presse de ce matin est plutôt favorable.",
        "Ne rien dire sur le budget du meeting de {city} à la presse.",
    ),
    ("presse", "en"): (
        "{journalist} is asking for an interview on {day}.",
        "Press release goes out at {hour}; please check the lines.",
        "Coverage this morning was mostly positive.",
    ),
    ("numerique", "fr"): (
        "La vidéo de {city} a fait {people} vues en une heure.",
        "La newsletter militants part {day} avec le lien vers le sondage.",
        "On augmente le budget réseaux sociaux de {amount}.",
        "Le site sera en maintenance {day} soir.",
    ),
    ("numerique", "en"): (
        "The {city} video got {people} views in an hour.",
        "The supporters' newsletter goes out {day}.",
        "We are raising the social media budget by {amount}.",
    ),
}

REPLY_OPENERS = {
    "fr": ("OK pour moi.", "Merci, je regarde ça.", "D'accord, on en parle au meeting.", "Vu, je m'en occupe.",
           "Attention, ce n'est pas ce qui a été décidé.", "Parfait, merci !", "Je ne suis pas d'accord."),
    "en": ("Fine by me.", "Thanks, looking into it.", "Agreed, let's discuss at the meeting.", "On it.",
           "Careful, that's not what we agreed.", "Perfect, thanks!"),
}
FORWARD_NOTES = {
    "fr": ("Pour info.", "Voir ci-dessous, à traiter en priorité.", "TR pour information, merci de ne pas diffuser."),
    "en": ("FYI.", "See below, please handle.", "Forwarding for your eyes only."),
}


class _Slots(dict):
    """Template values drawn on first use, so a template only spends random draws on its own slots."""

    def __init__(self, rng: random.Random, when: datetime, lang: str) -> None:
        super().__init__()
        self.rng, self.when, self.lang = rng, when, lang

    def __missing__(self, key: str) -> object:
        rng, when = self.rng, self.when
        draw = {
            "city": lambda: rng.choice(CITIES), "institute": lambda: rng.choice(INSTITUTES),
            "vendor": lambda: rng.choice(VENDORS), "offshore": lambda: rng.choice(OFFSHORE),
            "day": lambda: rng.choice(DAYS_FR if self.lang == "fr" else DAYS_EN),
            "month": lambda: MONTHS_FR[when.month - 1], "month_en": lambda: MONTHS_EN[when.month - 1],
            "n": lambda: rng.randint(2, 9), "pct": lambda: f"{rng.randint(8, 31)} %", "pts": lambda: rng.randint(1, 6),
            "amount": lambda: amount(rng), "hour": lambda: f"{rng.randint(9, 20)}h{rng.choice(('00', '30'))}",
            "people": lambda: rng.choice((800, 1200, 2500, 4000, 6000)),
            "ref": lambda: f"VIR-2017-{rng.randint(1000, 9999)}",
            "account": lambda: f"FR76 3000 4{rng.randint(1000, 9999)} {rng.randint(1000, 9999)} 00",
            "journalist": lambda: rng.choice(("Pierre Lambert", "Rachel Moore")),
        }[key]
        value = self[key] = draw()
        return value


def fill(rng: random.Random, template: str, when: datetime, lang: str = "fr") -> str:
    """Fill one template's slots with plausible, invented values."""
    return template.format_map(_Slots(rng, when, lang))


def amount(rng: random.Random) -> str:
    """An amount as a French text writes it: 12 500 €."""
    n = rng.choice((1, 2, 5)) * 10 ** rng.randint(3, 5) + rng.randint(0, 9) * 500
    return f"{n:,}".replace(",", " ") + " €"


def subject(rng: random.Random, topic: str, lang: str, when: datetime) -> str:
    return fill(rng, rng.choice(SUBJECTS[(topic, lang)]), when, lang)


def paragraphs(rng: random.Random, topic: str, lang: str, when: datetime, n: int) -> list[str]:
    pool = SENTENCES[(topic, lang)]
    picks = rng.sample(pool, min(n, len(pool)))
    return [fill(rng, s, when, lang) for s in picks]


def greeting(to: list[Person], lang: str) -> str:
    if len(to) > 1:
        return "Bonjour à tous," if lang == "fr" else "Hi all,"
    return f"Bonjour {to[0].first}," if lang == "fr" else f"Hi {to[0].first},"


def signature(sender: Person, lang: str, rng: random.Random) -> str:
    closing = rng.choice(("Bien à toi,", "Merci,", "A+,", "Cordialement,") if lang == "fr"
                         else ("Best,", "Thanks,", "Cheers,"))
    block = f"{closing}\n{sender.first}"
    if sender.org == "campaign":
        block += f"\n\n-- \n{sender.name}\n{sender.role.capitalize()}\nCampagne 2017 - campaign.example"
    return block


def letter(rng: random.Random, topic: str, sender: Person, to: list[Person], when: datetime,
           lang: str) -> str:
    """A short message body: greeting, two to four sentences, closing."""
    body = paragraphs(rng, topic, lang, when, rng.randint(2, 4))
    middle = "\n\n".join(" ".join(body[i:i + 2]) for i in range(0, len(body), 2))
    return f"{greeting(to, lang)}\n\n{middle}\n\n{signature(sender, lang, rng)}\n"


def quote(text: str, max_lines: int = 40) -> str:
    lines = text.rstrip("\n").split("\n")[:max_lines]
    return "\n".join(">" + ln if ln.startswith(">") else ("> " + ln if ln else ">") for ln in lines) + "\n"


def attribution(parent_from: str, when: datetime, lang: str) -> str:
    if lang == "fr":
        day = DAYS_FR[when.weekday()]
        return f"Le {day} {when.day} {MONTHS_FR[when.month - 1]} {when.year} à {when:%H:%M}, {parent_from} a écrit :"
    return f"On {when:%a}, {when.day} {when:%b} {when.year} at {when:%H:%M}, {parent_from} wrote:"


def newsletter(rng: random.Random, sender: Person, when: datetime) -> tuple[str, str]:
    """Subject and body of a third-party newsletter."""
    if sender.lang == "fr":
        subj = f"La Lettre du Sondage n°{when.timetuple().tm_yday} - {when.day} {MONTHS_FR[when.month - 1]}"
        items = [f"- {rng.choice(INSTITUTES)} : {rng.randint(8, 31)} % pour le candidat "
                 f"{rng.choice('ABCDE')} ({rng.choice(('+', '-'))}{rng.randint(0, 3)})" for _ in range(5)]
        body = ("Les sondages du jour\n\n" + "\n".join(items) +
                "\n\nPour vous désinscrire : https://lists.example/desinscription\n")
    else:
        subj = f"Morning Briefing: {when:%A %d %B}"
        items = [f"* {rng.choice(CITIES)}: candidate {rng.choice('ABCDE')} rally draws "
                 f"{rng.choice((800, 2500, 6000))}" for _ in range(4)]
        body = ("Good morning. Here is what matters today in the French race.\n\n" + "\n".join(items) +
                "\n\nUnsubscribe: https://news.example/unsubscribe\n")
    return subj, body


def bank_notice(rng: random.Random, when: datetime) -> tuple[str, str, str]:
    """Subject, body and the amount of a bank's transfer notice."""
    figure = amount(rng)
    ref = f"VIR-2017-{rng.randint(1000, 9999)}"
    body = (
        "Madame, Monsieur,\n\nNous vous informons de l'exécution du virement suivant :\n\n"
        f"Référence : {ref}\nMontant : {figure}\nBénéficiaire : {rng.choice(OFFSHORE + VENDORS)}\n"
        f"Date d'exécution : {when:%d/%m/%Y}\n\n"
        "Ce message est envoyé automatiquement, merci de ne pas y répondre.\n\nBank Example - Service Entreprises\n"
    )
    return f"Avis de virement {ref}", body, figure
