"""core.translation.adapter against a local LibreTranslate fake: results, chunking, timeouts, error classes."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # no conftest/pyproject may be present to put the repo root on sys.path
    sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.translation.adapter import (  # noqa: E402
    NothingToTranslate,
    PermanentTranslationError,
    TransientTranslationError,
    Translator,
    build_translator,
    get_translator,
)
from tests.fake_translator import FakeTranslator, fake_translate  # noqa: E402

LIMIT = 5000  # deep-translator rejects len >= 5000


@pytest.fixture
def fake() -> Iterator[FakeTranslator]:
    with FakeTranslator() as server:
        yield server


def libre(fake: FakeTranslator | str, timeout: float = 0.5, **settings: str) -> Translator:
    url = fake if isinstance(fake, str) else fake.url
    return build_translator(
        Settings(translation_provider="libre", translation_url=url, translation_timeout_seconds=timeout, **settings)
    )


def dictionary_only(text: str) -> str:
    """What the fake's "ok" mode does to *text*, minus the ``[en] `` prefix."""
    return fake_translate(text, "en").removeprefix("[en] ")


def test_translates_and_sends_text_in_a_form_body_without_api_key(fake: FakeTranslator) -> None:
    assert libre(fake).translate("Bonjour le monde", "fr", "en") == "[en] Hello the world"

    [request] = fake.translations()
    assert request.method == "POST"
    assert (request.params["q"], request.params["source"], request.params["target"]) == ("Bonjour le monde", "fr", "en")
    assert "api_key" not in request.params  # a self-hosted server without keys must work
    assert request.query == ""  # text travels in the body, not the URL


def test_auto_detect_sends_auto_and_maps_regional_codes(fake: FakeTranslator) -> None:
    assert libre(fake).translate("Hola mundo", None, "zh-tw") == "[zt] Hello world"

    [request] = fake.translations()
    assert (request.params["source"], request.params["target"]) == ("auto", "zt")


def test_api_key_is_sent_when_configured(fake: FakeTranslator) -> None:
    fake.set_mode("ok", api_key="s3cret")

    assert libre(fake, translation_api_key="s3cret").translate("Bonjour", "fr", "en") == "[en] Hello"
    assert fake.translations()[0].params["api_key"] == "s3cret"


def test_long_text_is_split_on_sentence_boundaries_and_rejoined(fake: FakeTranslator) -> None:
    sentence = "Bonjour le monde, merci pour le chat. "
    long_paragraph, paragraph = (sentence * 240).strip(), (sentence * 30).strip()  # ~9,100 and ~1,100 chars
    text = "\n\n".join([paragraph, long_paragraph, paragraph, paragraph])
    assert len(text) > 12_000

    result = libre(fake).translate(text, "fr", "en")

    calls = fake.translations()
    assert len(calls) >= 3
    assert all(len(call.params["q"]) < LIMIT for call in calls)
    assert all(call.params["q"].startswith("Bonjour") and call.params["q"].endswith(".") for call in calls)
    assert result.count("[en] ") == len(calls)
    assert result.replace("[en] ", "") == dictionary_only(text)  # every word, space and paragraph break kept


def test_a_single_token_longer_than_the_limit_is_cut(fake: FakeTranslator) -> None:
    text = "Bonjour " + "a" * 7000

    result = libre(fake).translate(text, "fr", "en")

    calls = fake.translations()
    assert len(calls) == 2
    assert all(len(call.params["q"]) < LIMIT for call in calls)
    assert result.replace("[en] ", "") == "Hello " + "a" * 7000


def failure_within(seconds: float, translator: Translator, text: str = "Bonjour") -> tuple[BaseException, float]:
    """Run a translation that must fail; return its error and duration, failing the test if it runs over."""
    outcome: list[tuple[BaseException | None, float]] = []

    def run() -> None:
        started = time.monotonic()
        try:
            translator.translate(text, "fr", "en")
        except Exception as exc:
            outcome.append((exc, time.monotonic() - started))
        else:
            outcome.append((None, time.monotonic() - started))

    worker = threading.Thread(target=run, daemon=True)  # released by the fake's teardown if it overruns
    worker.start()
    worker.join(seconds)
    assert outcome, f"translate() still running after {seconds} s"
    error, elapsed = outcome[0]
    assert error is not None, "translate() succeeded"
    return error, elapsed


@pytest.mark.parametrize("mode", ["hang", "drip"])  # drip: a byte every 0.2 s, so no single read times out
def test_a_stalling_provider_is_cut_off_at_the_timeout(fake: FakeTranslator, mode: str) -> None:
    fake.set_mode(mode, delay=0.2)

    error, elapsed = failure_within(2.0, libre(fake, timeout=0.5))

    assert isinstance(error, TransientTranslationError)
    assert error.reason == "timeout"
    assert 0.4 <= elapsed < 2.0
    assert len(fake.translations()) == 1


def test_drip_mode_does_deliver_a_valid_response_given_time(fake: FakeTranslator) -> None:
    # Guards the test above: "drip" fails only because of the deadline, not because its response is broken.
    fake.set_mode("drip", delay=0.001)

    assert libre(fake, timeout=5.0).translate("Bonjour", "fr", "en") == "[en] Hello"


def test_a_slow_provider_within_the_timeout_succeeds_and_beyond_it_fails(fake: FakeTranslator) -> None:
    fake.set_mode("slow", delay=0.2)
    assert libre(fake, timeout=2.0).translate("Bonjour", "fr", "en") == "[en] Hello"

    fake.set_mode("slow", delay=5.0)
    error, _ = failure_within(2.0, libre(fake, timeout=0.5))
    assert isinstance(error, TransientTranslationError)
    assert error.reason == "timeout"


def test_timeouts_are_per_translator_even_when_threads_share_the_library(fake: FakeTranslator) -> None:
    fake.set_mode("hang")
    results: dict[float, tuple[BaseException, float]] = {}

    def run(timeout: float) -> None:
        results[timeout] = failure_within(3.0, libre(fake, timeout=timeout))

    threads = [threading.Thread(target=run, args=(t,)) for t in (0.3, 1.2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert set(results) == {0.3, 1.2}
    assert all(isinstance(error, TransientTranslationError) for error, _ in results.values())
    assert 0.25 <= results[0.3][1] < 1.0
    assert 1.1 <= results[1.2][1] < 3.0


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("429", "http 429"), ("500", "http 500"), ("403", "http 403"), ("reset", "connection error")],
)
def test_transient_failures(fake: FakeTranslator, mode: str, reason: str) -> None:
    fake.set_mode(mode)

    with pytest.raises(TransientTranslationError) as caught:
        libre(fake).translate("Bonjour", "fr", "en")

    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("garbage", "garbage response"), ("html", "garbage response"), ("empty", "empty result")],
)
def test_permanent_failures(fake: FakeTranslator, mode: str, reason: str) -> None:
    fake.set_mode(mode)

    with pytest.raises(PermanentTranslationError) as caught:
        libre(fake).translate("Bonjour", "fr", "en")

    assert caught.value.reason == reason
    assert not isinstance(caught.value, NothingToTranslate | TransientTranslationError)


def test_failures_then_recovery_with_fail_times(fake: FakeTranslator) -> None:
    fake.set_mode("500", fail_times=2)
    translator = libre(fake)

    for _ in range(2):
        with pytest.raises(TransientTranslationError):
            translator.translate("Bonjour", "fr", "en")
    assert translator.translate("Bonjour", "fr", "en") == "[en] Hello"
    assert [call.mode for call in fake.translations()] == ["500", "500", "ok"]


def test_unchanged_result_is_nothing_to_translate(fake: FakeTranslator) -> None:
    fake.set_mode("echo")

    with pytest.raises(NothingToTranslate) as caught:
        libre(fake).translate("Bonjour le monde", "fr", "en")

    assert caught.value.reason == "unchanged"


@pytest.mark.parametrize("text", ["😀🎉", "1234 !!! ...", "  \n ", ""])
def test_text_without_letters_is_skipped_without_calling_the_provider(fake: FakeTranslator, text: str) -> None:
    with pytest.raises(NothingToTranslate) as caught:
        libre(fake).translate(text, None, "en")

    assert caught.value.reason == "no letters"
    assert fake.translations() == []


def test_unknown_language_code_fails_before_any_request(fake: FakeTranslator) -> None:
    with pytest.raises(PermanentTranslationError) as caught:
        libre(fake).translate("Bonjour", "fr", "xx")

    assert caught.value.reason == "unsupported language xx"
    assert not isinstance(caught.value, NothingToTranslate)
    assert fake.translations() == []


def test_language_the_server_does_not_support_is_permanent(fake: FakeTranslator) -> None:
    with pytest.raises(PermanentTranslationError) as caught:
        libre(fake).translate("Bonjour", "fr", "haw")  # a Parley code this server lacks: it answers 400

    assert caught.value.reason == "http 400"
    assert not isinstance(caught.value, NothingToTranslate)


def test_provider_none_skips(fake: FakeTranslator) -> None:
    translator = build_translator(Settings(translation_provider="none", translation_url=fake.url))

    with pytest.raises(NothingToTranslate) as caught:
        translator.translate("Bonjour", "fr", "en")

    assert caught.value.reason == "translation disabled"
    assert fake.requests == []


def test_deepl_without_api_key_is_permanent() -> None:
    translator = build_translator(Settings(translation_provider="deepl", translation_api_key=""))

    with pytest.raises(PermanentTranslationError) as caught:
        translator.translate("Bonjour", "fr", "en")

    assert caught.value.reason == "missing api key"


def test_output_is_plain_text_never_escaped(fake: FakeTranslator) -> None:
    fake.set_mode("xss")

    result = libre(fake).translate("Bonjour", "fr", "en")

    assert result == "<img src=x onerror=alert(1)>[en] Hello"


def test_the_timeout_shim_is_confined_to_deep_translator(fake: FakeTranslator) -> None:
    import deep_translator.libre
    import requests

    libre(fake).translate("Bonjour", "fr", "en")

    assert deep_translator.libre.requests is not requests
    assert requests.post.__module__ == "requests.api"  # the real module is untouched


def test_get_translator_caches_per_relevant_settings(fake: FakeTranslator) -> None:
    settings = Settings(translation_provider="libre", translation_url=fake.url, translation_timeout_seconds=0.5)

    assert get_translator(settings) is get_translator(replace(settings, log_level="DEBUG"))
    assert get_translator(settings) is not get_translator(replace(settings, translation_timeout_seconds=1.0))


def test_importing_core_translation_does_not_load_deep_translator() -> None:
    code = ("import sys, core.translation.adapter; "
            "print(sorted(m for m in sys.modules if m.startswith('deep_translator')))")

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_fake_runs_as_a_process_controlled_over_http() -> None:
    import requests

    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_translator.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready, "the fake printed no URL within 10 s"
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")

        control = requests.post(url + "_control", data=json.dumps({"mode": "429"}), timeout=5)
        assert control.status_code == 200
        with pytest.raises(TransientTranslationError, match="http 429"):
            libre(url).translate("Bonjour", "fr", "en")

        stats = requests.get(url + "_stats", timeout=5).json()
        assert (stats["translate"], stats["mode"]) == (1, "429")
    finally:
        process.terminate()
        process.wait(timeout=5)
