"""How ``mockserver serve`` starts: check once, then fork workers that reuse the check.

Why it is built this way (``MOCKSERVER_BOOT_TRACE=1`` shows each phase; the
README's "Speed" says more):

- The settings are checked (the spec, the fixtures, the state, seeded from
  the fixtures when new) in a child forked from the command once it has
  imported what the check needs (serving/context.py), so the command imports
  granian and the request path meanwhile, on the other core, and the child
  imports nothing. The child ends, so the supervisor, which lives as long as
  the server, keeps none of what the check built: only what it read, pickled
  (a few hundred kilobytes).
- Nothing listens before the check has passed: bad settings stop start-up
  with exit code 2 before granian binds the port.
- The workers are forked from the supervisor, not spawned: they start with
  the request path imported and the check's documents and fixtures in
  memory, so none parses YAML or checks the spec and fixtures again (nor
  imports jsonschema for it). Settings therefore reach a worker in its
  memory, never in its environment or command line, which /proc shows (the
  admin token is among them).
- The banner comes from a forked child too, not a thread: forking a process
  while another of its threads may hold a lock can hand a worker that lock,
  held forever. A child asks the served port until it answers, prints the
  banner, and otherwise says why and stops the server (exit code 2). A thread
  that only waits for it to end reaps it, holding no lock."""

import contextlib
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockserver.config import Settings
from mockserver.serving.boottrace import trace

# How long the workers may take to answer before `serve` gives up (exit 2).
ANSWER_TIMEOUT_S = 60.0


class SettingsRefused(Exception):
    """``serve`` cannot start with these settings; the message says why."""


@dataclass(frozen=True)
class Checked:
    """What the check read, for the workers: the dev key and a pickle of the
    parsed documents and fixtures (a bytes object, cheap to keep and to fork)."""

    dev_key: str
    loaded: bytes


def _flush_standard_streams() -> None:
    # A forked child inherits unwritten buffers and would write them twice.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


def _check(settings: Settings) -> tuple[str, str, bytes]:
    """("ok", dev key, pickle) or ("error", what is wrong, b"")."""
    from mockserver.backend.fixtures import FixtureError
    from mockserver.contract.spec import SpecError
    from mockserver.serving.context import build_context, load
    from mockserver.state.database import DatabaseUnavailable, redacted
    from mockserver.state.redis_counters import RedisCounters, RedisUrlError
    from mockserver.state.store import StoreError

    try:
        trace("check: started")
        loaded = load(settings)
        trace("check: spec and fixtures read")
        context = build_context(settings, loaded.spec, loaded.fixtures)
    except (SpecError, FixtureError, StoreError, DatabaseUnavailable, RedisUrlError) as error:
        return "error", str(error), b""
    trace("check: state ready")
    if isinstance(context.counters, RedisCounters):
        # A server that cannot count would answer every check 503: say so now.
        why = context.counters.unreachable_because()
        if why is not None:
            context.store.close()
            url = redacted(str(settings.redis_url))
            return "error", f"--redis: Redis at {url} cannot keep the counters: {why}", b""
    context.store.close()
    context.journal.close()
    admin = loaded.admin_spec.document
    documents = pickle.dumps(
        (loaded.spec.document, loaded.gateway_spec.document, admin, loaded.fixtures), protocol=5
    )
    return "ok", context.fixtures.default_key, documents


class PendingCheck:
    """The settings check, running in a forked child; :meth:`result` waits for it."""

    def __init__(self, settings: Settings) -> None:
        _flush_standard_streams()
        reading, writing = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child: check, answer, and end without cleaning up the parent's
            os.close(reading)
            status = 0
            try:
                answer = pickle.dumps(_check(settings), protocol=5)
                with os.fdopen(writing, "wb") as pipe:
                    pipe.write(answer)
            except BaseException:
                traceback.print_exc()
                status = 1
            finally:
                _flush_standard_streams()
                os._exit(status)
        os.close(writing)
        self._answer = os.fdopen(reading, "rb")

    def result(self) -> Checked:
        """The check's outcome; SettingsRefused saying why when the settings are bad."""
        with self._answer:
            raw = self._answer.read()
        os.waitpid(self._pid, 0)
        if not raw:  # it died; its traceback is on stderr
            raise SettingsRefused("the settings check failed unexpectedly (see above)")
        outcome, detail, documents = pickle.loads(raw)
        if outcome != "ok":
            raise SettingsRefused(detail)
        return Checked(detail, documents)


def worker_app_loader(settings: Settings, checked: Checked) -> Callable[[], Any]:
    """What each forked worker calls for its WSGI app."""

    def load_worker_app() -> Any:
        trace("worker: forked")
        from mockserver.backend.fixtures import Fixtures
        from mockserver.contract.resources import gateway_spec_path
        from mockserver.contract.spec import Spec
        from mockserver.serving.context import Loaded
        from mockserver.serving.wsgi import worker_app
        from mockserver.tooling.admin import ADMIN_SPEC_PATH

        document, gateway, admin, fixtures = pickle.loads(checked.loaded)
        assert isinstance(fixtures, Fixtures)
        loaded = Loaded(
            Spec(document, source=str(settings.spec_path), checked=True),
            Spec(gateway, source=str(gateway_spec_path()), checked=True),
            Spec(admin, source=str(ADMIN_SPEC_PATH), checked=True),
            fixtures,
        )
        app = worker_app(settings, loaded)
        trace("worker: app built")
        return app

    return load_worker_app


HEALTH_PATH = "/__admin/health"


def answers(host: str, port: int, admin_token: str | None, timeout_s: float = 2.0) -> bool:
    """Whether the app answers on ``host:port``: 200 from the admin API's
    health or, with the admin API off (--no-admin), the 404 envelope, which
    only the app sends. Neither is journaled nor logged.

    HTTP/1.0 without a Host header, on a plain socket: a Host the Host check
    does not allow (``--host`` a name other than localhost) would be refused,
    and http.client would cost the command its import (ssl, email).
    """
    authorization = f"Authorization: Bearer {admin_token}\r\n" if admin_token else ""
    request = f"GET {HEALTH_PATH} HTTP/1.0\r\n{authorization}\r\n".encode("ascii")
    reply = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(request)
            while b"\r\n\r\n" not in reply and len(reply) < 65536:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return False
    status_line, *header_lines = reply.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    parts = status_line.split()
    status = parts[1] if len(parts) > 1 and parts[0].startswith("HTTP/") else ""
    if status == "200":
        return True
    headers = dict(line.lower().partition(":")[::2] for line in header_lines)
    return status == "404" and headers.get("content-type", "").strip() == "application/json"


def fork_announcer(
    host: str,
    port: int,
    admin_token: str | None,
    banner: str,
    timeout_s: float = ANSWER_TIMEOUT_S,
) -> int:
    """Fork the child that prints ``banner`` once the server answers; its pid.

    It ends with status 0 once it has printed the banner; or, when nothing
    answers within ``timeout_s`` (or the supervisor is gone), prints why,
    sends the supervisor SIGTERM and ends with status 2.
    """
    _flush_standard_streams()
    supervisor = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    status = 2
    try:
        # The supervisor's handlers (granian's) are no business of this child.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0 and os.getppid() == supervisor:
            if answers(host, port, admin_token, timeout_s=min(2.0, left)):
                trace("announcer: the port answers")
                print(banner, flush=True)
                status = 0
                break
            time.sleep(0.01)
        else:
            if os.getppid() == supervisor:  # else it stopped first, and said why
                print(
                    f"mockserver: cannot start: nothing answered on {host}:{port} "
                    f"within {timeout_s:g} s (see above)",
                    file=sys.stderr,
                    flush=True,
                )
                os.kill(supervisor, signal.SIGTERM)
    except BaseException:
        traceback.print_exc()
    finally:
        _flush_standard_streams()
        os._exit(status)


class Reaped:
    """A forked child, reaped by a thread as soon as it ends, so that it
    stays no zombie as long as the server runs.

    The thread only waits in waitpid, holding no lock: forking the workers
    while it waits hands them nothing held (serving/boot.py's first note).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        self._thread = threading.Thread(target=self._reap, name="reaper", daemon=True)
        self._thread.start()

    def _reap(self) -> None:
        try:
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        except ChildProcessError:
            self.status = 0

    def exit_code(self) -> int:
        """Its exit code, once it has ended (stopping it if it still waits)."""
        if self._thread.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._thread.join()
        assert self.status is not None
        return self.status
