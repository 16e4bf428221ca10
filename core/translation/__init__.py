"""Translation: the deep-translator adapter and its HTTP layer (``adapter``, ``provider_http``), and the
translation workflow run by the worker (``workflow``: claim, translate, record, flag a profane translation).

The adapter and HTTP modules import only the foundation modules (config, errors, languages): no storage, no
messaging. The workflow may import ``moderation``, ``profanity`` and ``storage``.
"""
