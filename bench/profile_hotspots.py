"""Profile the ingest path and the worker under load: py-spy on the real processes, pyinstrument in-process.

Usage (from the repository root):  .venv/bin/python bench/profile_hotspots.py [--seconds 10]

On its own private database and vhost (like run_all.py):
1. py-spy samples both gunicorn workers of Parley while 16 clients POST /api/comments;
2. py-spy samples both ``dramatiq actors`` processes while they drain pre-filled moderation messages
   (every sampled thread, then only threads holding the GIL, i.e. Python CPU);
3. the same during a translation drain against tests/fake_translator.py;
4. pyinstrument profiles 300 POSTs through Flask's test client and 300 one-comment ``checking.check_comments`` calls
   in this process (same database and broker).
Writes raw stacks and reports under bench/results/profiles/ and prints the top hot spots
(self time, and inclusive time of Parley's own functions). Profiling slows the processes down: take
throughput figures from run_all.py, not from here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import drain, loadgen, parley_runs  # noqa: E402
from bench.provision import BIN, free_port  # noqa: E402
from bench.services import RESULTS, Stack, http_answers  # noqa: E402
from bench.workload import Payloads  # noqa: E402

OUT = RESULTS / "profiles"
OWN = re.compile(r"\((?:core|webapp|actors)/")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy(pid: int, seconds: float, out: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    """Start py-spy sampling *pid* and its subprocesses for *seconds* into raw collapsed stacks."""
    cmd = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--duration", str(int(seconds)),
           "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking", *(["--gil"] if gil else [])]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def frame_name(frame: str) -> str:
    """Return ``function (file)`` without the line number."""
    match = FRAME.match(frame.strip())
    return f"{match['func']} ({match['file']})" if match else frame.strip()


def hotspots(raw: Path, top: int = 20, what: str = "on CPU or in a blocking C call, idle threads excluded") -> str:
    """Summarise collapsed stacks: top self time, and top inclusive time of Parley's own functions."""
    own_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        own_self[frame_name(frames[-1])] += count
        for name in {frame_name(f) for f in frames if OWN.search(f)}:
            inclusive[name] += count
    lines = [f"{raw.name}: {total} samples ({what})", "", "top self time:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own_self.most_common(top)]
    lines += ["", "top inclusive time, Parley's functions:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def profile_ingest(stack: Stack, env: dict[str, str], seconds: float) -> str:
    """Sample Parley's gunicorn workers under a closed-loop POST load."""
    web, base = parley_runs.start_web(stack, env)
    url = f"{base}/api/comments"
    payloads = Payloads(lang="fr", tag="profile")
    loadgen.closed_loop(url, payloads, 16, 2)
    out = OUT / "ingest.raw.txt"
    spy = py_spy(web.pid, seconds, out)
    result = loadgen.closed_loop(url, payloads, 16, seconds)
    spy.wait(60)
    stack.stop(web)
    stack.purge("moderation")
    return f"ingest under py-spy: {result.rps:.0f} req/s\n" + hotspots(out)


def _profile_drain(stack: Stack, env: dict[str, str], seconds: float, queue: str, actor: str,
                   messages: list[tuple[object, ...]], name: str) -> str:
    """Pre-fill *queue* with *messages* for *actor*, start the worker and sample it (all, then GIL holders)."""
    drain.prefill_dramatiq(stack, queue, actor, messages)
    drain.wait_depth(stack, queue, len(messages))
    worker = parley_runs.start_worker(stack, env)
    time.sleep(2)  # past start-up (the profanity engine is built on the first message)
    out, gil_out = OUT / f"{name}.raw.txt", OUT / f"{name}.gil.raw.txt"
    spies = [py_spy(worker.pid, seconds / 2, out), py_spy(worker.pid, seconds / 2, gil_out, gil=True)]
    for spy in spies:
        spy.wait(seconds + 60)
    stack.stop(worker)
    stack.purge(queue)
    return hotspots(out) + "\n\n" + hotspots(gil_out, what="only threads holding the GIL: Python CPU")


def profile_worker(stack: Stack, env: dict[str, str], seconds: float) -> str:
    """Sample both worker processes while they drain pre-filled moderation messages (all, then GIL holders)."""
    engine = parley_runs.engine_for(stack)
    ids = parley_runs.insert_comments(engine, int(seconds * 1000), tag="profile", lang="en")
    engine.dispose()
    return _profile_drain(stack, env, seconds, "moderation", "check_profanity", [(i,) for i in ids], "worker")


def profile_translation(stack: Stack, env: dict[str, str], seconds: float) -> str:
    """Sample both worker processes while they drain pre-filled translation messages (fake LibreTranslate)."""
    engine = parley_runs.engine_for(stack)
    ids = parley_runs.insert_comments(engine, int(seconds * 500), tag="profile-tr", lang="fr", status="published",
                                      translate_to="en")
    engine.dispose()
    return _profile_drain(stack, env, seconds, "translation", "translate_comment", [(i, "en") for i in ids],
                          "translation")


def profile_in_process(stack: Stack, env: dict[str, str], count: int = 300) -> str:
    """Profile POSTs through Flask's test client and one-comment check calls with pyinstrument, in this process."""
    from pyinstrument import Profiler

    os.environ.update(env)
    from core.moderation import checking
    from webapp import create_app

    app = create_app()
    client = app.test_client()
    payloads = Payloads(lang="fr", tag="inproc")
    for n in range(20):
        body, headers = payloads(n)
        client.post("/api/comments", data=body, headers={"Content-Type": "application/json", **headers})
    profiler = Profiler(interval=0.0005)
    ids = []
    profiler.start()
    for n in range(count):
        body, headers = payloads(n)
        answer = client.post("/api/comments", data=body, headers={"Content-Type": "application/json", **headers})
        ids.append(answer.get_json()["id"])
    profiler.stop()
    post_report = profiler.output_text(unicode=True, color=False, show_all=False)
    (OUT / "ingest.pyinstrument.txt").write_text(post_report)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for comment_id in ids:
        checking.check_comments([comment_id], 5)
    profiler.stop()
    check_report = profiler.output_text(unicode=True, color=False, show_all=False)
    (OUT / "check.pyinstrument.txt").write_text(check_report)
    stack.purge("moderation", "translation")
    return f"pyinstrument, {count} POSTs via the test client:\n{post_report}\n" \
           f"pyinstrument, {count} one-comment checks:\n{check_report}"


def main() -> None:
    """Set up a private stack, profile, print and save the hot spots, tear down."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    try:
        stack.open()
        port = free_port()
        fake = stack.start("fake-translator", [str(BIN / "python"), "tests/fake_translator.py", "--port", str(port)],
                           {})
        fake.wait_until(lambda: http_answers(f"http://127.0.0.1:{port}"), 30, "fake translator")
        env = parley_runs.parley_env(stack, f"http://127.0.0.1:{port}/")
        reports = [
            ("py-spy: gunicorn workers during POST /api/comments", profile_ingest(stack, env, args.seconds)),
            ("py-spy: dramatiq worker processes during the moderation drain",
             profile_worker(stack, env, args.seconds)),
            ("py-spy: dramatiq worker processes during the translation drain",
             profile_translation(stack, env, args.seconds)),
            ("pyinstrument in-process", profile_in_process(stack, env)),
        ]
    finally:
        stack.close()
    text = "\n\n".join(f"=== {title} ===\n{body}" for title, body in reports)
    (OUT / "hotspots.txt").write_text(text)
    print(text)
    print(f"\nsaved under {OUT}; {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
