"""Parley's domain: everything the web app, the workers and the scheduler share, importing none of them.

Packages, bottom up: ``storage`` (engine, tables), ``profanity`` (the engine, pure), ``comments`` (public side),
``moderation`` (check, decisions, word lists, audit, accounts), ``translation`` (adapter and workflow),
``scheduling`` (periodic jobs and maintenance), and ``messaging`` (broker, dispatcher) beside them. Modules at
this level are the foundation every package may import: ``config``, ``errors``, ``languages``, ``logs``, plus
``ratelimit`` and ``metrics``. Each package's docstring says what it may import; tests/test_architecture.py
enforces it.
"""
