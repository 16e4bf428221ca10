"""Comments on the public side: validate a post, store it (intake), read threads, and the JSON views.

May import ``storage``, ``core.ratelimit`` and the foundation modules (config, errors, languages);
never ``moderation``, ``translation``, ``messaging`` or ``scheduling``.
"""
