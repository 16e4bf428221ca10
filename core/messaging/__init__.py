"""Messaging: the Dramatiq broker set-up, the one dispatcher every process sends through, the dispatch marks
that record confirmed sends, and operator access to RabbitMQ (queue depths, dead letters).

May import ``storage`` and the foundation modules; the only package of ``core`` that imports Dramatiq or
pika, and no other package of ``core`` imports it: domain code returns what to send, its caller sends it.
"""
