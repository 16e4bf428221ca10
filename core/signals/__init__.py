"""The second stage's signals: detected language, spam signals (links, the same text again, bursts, honeypot,
bans), authors' trust, and the offensive-language model.

May import ``storage``, ``comments`` and the foundation modules; never ``moderation`` (which calls it from the
check and the classifier), ``notifications``, ``translation``, ``messaging`` or ``scheduling``. The model's
package (scikit-learn) is imported only by :mod:`core.signals.model`, and only when a comment is scored, so the
web and the ``moderation`` workers never load it.
"""
