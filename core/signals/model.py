"""The offensive-language model: alt-profanity-check's linear model, loaded on first use, scored in batches.

The package ships its trained model in the wheel (no download) but imports scikit-learn, about 110 MiB of
memory and 2-6 s of CPU: only the ``classification`` workers import this module's package, and only when
they score a comment. The model is English-only (see :func:`applies`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

#: The languages the model was trained on; a comment in another language is not scored.
LANGUAGES = frozenset({"en"})

_lock = threading.Lock()
#: ``predict_prob`` once loaded: one per process, shared by the worker's threads (it keeps no state per call).
_predict: Callable[[Sequence[str]], Sequence[float]] | None = None


def applies(lang: str | None) -> bool:
    """Tell whether the model can score a comment in *lang* (English, or no known language)."""
    return lang is None or lang.split("-")[0].lower() in LANGUAGES


def _load() -> Callable[[Sequence[str]], Sequence[float]]:
    """Import the model's package once per process (thread-safe) and return its scoring function."""
    global _predict
    if _predict is None:
        with _lock:
            if _predict is None:  # another thread may have loaded it while this one waited
                from profanity_check import predict_prob

                logger.info("Offensive-language model loaded (alt-profanity-check).")
                _predict = predict_prob
    return _predict


def scores(texts: list[str]) -> list[float]:
    """Return the probability that each of *texts* is offensive, in order; one model call for all of them."""
    if not texts:
        return []
    # One call per batch: the call's fixed cost (validation, calibration) is most of the work for a few texts.
    return [float(score) for score in _load()(texts)]
