"""The ``mockserver`` command's options: every command, option, default and
help text, each value checked by its argparse type (options.py) and
readable from a ``MOCKSERVER_*`` variable (environment.py)."""

import argparse
from pathlib import Path

from mockserver import __version__
from mockserver.config import DEFAULT_HOST, DEFAULT_PORT
from mockserver.http.logs import LOG_FORMATS
from mockserver.serving import options
from mockserver.serving.environment import EnvironmentParser, bind_environment, secret_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A contract-faithful stand-in for the Wacht API-auth endpoints.",
    )
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=EnvironmentParser
    )

    serve = commands.add_parser("serve", help="serve the API until interrupted")
    serve.add_argument(
        "--host",
        type=options.host,
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=options.port,
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
        "--seed",
        type=options.seed,
        default=None,
        help="seed everything random, for repeatable output",
    )
    serve.add_argument(
        "--freeze-time",
        type=options.id_timestamp,
        default=None,
        metavar="TIMESTAMP",
        help="stop the clock at this RFC 3339 instant, e.g. 2026-01-01T00:00:00Z",
    )
    serve.add_argument(
        "--workers",
        type=options.workers,
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU; 1 with --seed or --freeze-time)",
    )
    serve.add_argument(
        "--journal-size",
        type=options.journal_size,
        default=1000,
        metavar="N",
        help="keep the last N requests for GET /__admin/requests (default 1000; 0 turns it off)",
    )
    serve.add_argument(
        "--audit-size",
        type=options.audit_size,
        default=100_000,
        metavar="N",
        help="keep at most N audit rows of gateway checks, the oldest go first"
        " (default 100000; 0 turns the audit off)",
    )
    admin_token = serve.add_mutually_exclusive_group()
    admin_token.add_argument(
        "--admin-token",
        type=options.token,
        default=None,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on the admin API",
    )
    admin_token.add_argument(
        "--admin-token-file",
        type=options.token_file,
        dest="admin_token",
        metavar="PATH",
        help="the same, with the token read from this file (keeps it off the command line)",
    )
    serve.add_argument("--no-admin", action="store_true", help="serve no admin API (/__admin/...)")
    serve.add_argument(
        "--cors-origin",
        type=options.origin,
        action="append",
        default=None,
        metavar="ORIGIN",
        dest="cors_origins",
        help="only this origin may call from a browser (repeatable; default: any origin); "
        "it may then call the admin API and the pages too",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        type=options.allowed_host,
        default=None,
        metavar="NAME",
        dest="allowed_hosts",
        help="answer requests for this domain name too (repeatable; always: localhost, "
        "*.localhost, IP addresses)",
    )
    serve.add_argument(
        "--delay",
        type=options.delay,
        default=None,
        metavar="MS|MIN-MAX",
        help="add this latency to every response, e.g. 200 or 100-800",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="one line per request: text (default, coloured on a terminal), json, or off",
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        help="reload the spec and fixtures when they change, keeping the state",
    )
    serve.add_argument(
        "--session-ttl",
        type=options.duration,
        default=3600.0,
        metavar="DURATION",
        help="drop a session (X-Mockserver-Session) idle this long, e.g. 90s, 30m (default 1h)",
    )
    serve.add_argument(
        "--max-sessions",
        type=options.positive,
        default=100,
        metavar="N",
        help="at most N sessions at once; one more is a 429 (default 100)",
    )
    serve.add_argument(
        "--redis",
        type=options.redis_url,
        default=None,
        metavar="URL",
        help="keep the gateway's rate-limit counters in this Redis, e.g. redis://127.0.0.1:6379/0,"
        " shared by every server pointed at it (default: in the state; needs mockserver[replicas])",
    )
    serve.add_argument(
        "--state",
        type=options.state,
        default=None,
        metavar="PATH|URL",
        help="keep state in this SQLite file across restarts, or in a PostgreSQL database"
        " shared by replicas: postgresql://USER:PASS@HOST:PORT/DB"
        " (default: start from the fixtures)",
    )

    check = commands.add_parser(
        "check", help="validate a spec and fixtures without serving them (exit 0, or 2)"
    )
    check.add_argument("--spec", type=Path, default=None, help="OpenAPI file (default: bundled)")
    check.add_argument("--fixtures", type=Path, default=None, help="fixture directory")

    verify = commands.add_parser(
        "verify", help="run the contract checks (schemathesis) against a live server"
    )
    verify.add_argument("base_url", metavar="BASE_URL", help="e.g. https://staging.example.com")
    verify.add_argument("--spec", type=Path, default=None, help="OpenAPI file (default: bundled)")
    key = verify.add_mutually_exclusive_group()
    key.add_argument("--key", default="sk_test_mock", help="bearer key to send")
    key.add_argument(
        "--key-file", type=secret_file, dest="key", metavar="PATH", help="read the key from a file"
    )
    verify.add_argument("--junit", type=Path, default=None, metavar="PATH", help="write JUnit XML")
    verify.add_argument("--max-examples", type=options.positive, default=None, metavar="N")
    verify.add_argument("--seed", type=options.seed, default=None, help="seed the generated data")
    _options_from_environment(serve, verify)
    return parser


def _options_from_environment(
    serve: argparse.ArgumentParser, verify: argparse.ArgumentParser
) -> None:
    """Every option of ``serve`` (``MOCKSERVER_PORT``...) and ``verify``
    (``MOCKSERVER_VERIFY_KEY``...) can come from the environment: see environment.py."""
    bind_environment(serve, "MOCKSERVER_")
    bind_environment(verify, "MOCKSERVER_VERIFY_")
