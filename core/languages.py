"""Language codes Parley accepts for comments and translation targets."""

from __future__ import annotations

#: ISO 639-1 codes (plus the regional variants providers distinguish) that the
#: supported providers translate; lower-case, the canonical form Parley stores.
SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    """
    af am ar az be bg bn bs ca ceb co cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha haw
    he hi hmn hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lb lo lt lv mg mi mk ml mn mr
    ms mt my ne nl no ny or pa pl ps pt pt-br ro ru rw sd si sk sl sm sn so sq sr st su sv sw ta te
    tg th tk tl tr tt ug uk ur uz vi xh yi yo zh zh-cn zh-tw zu
    """.split()
)


def normalize_language(code: str) -> str | None:
    """Return the canonical form of *code* (``pt_BR`` → ``pt-br``), or None when unsupported."""
    canonical = code.strip().lower().replace("_", "-")
    return canonical if canonical in SUPPORTED_LANGUAGES else None
