"""Starting mockserver and Prism as a user would, timing their start-up, and stopping them."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.base import API_KEY, HOST, MOCKSERVER, REPO, SPEC, BenchError
from bench.memory import MemorySampler
from mockserver.tooling.testing import free_port

T = TypeVar("T")


START_TIMEOUT_S = 60.0


def create_body(slug: str) -> str:
    return json.dumps(
        {
            "app_slug": slug,
            "name": "Start-up probe",
            "key_prefix": "sk_live",
            "rate_limit_scheme_slug": "default-rate-limits",
        }
    )


def post_create(port: int, slug: str, timeout_s: float = 5.0) -> int | None:
    """POST one valid create; its status, or None when nothing answers yet."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request(
            "POST",
            "/api-auth/apps",
            body=create_body(slug),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class RunningServer:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    # From process start to the first 200 answer to a valid create.
    startup_s: float
    sampler: MemorySampler
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _wait_for(what: str, process: subprocess.Popen[bytes], log: Path, check: Callable[[], T]) -> T:
    """Call ``check`` every 10 ms until it returns something truthy, and return that."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if process.poll() is not None:
            raise BenchError(f"{what}: exited with {process.returncode}:\n{_log_tail(log)}")
        time.sleep(0.01)
    raise BenchError(f"{what}: not ready after {START_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, and whatever it started.

    SIGTERM to the server first, so that it stops its own workers as it
    would in real use; then SIGKILL to anything left in its process group
    (it was started as the leader of a new session, so the group holds only
    what it started).
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with suppress(ProcessLookupError, PermissionError):  # nothing left in the group
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


_BANNER = re.compile(rb"listening on http://[^\s:]+:(\d+)")


def start_logged(
    argv: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.Popen[bytes]]:
    """Start ``argv`` with its output in ``log``; the monotonic time just
    before the process was made, and the process."""
    with open(log, "wb") as output:
        started = time.monotonic()
        # A new session: Ctrl-C in the terminal reaches us (and wrk), not the
        # server, which we stop ourselves in order; and killpg reaches its workers.
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return started, process


@contextmanager
def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run ``argv`` and yield the server once it answers a valid create with 200.

    ``port`` None means the server picks one and prints it in mockserver's
    banner (``listening on http://HOST:PORT``). The start-up clock starts just
    before the process is created and stops at the first 200.
    """
    started, process = start_logged(argv, log, env)
    try:
        with MemorySampler(process.pid, 0.1) as sampler:
            if port is None:

                def banner_port() -> int | None:
                    found = _BANNER.search(log.read_bytes())
                    return int(found.group(1)) if found else None

                port = _wait_for(name, process, log, banner_port)
            attempt = iter(range(1_000_000))
            _wait_for(
                name,
                process,
                log,
                lambda: post_create(port, f"bench-probe-{log.stem}-{next(attempt)}", 1.0) == 200,
            )
            startup_s = time.monotonic() - started
            yield RunningServer(name, process, port, startup_s, sampler, log)
    finally:
        stop_process(process)


def start_server(
    name: str,
    workdir: Path,
    tag: str,
    prism: Path | None = None,
    extra_args: Sequence[str] = (),
) -> AbstractContextManager[RunningServer]:
    """Start mockserver or Prism as a user would, from the same openapi.yaml.

    Start-up then covers, for mockserver, Python start-up, loading the spec
    and the fixtures and spawning its workers; for Prism, Node start-up and
    loading the spec. ``extra_args`` are added to mockserver's command line.
    """
    log = workdir / f"{tag}-{name}.log"
    if name == MOCKSERVER:
        argv = [sys.executable, "-m", "mockserver", "serve", "--port", "0", *extra_args]
        return launch(name, argv, log)
    assert prism is not None
    port = free_port()
    return launch(name, [str(prism), "mock", "-p", str(port), str(SPEC)], log, port)
