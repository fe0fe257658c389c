"""What a server is started with; shared by the CLI, the app factory and tests."""

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from mockserver.contract.resources import default_fixtures_dir, default_spec_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
# Where `mockserver serve` hands its settings (JSON) to its worker processes.
SETTINGS_VARIABLE = "MOCKSERVER_SETTINGS"
# The real backend refuses bodies over 2 MB with 413.
MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    spec_path: Path = field(default_factory=default_spec_path)
    fixtures_dir: Path = field(default_factory=default_fixtures_dir)
    # Seeds everything random (the machine id in ids today).
    seed: int | None = None
    # When set, the clock stands still at this instant (timestamps and ids repeat).
    frozen_time: datetime | None = None
    # SQLite file that keeps state across restarts, or a postgresql:// URL (a
    # str: several replicas share that database); None starts from the fixtures.
    state_path: Path | str | None = None
    # state_path is a scratch file removed when the server stops (`serve`
    # without --state, shared by its workers): not worth an fsync.
    state_is_temporary: bool = False
    # The request journal: its file (None: a temporary one) and size (0: off).
    journal_path: Path | None = None
    journal_size: int = 1000
    # The audit of gateway checks keeps at most this many rows (the oldest go).
    audit_size: int = 100_000
    # The admin API (/__admin/...), and the bearer token it asks for if any.
    admin_enabled: bool = True
    admin_token: str | None = None
    # Origins a browser may call from (None: any). They alone may also call
    # the admin API and the pages, which by default answer only their own origin.
    cors_origins: tuple[str, ...] | None = None
    # Domain names served besides localhost and *.localhost (IP addresses always are).
    allowed_hosts: tuple[str, ...] = ()
    # Latency added to every response: (min, max) milliseconds, or None.
    delay_ms: tuple[int, int] | None = None
    # One line per request on standard output: "text", "json" or "off".
    log_format: str = "text"
    # Reload the spec and fixtures when their files change (the state is kept).
    watch: bool = False
    # Named sessions (X-Mockserver-Session): dropped after this many idle
    # seconds, and at most this many live at once.
    session_ttl_seconds: float = 3600.0
    max_sessions: int = 100
    # Where the gateway's rate-limit counters live: a Redis URL
    # (redis://HOST:PORT/N), or None for the state's database.
    redis_url: str | None = None

    def to_json(self) -> str:
        """Settings for a worker process, which gets them through its environment."""
        values = asdict(self)
        for name, value in values.items():
            if isinstance(value, Path):
                values[name] = str(value)
            elif isinstance(value, datetime):
                values[name] = value.isoformat()
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> "Settings":
        values = json.loads(text)
        for name in ("spec_path", "fixtures_dir", "state_path", "journal_path"):
            # A URL stays text (a Path would fold its "//").
            if values.get(name) is not None and "://" not in values[name]:
                values[name] = Path(values[name])
        for name in ("cors_origins", "allowed_hosts", "delay_ms"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        if values.get("frozen_time") is not None:
            values["frozen_time"] = datetime.fromisoformat(values["frozen_time"])
        return cls(**values)
