"""Run ``broker`` commands in real child processes, and read what they print as they go.

Every wait is bounded, so a child that hangs or dies fails the test instead of hanging it.
Waits poll with short sleeps: a timed wait on a lock or event never wakes under libfaketime,
with which CI runs the suite a year ahead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Generous: starting a child imports the whole app, which takes seconds on a busy machine.
DEADLINE = 120.0

# The broker's command line, run by the Python of this test run.
BROKER = "from broker.cli import main; main()"


def broker_env(database_url: str, instance: Path, **settings: Any) -> dict[str, str]:
    """The environment of a child process using ``database_url``, with extra settings."""
    env = dict(os.environ)
    env.pop("TEST_DATABASE_URL", None)
    env.update(
        DATABASE_URL=database_url,
        BROKER_INSTANCE_DIR=str(instance),
        SECRET_KEY="tests",
        PYTHONUNBUFFERED="1",
        # No rate limiter in these children: its in-memory storage starts a 10 ms Timer
        # thread, which the process waits for at exit; under CI's year-ahead run (libfaketime
        # fakes the monotonic clock too) that wait lasts until its deadline 400 days on.
        # Rate limits are tested in-process against Redis (tests/broker/test_ratelimits.py).
        RATELIMIT_ENABLED="0",
    )
    env.update({k: str(v) for k, v in settings.items()})
    return env


class Child:
    """A child process whose stdout and stderr are collected line by line as they come."""

    def __init__(self, code: str, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._ended: set[int] = set()  # ids of the line lists whose stream has closed
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            with self._lock:
                lines.append(line.rstrip("\n"))
        with self._lock:
            self._ended.add(id(lines))

    def wait_for_line(self, text: str, *, stream: str = "stdout") -> str:
        """Return the first line of ``stream`` containing ``text``; fail if none comes."""
        lines = self.out if stream == "stdout" else self.err
        deadline = time.monotonic() + DEADLINE
        while True:
            with self._lock:
                found = next((line for line in lines if text in line), None)
                ended = id(lines) in self._ended
            if found is not None:
                return found
            if ended or time.monotonic() > deadline:
                raise AssertionError(
                    f"no line with {text!r} on {stream}; exit {self.proc.poll()}\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            # Short sleeps, not a timed wait: that never wakes under libfaketime (CI).
            time.sleep(0.1)

    def signal(self, signum: int = signal.SIGKILL) -> int:
        """Send ``signum`` and return the exit code once the process has gone."""
        self.proc.send_signal(signum)
        return self.proc.wait(DEADLINE)

    def finish(self) -> int:
        """Wait for the process to end by itself; return its exit code."""
        return self.proc.wait(DEADLINE)

    def close(self) -> None:
        """Kill the process if it is still running, and close its pipes (a test's cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        for reader in self._readers:
            reader.join(DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something true, and return that; fail after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)
