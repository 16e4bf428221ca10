"""Notifications: the outbox (written in the transaction of the change that causes it), signed webhooks, and
mail (addresses with double opt-in, reply notifications, moderator digests, SMTP delivery).

May import ``comments``, ``storage`` and the foundation modules; never ``moderation``, ``translation``,
``messaging`` or ``scheduling``. It sits right above ``comments``: the packages above it (moderation, its
callers in scheduling) write outbox rows in their own transactions, and domain code hands the new row ids
back to its caller, which sends them through the dispatcher after the commit. ``comments`` itself is below
and cannot write rows: the author's delete goes through :func:`core.notifications.events.delete_comment`.
"""
