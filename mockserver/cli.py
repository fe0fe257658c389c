"""The ``mockserver`` command line."""

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType

from mockserver import __version__
from mockserver.clock import parse_timestamp
from mockserver.config import DEFAULT_HOST, DEFAULT_PORT, Settings
from mockserver.fixtures import FixtureError
from mockserver.resources import default_fixtures_dir, default_spec_path
from mockserver.spec import SpecError
from mockserver.store import StoreError

EXIT_BAD_CONFIGURATION = 2


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A contract-faithful stand-in for the Wacht API-auth endpoints.",
    )
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API until interrupted")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to bind, 0 for any free one (default {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--spec",
        type=Path,
        default=None,
        help="OpenAPI file to serve (default: the bundled openapi.yaml)",
    )
    serve.add_argument(
        "--fixtures",
        type=Path,
        default=None,
        help="fixture directory (default: the bundled fixtures)",
    )
    serve.add_argument(
        "--seed", type=int, default=None, help="seed everything random, for repeatable output"
    )
    serve.add_argument(
        "--freeze-time",
        type=_timestamp,
        default=None,
        metavar="TIMESTAMP",
        help="stop the clock at this RFC 3339 instant, e.g. 2026-01-01T00:00:00Z",
    )
    serve.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="PATH",
        help="keep state in this SQLite file across restarts (default: start from the fixtures)",
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        spec_path=args.spec or default_spec_path(),
        fixtures_dir=args.fixtures or default_fixtures_dir(),
        seed=args.seed,
        frozen_time=args.freeze_time,
        state_path=args.state,
    )


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from mockserver.app import create_app

    try:
        app = create_app(_settings(args))
    except (SpecError, FixtureError, StoreError) as error:
        print(f"mockserver: cannot start:\n{error}", file=sys.stderr)
        return EXIT_BAD_CONFIGURATION
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as error:
        print(
            f"mockserver: cannot listen on {args.host}:{args.port}: {error.strerror}",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIGURATION
    context = app.extensions["mockserver"]
    print(
        f"mockserver {__version__} listening on http://{args.host}:{server.server_port}", flush=True
    )
    print(f"dev key: Authorization: Bearer {context.fixtures.default_key}", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return EXIT_BAD_CONFIGURATION  # pragma: no cover - argparse requires a command
