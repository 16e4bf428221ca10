"""The offensive-language model: alt-profanity-check's linear model, loaded on first use, scored in batches.

The package ships its trained model in the wheel (no download) but imports scikit-learn, about 110 MiB of
memory and 2-6 s of CPU: only the ``classification`` workers import this module's package, and only when
they score a comment. The model is English-only (see :func:`applies`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: The languages the model was trained on; a comment in another language is not scored.
LANGUAGES = frozenset({"en"})

_lock = threading.Lock()
#: ``predict_prob`` once loaded: one per process, shared by the worker's threads (it keeps no state per call).
_predict: Callable[[Sequence[str]], Sequence[float]] | None = None


def applies(lang: str | None) -> bool:
    """Tell whether the model can score a comment in *lang* (English, or no known language)."""
    return lang is None or lang.split("-")[0].lower() in LANGUAGES


#: Texts the fast path must score exactly as the package does before it is used (see :func:`_fast_path`).
_PROBES = ("Thanks for the recipe, it worked great.", "you are a complete idiot and a moron", "",
           "What a load of shit, honestly.", "I learned a lot from this post. " * 20)


def _fast_path(model: Any, vectorizer: Any) -> Callable[[Sequence[str]], Sequence[float]] | None:
    """Return the package's model as three array operations, or None when it is not the model this reads.

    ``predict_prob`` averages the sigmoid-calibrated decisions of the 5 linear classifiers of a
    ``CalibratedClassifierCV``; scikit-learn validates its input in every one of those steps (narwhals looks
    for a dataframe through ``inspect.getattr_static`` each time), about 80 % of a call's 4 ms. Same fitted
    numbers, same formula (``expit(-(a * (X @ coef + intercept) + b))``, averaged), one matrix product.
    """
    import numpy as np
    from scipy.special import expit

    try:
        parts = model.calibrated_classifiers_
        if list(model.classes_) != [0, 1] or any(
                part.method != "sigmoid" or len(part.calibrators) != 1 or list(part.estimator.classes_) != [0, 1]
                for part in parts):
            return None
        coef = np.column_stack([np.ravel(part.estimator.coef_) for part in parts])
        intercept = np.array([float(np.ravel(part.estimator.intercept_)[0]) for part in parts])
        slope = np.array([float(part.calibrators[0].a_) for part in parts])
        offset = np.array([float(part.calibrators[0].b_) for part in parts])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None

    def predict(texts: Sequence[str]) -> Sequence[float]:
        decision = np.asarray(vectorizer.transform(texts) @ coef) + intercept
        return expit(-(decision * slope + offset)).mean(axis=1)  # type: ignore[no-any-return]

    return predict


def _load() -> Callable[[Sequence[str]], Sequence[float]]:
    """Import the model's package once per process (thread-safe) and return its scoring function."""
    global _predict
    if _predict is None:
        with _lock:
            if _predict is None:  # another thread may have loaded it while this one waited
                from profanity_check import predict_prob

                try:
                    from profanity_check.profanity_check import model, vectorizer
                except ImportError:  # a build of the package without them: its own function scores
                    fast = None
                else:
                    fast = _fast_path(model, vectorizer)
                # Used only when it scores the probes as the package does (another package version may differ).
                if fast is not None and max(abs(float(x) - float(y)) for x, y in
                                            zip(fast(_PROBES), predict_prob(list(_PROBES)), strict=True)) < 1e-9:
                    _predict = fast
                else:
                    logger.warning("The offensive-language model is not the one the fast path reads: scoring "
                                   "through alt-profanity-check's predict_prob (slower, same scores).")
                    _predict = predict_prob
                logger.info("Offensive-language model loaded (alt-profanity-check).")
    return _predict


def scores(texts: list[str]) -> list[float]:
    """Return the probability that each of *texts* is offensive, in order; one model call for all of them."""
    if not texts:
        return []
    # One call per batch: the call's fixed cost (validation, calibration) is most of the work for a few texts.
    return [float(score) for score in _load()(texts)]
