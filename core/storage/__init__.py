"""Storage: the engine and sessions, the tables, cursor paging, prepared statements and group commit.

The bottom layer: it may import ``core.config`` and ``core.errors`` only. Statements written for one
dialect (PostgreSQL's one-statement writes) live beside their portable twin in the package of their concern,
built on ``storage.prepared``; nothing above this layer picks a dialect except through ``db.is_postgresql()``.
"""
