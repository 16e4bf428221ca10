"""The profanity engine: better-profanity's word list and rules compiled into hash lookups, with the
normalisation that catches evasions (docs/PROFANITY.md).

Pure computation on text: imports nothing from the rest of ``core`` (no storage, no messaging), so it can be
tested and benchmarked alone. ``better_profanity`` itself is read only to load its word list.
"""
