"""Start-up to ready, and idle RSS, of `gathr-bot run` in HTTP mode.

Ready means `GET /healthz` answers 200 (Slack's `auth.test` is done by then, against the
loopback fake). Idle RSS is read from /proc after the bot has sat idle for a second.

    python bench/startup.py [--quick] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bot.gathr.simulator import Simulator  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(fake: FakeSlack, sim: Simulator) -> tuple[float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATHR_")) and k != "REDIS_URL"}
    folder = tempfile.mkdtemp(prefix="gathr-bench-")  # the default store: a SQLite file, here
    env.update(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET="bench-secret",
        SLACK_API_URL=fake.api_url,
        GATHR_BASE_URL=sim.base_url,
        GATHR_TOKEN=sim.token,
        PORT=str(port),
        LOG_LEVEL="WARNING",
    )
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=folder)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.005)
            if process.poll() is not None:
                raise SystemExit(f"gathr-bot exited with {process.returncode}")
        ready = time.perf_counter() - started
        time.sleep(1.0)
        return ready, rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    with FakeSlack() as fake, Simulator() as sim:
        one_run(fake, sim)  # warm-up: the first start compiles bytecode, later ones don't
        results = [one_run(fake, sim) for _ in range(args.runs)]
    ready = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(f"runs {args.runs}")
    print(f"start-up to ready: min {min(ready):.2f} s, max {max(ready):.2f} s (target <= 1 s)")
    print(f"idle RSS: min {min(rss):.0f} MB, max {max(rss):.0f} MB (target <= 60 MB)")


if __name__ == "__main__":
    main()
