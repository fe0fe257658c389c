"""What a server is started with; shared by the CLI, the app factory and tests."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mockserver.resources import default_fixtures_dir, default_spec_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
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
    # SQLite file that keeps state across restarts; None starts from the fixtures.
    state_path: Path | None = None
