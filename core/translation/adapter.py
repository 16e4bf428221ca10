"""Machine translation through deep-translator: per-call timeouts, chunking and error classification."""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus

from core.config import Settings
from core.languages import normalize_language
from core.translation.chunking import Limits, split_text
from core.translation.provider_http import DEFAULT_TIMEOUT, install_shim, local

logger = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({403, 408, 425, 429})
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
#: Canonical Parley code -> provider code, where they differ.
_GOOGLE_CODES = {"he": "iw", "jv": "jw", "zh": "zh-CN", "zh-cn": "zh-CN", "zh-tw": "zh-TW", "pt-br": "pt"}
_LIBRE_CODES = {"zh-cn": "zh", "zh-tw": "zt", "pt-br": "pt"}
_DEEPL_TARGETS = {"pt": "PT-PT", "pt-br": "PT-BR", "zh-cn": "ZH-HANS", "zh-tw": "ZH-HANT"}
_MYMEMORY_CODES = {"en": "en-GB", "zh": "zh-CN", "no": "nb-NO", "sr": "sr-Latn-RS"}


class TranslationError(Exception):
    """A translation failed; ``reason`` is a short machine-readable cause such as ``"timeout"``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientTranslationError(TranslationError):
    """Network error, timeout, 429, 403 or 5xx: retry with backoff."""


class PermanentTranslationError(TranslationError):
    """Bad language, other 4xx, garbage or empty response: retrying will not help."""


class NothingToTranslate(PermanentTranslationError):
    """The text needs no translation (no letters, unchanged by the provider, or translation disabled)."""


class Translator(Protocol):
    """Anything that translates text; ``source=None`` means auto-detect."""

    def translate(self, text: str, source: str | None, target: str) -> str: ...


def _status_error(status: int | None, unknown: str) -> TranslationError:
    if status is None:
        return TransientTranslationError(unknown)
    if status in _TRANSIENT_STATUS or status >= 500:
        return TransientTranslationError(f"http {status}")
    return PermanentTranslationError(f"http {status}")


def _classify(exc: BaseException) -> TranslationError:
    import requests
    from deep_translator import exceptions as dt

    rex, perm, trans = requests.exceptions, PermanentTranslationError, TransientTranslationError
    response = getattr(local, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(exc, (dt.ServerException, dt.RequestError)):  # the library drops the status: use ours
        return _status_error(status, "connection error" if response is None else "request failed")
    if isinstance(exc, (dt.LanguageNotSupportedException, dt.InvalidSourceOrTargetLanguage)):
        return perm(f"unsupported language {str(exc.val)[:20]}")
    rules: list[tuple[Any, type[TranslationError], str]] = [  # first match wins: order matters
        ((rex.MissingSchema, rex.InvalidSchema, rex.InvalidURL, rex.URLRequired), perm, "bad url"),
        (rex.Timeout, trans, "timeout"),
        ((rex.InvalidJSONError, ValueError), perm, "garbage response"),
        ((rex.ConnectionError, rex.ChunkedEncodingError, ConnectionError), trans, "connection error"),
        ((rex.RequestException, OSError), trans, "request failed"),
        (dt.TooManyRequests, trans, f"http {status or 429}"),
        (dt.AuthorizationException, trans, "http 403"),
        (dt.ApiKeyException, perm, "missing api key"),
        (dt.NotValidLength, perm, "text too long"),
        (dt.NotValidPayload, perm, "invalid payload"),
        ((dt.TranslationNotFound, dt.ElementNotFoundInGetRequest), perm, "translation not found"),
        ((KeyError, IndexError, TypeError, AttributeError, StopIteration), perm, "garbage response"),
    ]
    for types, error, reason in rules:
        if isinstance(exc, types):
            return error(reason)
    return perm(f"unexpected {type(exc).__name__}")


def _mymemory_ok() -> None:
    # MyMemory reports quota/auth problems as HTTP 200 + responseStatus, with a warning as the "translation".
    try:
        status = int(local.response.json().get("responseStatus", 200))
    except Exception:  # the library parsed this body already; oddities here are not ours to judge
        return
    if status != 200:
        raise _status_error(status, "request failed")


def _unsupported(code: object) -> PermanentTranslationError:
    return PermanentTranslationError(f"unsupported language {str(code)[:20]}")


def _provider_code(name: str, code: str, is_source: bool) -> str:
    """Map canonical *code* to what provider *name* expects, or raise "unsupported language"."""
    from deep_translator import constants as dtc

    if name == "libre":  # not checked against deep-translator's stale 17-language list: the server decides (400)
        return _LIBRE_CODES.get(code, code)
    if name == "google":
        mapped = _GOOGLE_CODES.get(code, code)
        known = mapped in dtc.GOOGLE_LANGUAGES_TO_CODES.values()
    elif name == "deepl":
        base = code.split("-")[0]
        known, mapped = base in dtc.DEEPL_LANGUAGE_TO_CODE.values(), base.upper()
        if not is_source:
            mapped = _DEEPL_TARGETS.get(code, mapped)
    else:  # mymemory wants regional codes: "fr" -> "fr-FR", not the table's first "fr-*" ("fr-BE")
        values = list(dtc.MY_MEMORY_LANGUAGES_TO_CODES.values())
        preferred = _MYMEMORY_CODES.get(code, f"{code}-{code.upper()}")
        matches = (v for v in [preferred, *values] if v in values and (v.lower() + "-").startswith(code + "-"))
        mapped = next(matches, "")
        known = bool(mapped)
    if not known:
        raise _unsupported(code)
    return mapped


def _make_engine(name: str, settings: Settings) -> Any:
    import deep_translator as dt

    url, key = settings.translation_url, settings.translation_api_key
    slashed = url.rstrip("/") + "/" if url else None  # libre/deepl append "translate" to the base URL
    if name == "libre":
        # The constructor refuses an empty key, but translate() omits api_key when falsy: a keyless server's wish.
        engine = dt.LibreTranslator("en", "es", api_key=key or "-", use_free_api=False, custom_url=slashed)
        engine.api_key = key
    elif name == "deepl":
        engine = dt.DeeplTranslator(source="de", target="en", api_key=key, use_free_api=key.endswith(":fx"))
        engine._base_url = slashed or engine._base_url  # no public parameter for it
    elif name == "mymemory":
        engine = dt.MyMemoryTranslator(source="auto", target="en-GB")
    else:
        engine = dt.GoogleTranslator(source="auto", target="en")
        engine._base_url = url or engine._base_url  # no public parameter for it
    return engine


@dataclass(frozen=True)
class _Provider:
    limits: Limits  # measures additive over characters; each must stay <= its bound in one request
    auto: str = "auto"
    check: Callable[[], None] | None = None


_PROVIDERS = {
    # deep-translator rejects len >= 5000; Google sends text in a GET query, so non-Latin text hits URL limits first.
    "google": _Provider(((len, 4800), (lambda s: len(quote_plus(s, safe="", errors="replace")), 12000))),
    "libre": _Provider(((len, 4800),)),
    "mymemory": _Provider(((len, 499), (lambda s: len(s.encode("utf-8", "replace")), 500)), "Autodetect", _mymemory_ok),
    "deepl": _Provider(((len, 4800),)),
}


def _canonical(code: object) -> str:
    canonical = normalize_language(code) if isinstance(code, str) else None
    if canonical is None:
        raise _unsupported(code)
    return canonical


class _DeepTranslator:
    """Translator over one deep-translator provider; holds no per-call state, so threads may share it."""

    def __init__(self, name: str, settings: Settings) -> None:
        self._name, self._provider, self._settings = name, _PROVIDERS[name], settings
        timeout = settings.translation_timeout_seconds
        self._timeout = float(timeout) if timeout and timeout > 0 else DEFAULT_TIMEOUT

    def translate(self, text: str, source: str | None, target: str) -> str:
        """Translate *text* (``source=None``: auto-detect); raise a TranslationError subclass on failure."""
        if not isinstance(text, str):
            raise PermanentTranslationError("invalid payload")
        if not any(ch.isalpha() for ch in text):
            raise NothingToTranslate("no letters")
        target_code, source_code = _canonical(target), None if source is None else _canonical(source)
        if source_code == target_code:
            raise NothingToTranslate("same language")
        tgt = _provider_code(self._name, target_code, False)
        src = self._provider.auto if source_code is None else _provider_code(self._name, source_code, True)
        chunks, out = split_text(text, self._provider.limits), []
        for chunk in chunks:
            core = chunk.strip()
            if any(ch.isalpha() for ch in core):  # keep the chunk's own surrounding whitespace
                start = chunk.index(core)
                chunk = chunk[:start] + self._call(core, src, tgt) + chunk[start + len(core) :]
            out.append(chunk)
        result = "".join(out)
        if result.strip() == text.strip():
            raise NothingToTranslate("unchanged")
        logger.debug("translated %d chars to %s via %s in %d chunk(s)", len(text), target_code, self._name, len(chunks))
        return result

    def _call(self, core: str, src: str, tgt: str) -> str:
        install_shim(self._name)
        local.timeout, local.response = self._timeout, None
        try:
            engine = _make_engine(self._name, self._settings)
            engine.source, engine.target = src, tgt  # validated and mapped by _provider_code
            result = engine.translate(core)
            if self._provider.check is not None:
                self._provider.check()
        except TranslationError:
            raise
        except Exception as exc:
            error = _classify(exc)
            # The library's messages may quote the comment: log the exception type only.
            logger.warning("translation via %s failed: %s (%s)", self._name, error.reason, type(exc).__name__)
            raise error from exc
        finally:
            local.timeout, local.response = None, None
        if not isinstance(result, str) or not result.strip():
            raise PermanentTranslationError("empty result")
        result = result.strip()
        if _ENTITY.search(result) and not _ENTITY.search(core):
            result = html.unescape(result)  # plain text in, plain text out; escaping is the renderer's job
        return result


class _FailingTranslator:
    """Translator that refuses every call with the same error (disabled or misconfigured provider)."""

    def __init__(self, error: type[TranslationError], reason: str) -> None:
        self._error, self._reason = error, reason

    def translate(self, text: str, source: str | None, target: str) -> str:
        """Raise the configured error."""
        raise self._error(self._reason)


def build_translator(settings: Settings) -> Translator:
    """Build the translator that ``settings.translation_provider`` selects."""
    provider = settings.translation_provider
    if provider == "none":
        return _FailingTranslator(NothingToTranslate, "translation disabled")
    if provider not in _PROVIDERS:
        logger.error("unknown translation provider %r", provider)
        return _FailingTranslator(PermanentTranslationError, f"unknown provider {provider[:20]}")
    if provider == "deepl" and not settings.translation_api_key:
        logger.error("TRANSLATION_PROVIDER=deepl needs TRANSLATION_API_KEY")
        return _FailingTranslator(PermanentTranslationError, "missing api key")
    return _DeepTranslator(provider, settings)


_cache: dict[tuple[str, str, str, float], Translator] = {}
_cache_lock = threading.Lock()


def get_translator(settings: Settings) -> Translator:
    """Return this process's translator for the translation settings, building it on first use."""
    s = settings
    key = (s.translation_provider, s.translation_url, s.translation_api_key, s.translation_timeout_seconds)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build_translator(settings)
        return _cache[key]
