"""`casebus run` (what `make run` does): the whole system on one machine.

The local broker (unless `CASEBUS_KAFKA_BOOTSTRAP` names a cluster), then the worker, the
dashboard and the traffic simulator as child processes. Ctrl-C (or SIGTERM) stops the
simulator, the dashboard and the worker in that order, each with SIGTERM, then the broker
this command started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import IO, Any, Final

from infra.config import Settings
from infra.kafka import LocalCluster

DEFAULT_PORT: Final = 8765
STOP_TIMEOUT_S: Final = 30.0
# The demo's clocks are checked often, so that overdue cases show within seconds.
DEMO_SWEEP_SECONDS: Final = "10"


class _Stop(Exception):
    """SIGTERM arrived: stop as Ctrl-C would."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="start the local broker, the worker, the dashboard and the simulator; "
        "Ctrl-C stops them",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="dashboard port")
    parser.add_argument("--rate", default="20", help="simulated events per second")
    parser.add_argument("--cases", default="400", help="simulated cases (0: no simulator)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    cluster: LocalCluster | None = None
    bootstrap = settings.kafka_bootstrap
    if bootstrap is None:
        local = LocalCluster(settings.home)
        state = local.state()
        # A broker that was already running (`casebus infra up`) is left running.
        cluster = None if state is not None and local.running_nodes(state) else local
        bootstrap = local.up(1, progress=lambda m: print(m, file=sys.stderr))
        print(f"Kafka is up at {bootstrap}", file=sys.stderr)
    env = {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_HOME": str(settings.home),
        "CASEBUS_CLOCK_SWEEP_SECONDS": os.environ.get(
            "CASEBUS_CLOCK_SWEEP_SECONDS", DEMO_SWEEP_SECONDS
        ),
    }
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    children = _Children(env)
    try:
        children.start("worker", ["worker", "--loglevel", "warn"])
        dashboard = children.start("dashboard", ["dashboard", "--port", str(args.port)], True)
        url = _first_line(dashboard)
        if url is None:
            print("casebus: the dashboard did not start", file=sys.stderr)
            return 1
        print(f"\n  {url}\n  Ctrl-C stops everything.\n", flush=True)
        if args.cases != "0":
            children.start("simulator", ["simulate", "--rate", args.rate, "--cases", args.cases])
        return children.watch()
    except (KeyboardInterrupt, _Stop):
        print("\nstopping...", file=sys.stderr)
        return 0
    finally:
        children.stop()
        signal.signal(signal.SIGTERM, previous)
        if cluster is not None:
            cluster.down()


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _first_line(process: subprocess.Popen[str]) -> str | None:
    """The dashboard's first line ("dashboard: URL"); the rest is passed through."""
    assert process.stdout is not None  # started with stdout=PIPE
    line = process.stdout.readline().strip()
    threading.Thread(target=_pass_through, args=(process.stdout,), daemon=True).start()
    return line or None


def _pass_through(stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(line)


class _Children:
    """The child processes, each in its own session so that Ctrl-C reaches only this one."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, argv: Sequence[str], pipe: bool = False) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "casebus", *argv],
            env=self.env,
            stdout=subprocess.PIPE if pipe else None,
            text=True,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def watch(self) -> int:
        """Wait until the worker or the dashboard ends (the simulator may finish early)."""
        while True:
            for name in ("worker", "dashboard"):
                code = self.processes[name].poll()
                if code is not None:
                    print(f"casebus: the {name} stopped (exit code {code})", file=sys.stderr)
                    return 1
            simulator = self.processes.get("simulator")
            if simulator is not None and simulator.poll() is not None:
                print("simulator: traffic published; Ctrl-C stops", file=sys.stderr)
                del self.processes["simulator"]
            time.sleep(0.5)

    def stop(self) -> None:
        for name in ("simulator", "dashboard", "worker"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"casebus: the {name} did not stop in time; killing it", file=sys.stderr)
                process.kill()
                process.wait()
