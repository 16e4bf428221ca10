"""Moderation: the profanity check of comments, moderator decisions, the review queue, word lists,
the audit log, moderator accounts and their background tasks (word-list preview, rescan).

May import ``comments``, ``profanity``, ``storage`` and the foundation modules; never ``translation``,
``messaging`` or ``scheduling`` (the check hands its follow-up work back to its caller, which sends it).
"""
