"""The words of Parley's mails in en, fr, de and es: plain strings with ``{name}`` fields, never markup."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "fr", "de", "es")

#: Per language: the subject and lines of each mail; fields are filled with str.format and escaped later.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "confirm.subject": "Confirm your address for reply notifications",
        "confirm.intro": "This address was given with a comment by {author} on “{thread}”.",
        "confirm.ask": "Confirm it to be told of replies to your comments:",
        "confirm.link": "Confirm my address",
        "confirm.ignore": "If this was not you, ignore this mail: nothing more will be sent to this address.",
        "reply.subject": "{author} replied to your comment",
        "reply.intro": "{author} replied to your comment on “{thread}”:",
        "reply.yours": "Your comment:",
        "digest.subject": "{count} newly flagged comments to review",
        "digest.intro": "These comments were held for review since the last digest:",
        "digest.link": "Open the review queue",
        "footer": "You receive this mail because this address asked for Parley's notifications.",
        "unsubscribe": "Unsubscribe (stop all mail to this address)",
    },
    "fr": {
        "confirm.subject": "Confirmez votre adresse pour les notifications de réponses",
        "confirm.intro": "Cette adresse a été donnée avec un commentaire de {author} sur « {thread} ».",
        "confirm.ask": "Confirmez-la pour être averti des réponses à vos commentaires :",
        "confirm.link": "Confirmer mon adresse",
        "confirm.ignore": "Si ce n'était pas vous, ignorez ce message : plus rien ne sera envoyé à cette adresse.",
        "reply.subject": "{author} a répondu à votre commentaire",
        "reply.intro": "{author} a répondu à votre commentaire sur « {thread} » :",
        "reply.yours": "Votre commentaire :",
        "digest.subject": "{count} nouveaux commentaires signalés à examiner",
        "digest.intro": "Ces commentaires ont été retenus pour examen depuis le dernier résumé :",
        "digest.link": "Ouvrir la file d'examen",
        "footer": "Vous recevez ce message parce que cette adresse a demandé les notifications de Parley.",
        "unsubscribe": "Se désabonner (plus aucun message à cette adresse)",
    },
    "de": {
        "confirm.subject": "Bestätigen Sie Ihre Adresse für Antwort-Benachrichtigungen",
        "confirm.intro": "Diese Adresse wurde mit einem Kommentar von {author} zu „{thread}“ angegeben.",
        "confirm.ask": "Bestätigen Sie sie, um über Antworten auf Ihre Kommentare informiert zu werden:",
        "confirm.link": "Meine Adresse bestätigen",
        "confirm.ignore": "Wenn Sie das nicht waren, ignorieren Sie diese Nachricht: "
                          "Es wird nichts weiter an diese Adresse gesendet.",
        "reply.subject": "{author} hat auf Ihren Kommentar geantwortet",
        "reply.intro": "{author} hat auf Ihren Kommentar zu „{thread}“ geantwortet:",
        "reply.yours": "Ihr Kommentar:",
        "digest.subject": "{count} neu markierte Kommentare zu prüfen",
        "digest.intro": "Diese Kommentare wurden seit der letzten Übersicht zur Prüfung zurückgehalten:",
        "digest.link": "Prüfwarteschlange öffnen",
        "footer": "Sie erhalten diese Nachricht, weil für diese Adresse Parley-Benachrichtigungen angefordert wurden.",
        "unsubscribe": "Abmelden (keine weiteren Nachrichten an diese Adresse)",
    },
    "es": {
        "confirm.subject": "Confirme su dirección para los avisos de respuestas",
        "confirm.intro": "Esta dirección se indicó con un comentario de {author} en «{thread}».",
        "confirm.ask": "Confírmela para recibir avisos de las respuestas a sus comentarios:",
        "confirm.link": "Confirmar mi dirección",
        "confirm.ignore": "Si no fue usted, ignore este mensaje: no se enviará nada más a esta dirección.",
        "reply.subject": "{author} respondió a su comentario",
        "reply.intro": "{author} respondió a su comentario en «{thread}»:",
        "reply.yours": "Su comentario:",
        "digest.subject": "{count} comentarios nuevos marcados para revisar",
        "digest.intro": "Estos comentarios quedaron retenidos para revisión desde el último resumen:",
        "digest.link": "Abrir la cola de revisión",
        "footer": "Recibe este mensaje porque esta dirección solicitó los avisos de Parley.",
        "unsubscribe": "Darse de baja (ningún mensaje más a esta dirección)",
    },
}


def language(*candidates: str | None) -> str:
    """Return the first of *candidates* Parley writes mail in (``fr-CA`` counts as ``fr``), else ``en``."""
    for candidate in candidates:
        base = (candidate or "").split("-")[0].lower()
        if base in TEXTS:
            return base
    return "en"


def text(lang: str, key: str, **fields: Any) -> str:
    """Return the line *key* in *lang* with *fields* filled in (plain text: escaping is the caller's)."""
    return TEXTS[language(lang)][key].format(**fields)
