"""The sessions' registry of one worker, on a clock the test moves: expiry,
the limit, and sessions beyond the worker's cache of open ones; on SQLite
(a file per session) and on PostgreSQL (a schema per session)."""

from pathlib import Path

import pytest
from conftest import ContractClient

from mockserver.state.database import is_postgres, open_database, schema_of
from mockserver.state.sessions import Sessions, TooManySessions
from mockserver.state.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def registry(
    tmp_path: Path, clock: Clock, max_sessions: int = 3, location: Path | str | None = None
) -> Sessions[Store]:
    """Sessions beside an SQLite state, or in the PostgreSQL database at ``location``."""
    return Sessions(
        tmp_path / "sessions",
        ttl_seconds=60,
        max_sessions=max_sessions,
        open_session=lambda _name, path: Store(path, durable=False, made_here=True),
        seed=lambda store: store.load([], [], only_if_new=False),
        clock=clock,
        database=open_database(location) if is_postgres(location) else None,
    )


def test_an_expired_session_makes_room_and_comes_back_empty(
    tmp_path: Path, state_location: Path | str
) -> None:
    clock = Clock()
    sessions = registry(tmp_path, clock, max_sessions=2, location=state_location)
    first = sessions.get("first")
    first.insert_scheme(
        {
            "id": "1",
            "slug": "made-in-first",
            "name": "n",
            "description": None,
            "rules": [],
            "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z",
        }
    )
    sessions.get("second")
    with pytest.raises(TooManySessions):
        sessions.get("third")
    clock.now += 30
    sessions.get("second")  # used again: only "first" is idle for the whole TTL
    clock.now += 31
    assert sessions.get("third") is not None  # "first" expired, and made room
    assert [info.name for info in sessions.listing()] == ["third", "second"]
    assert sessions.drop("third")
    assert sessions.get("first").get_scheme("made-in-first") is None  # a new one


def test_a_session_used_just_before_its_ttl_is_kept(
    tmp_path: Path, state_location: Path | str
) -> None:
    clock = Clock()
    sessions = registry(tmp_path, clock, location=state_location)
    sessions.get("kept")
    for _ in range(5):
        clock.now += 50
        sessions.get("kept")  # past the cache's touch interval: the registry is told
    assert [info.name for info in sessions.listing()] == ["kept"]


def test_more_sessions_than_a_worker_keeps_open_keep_their_state(
    make_client, state_location: Path | str
) -> None:
    client: ContractClient = make_client(state_path=state_location)
    names = [f"many-{n}" for n in range(40)]  # the cache holds 32 open
    for name in names:
        created = client.create(app_slug=name, headers={"X-Mockserver-Session": name})
        assert created.status_code == 200
    for name in names:
        page = client.get("/api-auth/apps?limit=100", headers={"X-Mockserver-Session": name})
        ours = [app["app_slug"] for app in page.get_json()["data"] if app["app_slug"] in names]
        assert ours == [name]


def test_a_server_whose_clients_name_no_session_writes_no_sessions_folder(
    tmp_path: Path, make_client
) -> None:
    state = tmp_path / "demo.sqlite3"
    client: ContractClient = make_client(state_path=state)
    assert client.get("/api-auth/apps").status_code == 200
    assert client.get("/__admin/sessions").get_json()["sessions"] == []
    assert not Path(f"{state}.sessions").exists()
    assert client.get("/api-auth/apps", headers={"X-Mockserver-Session": "one"}).status_code == 200
    assert Path(f"{state}.sessions").is_dir()


def test_a_killed_workers_template_is_removed_by_the_next_one(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "sessions" / "templates"
    folder.mkdir(parents=True)
    # A process id that no process has (above Linux's pid_max).
    orphan = folder / f"{2**22 + 1}-0123.sqlite3"
    orphan.write_bytes(b"")
    Path(f"{orphan}-wal").write_bytes(b"")
    registry(tmp_path, clock).get("first")
    assert not orphan.exists() and not Path(f"{orphan}-wal").exists()
    assert len(list(folder.glob("*.sqlite3"))) == 1  # this worker's own


def test_the_template_is_seeded_again_once_older_than_its_max_age(tmp_path: Path) -> None:
    """What seeding writes as of its time (the demo audit history) is as old
    in every copy: past the max age, new sessions copy a newly seeded one."""
    clock = Clock()
    seeded_at: list[float] = []

    def seed(store: Store) -> None:
        store.load([], [], only_if_new=False)
        seeded_at.append(clock.now)

    sessions = Sessions(
        tmp_path / "sessions",
        ttl_seconds=3600,
        max_sessions=10,
        open_session=lambda _name, path: Store(path, durable=False, made_here=True),
        seed=seed,
        clock=clock,
        template_max_age_seconds=60,
    )
    sessions.get("first")
    clock.now += 60
    sessions.get("second")  # a copy of the same template
    assert seeded_at == [1_000_000.0]
    clock.now += 1
    sessions.get("third")
    assert seeded_at == [1_000_000.0, 1_000_061.0]
    # The stale template's file is gone: one template per worker.
    assert len(list((tmp_path / "sessions" / "templates").glob("*.sqlite3"))) == 1


def test_a_session_dropped_while_another_worker_opens_it_is_made_afresh(
    tmp_path: Path, state_location: Path | str
) -> None:
    """Worker B finds a session in the registry, and worker A drops it before
    B has opened it: opening makes a file or schema where there is none, so
    B would serve an empty session no registry knows, kept forever. B makes
    it afresh instead, and nothing of the dropped one is left."""
    clock = Clock()
    dropper = registry(tmp_path, clock, location=state_location)
    made = dropper.get("raced")
    made.insert_scheme(
        {
            "id": "1",
            "slug": "made-before",
            "name": "n",
            "description": None,
            "rules": [],
            "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z",
        }
    )
    old_path = made.path
    opened: list[Path | str] = []

    def open_after_the_drop(name: str, path: Path) -> Store:
        if not opened:  # the drop lands between B's look at the registry and this
            assert dropper.drop(name)
        opened.append(path)
        return Store(path, durable=False, made_here=True)

    worker = Sessions(
        tmp_path / "sessions",
        ttl_seconds=60,
        max_sessions=3,
        open_session=open_after_the_drop,
        seed=lambda store: store.load([], [], only_if_new=False),
        clock=clock,
        database=open_database(state_location) if is_postgres(state_location) else None,
    )
    served = worker.get("raced")
    assert served.path != old_path
    assert served.get_scheme("made-before") is None
    assert [info.name for info in worker.listing()] == ["raced"]
    if is_postgres(state_location):
        schemas = served.database.connection().execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'session%'"
        )
        assert [name for (name,) in schemas.fetchall()] == [schema_of(str(served.path))]
    else:
        assert sorted(p.name for p in (tmp_path / "sessions" / "sessions").glob("*.sqlite3")) == [
            Path(served.path).name
        ]
