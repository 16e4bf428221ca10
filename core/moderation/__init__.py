"""Moderation: the profanity check of comments, moderator decisions, the review queue, word lists,
the audit log, moderator accounts and their background tasks (word-list preview, rescan), bans, and the
classifier stage that applies the offensive-language model's verdict.

May import ``comments``, ``notifications``, ``profanity``, ``signals``, ``storage`` and the foundation
modules; never ``translation``, ``messaging`` or ``scheduling`` (the check hands its follow-up work back to
its caller, which sends it).
"""
