"""The ``mockserver`` command line.

Every bad option value ends the command with exit code 2 and a message
naming the option (argparse's own convention), never a traceback: each value
is checked by its argparse type (options.py), before anything is started.
"""

import argparse
import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mockserver import __version__
from mockserver.config import Settings
from mockserver.contract.resources import default_fixtures_dir, default_spec_path
from mockserver.http.hosts import normalise_host
from mockserver.serving.arguments import build_parser
from mockserver.serving.boottrace import trace

if TYPE_CHECKING:
    from mockserver.serving.boot import Checked

EXIT_BAD_CONFIGURATION = 2


def exposure_warning(host: str, admin_enabled: bool, admin_token: str | None) -> str | None:
    """What to tell someone who opens the admin API to the network without a token."""
    if not admin_enabled or admin_token is not None:
        return None
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = normalise_host(host) == "localhost" or host.endswith(".localhost")
    if loopback:
        return None
    return (
        f"mockserver: warning: listening on {host} without --admin-token: anyone on the "
        "network can reset the state and read the journal (every request, bodies included). "
        "Give --admin-token TOKEN, or --no-admin."
    )


def run_check(args: argparse.Namespace) -> int:
    from mockserver.tooling.checking import check

    spec, fixtures = args.spec or default_spec_path(), args.fixtures or default_fixtures_dir()
    problems = check(spec, fixtures)
    if problems:
        print(f"mockserver check: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_CONFIGURATION
    print(f"mockserver check: {spec} and {fixtures} are fine")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from mockserver.tooling.checking import verify

    return verify(
        args.base_url,
        args.spec or default_spec_path(),
        args.key,
        junit=args.junit,
        max_examples=args.max_examples,
        seed=args.seed,
    )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        spec_path=args.spec or default_spec_path(),
        fixtures_dir=args.fixtures or default_fixtures_dir(),
        seed=args.seed,
        frozen_time=args.freeze_time,
        state_path=args.state,
        journal_size=args.journal_size,
        audit_size=args.audit_size,
        admin_enabled=not args.no_admin,
        admin_token=args.admin_token,
        cors_origins=tuple(args.cors_origins) if args.cors_origins else None,
        allowed_hosts=tuple(args.allowed_hosts or ()),
        delay_ms=args.delay,
        log_format=args.log_format,
        watch=args.watch,
        session_ttl_seconds=args.session_ttl,
        max_sessions=args.max_sessions,
        redis_url=args.redis,
    )


def _serve_settings(args: argparse.Namespace, scratch: Path) -> Settings:
    """Settings for the workers of ``serve``, which share one state and one
    journal: without --state, both live in ``scratch``, as long as this command."""
    settings = _settings(args)
    return replace(
        settings,
        state_path=settings.state_path or scratch / "state.sqlite3",
        state_is_temporary=settings.state_path is None,
        journal_path=scratch / "journal.sqlite3",
    )


def _port_to_listen_on(host: str, port: int) -> int:
    """Check that ``port`` is free (raises OSError) or, for 0, find a free one.

    The production server binds the port itself, after this check; a free
    port found here could in theory be taken in between, which a test run
    would see as a failed start, never as a wrong answer.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return int(probe.getsockname()[1])


def _worker_count(args: argparse.Namespace) -> int:
    if args.workers is not None:
        return args.workers
    # Repeatable output needs one process: see "Deterministic output" in the README.
    if args.seed is not None or args.freeze_time is not None:
        return 1
    return os.cpu_count() or 1


def serve(args: argparse.Namespace) -> int:
    """Check the settings, then serve until interrupted (serving/boot.py says how)."""
    from mockserver.serving.boot import PendingCheck, SettingsRefused

    workers = _worker_count(args)
    with tempfile.TemporaryDirectory(prefix="mockserver-") as scratch:
        settings = _serve_settings(args, Path(scratch))
        # What the check needs, imported before it forks, so that only this
        # process imports the rest (granian, the request path) meanwhile.
        import mockserver.serving.context

        # First, while this process is alone (no thread): the check forks from it.
        pending = PendingCheck(settings)
        trace("settings check forked")
        try:
            port: int | None = _port_to_listen_on(args.host, args.port)
            cannot_listen = ""
        except OSError as error:
            port, cannot_listen = None, error.strerror or str(error)
        # Meanwhile, on the other core: what the workers will fork with.
        import granian  # noqa: F401

        import mockserver.serving.app
        import mockserver.serving.wsgi  # noqa: F401

        trace("server imported")

        try:
            checked = pending.result()
            trace("settings check passed")
        except SettingsRefused as refused:
            print(f"mockserver: cannot start:\n{refused}", file=sys.stderr)
            return EXIT_BAD_CONFIGURATION
        if port is None:
            print(
                f"mockserver: cannot listen on {args.host}:{args.port}: {cannot_listen}",
                file=sys.stderr,
            )
            return EXIT_BAD_CONFIGURATION
        return _run_workers(args, settings, checked, port, workers)


def _run_workers(
    args: argparse.Namespace, settings: Settings, checked: "Checked", port: int, workers: int
) -> int:
    import multiprocessing

    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    from mockserver.serving.boot import Reaped, fork_announcer, worker_app_loader
    from mockserver.state.database import redacted

    server = Granian(
        # Only named in granian's own messages: the app comes from the loader below.
        "mockserver",
        address=args.host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        # One request at a time per worker: Python code holds the GIL anyway,
        # and measured, more threads only lengthened the tail (bench/README.md).
        # With added latency, requests mostly sleep: let them overlap.
        blocking_threads=1 if settings.delay_ms is None else 32,
        log_level=LogLevels.warning,
        # In-flight requests get this long to finish after SIGTERM or Ctrl-C.
        workers_kill_timeout=10,
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    banner = "\n".join(
        [
            f"mockserver {__version__} listening on http://{host}:{port}",
            f"dev key: Authorization: Bearer {checked.dev_key}",
            f"workers: {workers}; state: {redacted(args.state or 'temporary')}"
            + (f"; counters: {redacted(args.redis)}" if args.redis else ""),
        ]
    )
    announcer: list[Reaped] = []

    def bound() -> None:
        """Granian's start-up hook: the port is bound, the workers not yet forked."""
        trace("port bound")
        announcer.append(Reaped(fork_announcer(args.host, port, settings.admin_token, banner)))

    server.on_startup(bound)
    # Forked, the workers start with what this process imported and checked.
    multiprocessing.set_start_method("fork", force=True)
    try:
        server.serve(target_loader=worker_app_loader(settings, checked), wrap_loader=False)
        stopped = 0
    except SystemExit as exit_:  # granian's way to say a worker died
        stopped = exit_.code if isinstance(exit_.code, int) else 1
    announcer_exit = announcer[0].exit_code() if announcer else None
    if announcer_exit == EXIT_BAD_CONFIGURATION:  # it said nothing answered
        return EXIT_BAD_CONFIGURATION
    if stopped and announcer_exit != 0:  # it was still waiting: say why it never will
        print(
            f"mockserver: cannot start: the workers stopped before answering on "
            f"{host}:{port} (see above)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_BAD_CONFIGURATION
    return stopped


def main(argv: Sequence[str] | None = None) -> int:
    trace("command imported")
    args = build_parser().parse_args(argv)
    trace("options read")
    if args.command == "serve":
        warning = exposure_warning(args.host, not args.no_admin, args.admin_token)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        return serve(args)
    if args.command == "check":
        return run_check(args)
    if args.command == "verify":
        return run_verify(args)
    return EXIT_BAD_CONFIGURATION  # pragma: no cover - argparse requires a command
