"""CPU an idle API worker spends on its own: a fresh ``tomehub serve`` (embedded PostgreSQL in a temp
data dir), one health request so that its edge monitor knows the port it listens on, then the
process's CPU (user + system, psutil) over ``--rounds`` windows of ``--seconds`` with no request.

    .venv/bin/python benchmarks/idle_api_cpu.py

What it shows is the background work every worker does whether or not anyone asks it anything (the
edge monitor's ticks and accept-queue reads, metrics, pools): on two cores, each millisecond per
second is 0.05 % of the machine, per worker. Run by hand, never in CI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="tomehub-idle-api-"))
    env = {
        **os.environ,
        "TOMEHUB_DATA_DIR": str(data),
        "TOMEHUB_SERVER__DEMO_ON_FIRST_START": "false",
        "TOMEHUB_RATE_LIMITS__ENABLED": "false",
    }
    with (data / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tomehub", "serve", f"--port={args.port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            health = f"http://127.0.0.1:{args.port}/api/health"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(health, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start; its log: {data / 'serve.log'}")
                time.sleep(0.5)
            time.sleep(5)  # start-up work (the first index checks, the pools filling) is over
            process = psutil.Process(server.pid)
            rates = []
            for _ in range(args.rounds):
                before, started = process.cpu_times(), time.perf_counter()
                time.sleep(args.seconds)
                after, wall = process.cpu_times(), time.perf_counter() - started
                used = after.user + after.system - before.user - before.system
                rates.append(used / wall * 1000)
            print("idle API worker CPU, ms per second:", " / ".join(f"{rate:.1f}" for rate in rates))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
