"""The store, on SQLite and on PostgreSQL (the same battery, parametrized by
the ``state_location`` fixture): a write happens whole or not at all."""

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from postgres_support import PostgresServer

from mockserver.state.counters import Outcome, Tally
from mockserver.state.database import DatabaseUnavailable, SharedSqlite
from mockserver.state.schema import TABLES
from mockserver.state.store import SlugTaken, Store, StoreError

RULE = {"unit": "minute", "duration": 1, "max_requests": 5}


def scheme(slug: str = "s", rules: list | None = None) -> dict:
    return {
        "id": "1",
        "slug": slug,
        "name": "S",
        "description": None,
        "rules": rules if rules is not None else [RULE, RULE],
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:00.000000Z",
    }


def app(slug: str = "a", app_id: str = "10") -> dict:
    return {
        "id": app_id,
        "app_slug": slug,
        "is_active": True,
        "rate_limit_scheme_slug": None,
        "deleted_at": None,
        "name": "A",
    }


@pytest.fixture
def store(state_location: Path | str):
    store = Store(state_location)
    yield store
    store.close()


class Boom(Exception):
    pass


def test_a_scheme_whose_rules_fail_to_write_is_not_stored(store: Store, monkeypatch) -> None:
    def failing_rules(db, slug, rules):
        raise Boom

    monkeypatch.setattr(Store, "_write_rules", staticmethod(failing_rules))
    with pytest.raises(Boom):
        store.insert_scheme(scheme())
    monkeypatch.undo()
    assert store.get_scheme("s") is None
    store.insert_scheme(scheme())  # the slug was never taken
    assert len(store.get_scheme("s")["rules"]) == 2


def test_a_scheme_update_that_fails_half_way_changes_nothing(store: Store, monkeypatch) -> None:
    store.insert_scheme(scheme())
    original_write = Store._write_rules

    def write_then_fail(db, slug, rules):
        original_write(db, slug, rules)
        raise Boom

    monkeypatch.setattr(Store, "_write_rules", staticmethod(write_then_fail))
    with pytest.raises(Boom):
        store.update_scheme("s", lambda s: {**s, "name": "New", "rules": [RULE]})
    assert store.get_scheme("s") == scheme()


def test_an_app_change_that_raises_leaves_the_app_as_it_was(store: Store) -> None:
    store.insert_app(app())

    def broken_change(current: dict) -> dict:
        raise Boom

    with pytest.raises(Boom):
        store.update_app("a", broken_change)
    assert store.get_app("a") == app()


def test_a_live_slug_is_taken_but_a_deleted_one_is_free(store: Store) -> None:
    store.insert_app(app())
    with pytest.raises(SlugTaken):
        store.insert_app(app(app_id="11"))
    store.update_app("a", lambda current: {**current, "deleted_at": "2026-01-01T00:00:00Z"})
    store.insert_app(app(app_id="12"))
    assert store.get_app("a")["id"] == "12"


def test_load_only_if_new_keeps_a_loaded_state(store: Store) -> None:
    assert store.load([scheme()], [app()], only_if_new=True) is True
    store.insert_app(app("b", "11"))
    assert store.load([], [], only_if_new=True) is False
    assert store.get_app("b") is not None
    assert store.load([], [], only_if_new=False) is True
    assert store.get_app("a") is None and store.get_scheme("s") is None


def test_machine_ids_are_unique_per_process_and_survive_a_reset(store: Store) -> None:
    assert store.claim_machine_id(65535) == 65535  # the preferred one, while free
    assert store.claim_machine_id(65535) == 0  # taken: the next free one, wrapping
    store.load([], [], only_if_new=False)
    assert store.claim_machine_id(0) == 1
    assert store.claim_machine_id(7) == 7


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        Store(path)


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "crm.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE customers (name TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a mockserver state"):
        Store(path)
    assert path.read_bytes() == before


def test_without_a_path_the_state_is_temporary(tmp_path: Path) -> None:
    store = Store()
    path = store.path
    store.insert_app(app())
    assert path.exists()
    store.close()
    assert not path.exists()


def synchronous(store: Store) -> str:
    (level,) = store._db.connection().execute("PRAGMA synchronous").fetchone()
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[level]


def test_only_a_state_that_outlives_the_server_waits_for_fsync(tmp_path: Path) -> None:
    stores = [
        Store(tmp_path / "named.sqlite3"),
        Store(tmp_path / "scratch.sqlite3", durable=False),
        Store(),
        Store(durable=True),  # a temporary file is never durable
    ]
    try:
        assert [synchronous(store) for store in stores] == ["NORMAL", "OFF", "OFF", "OFF"]
    finally:
        for store in stores:
            store.close()


def seqs(store: Store) -> list[int]:
    return [row[0] for row in store._db.connection().execute("SELECT seq FROM apps ORDER BY seq")]


def test_app_seqs_increase_without_autoincrement(store: Store) -> None:
    for number in range(3):
        store.insert_app(app(f"a{number}", str(10 + number)))
    assert seqs(store) == [1, 2, 3]
    store.update_app("a2", lambda current: {**current, "deleted_at": "2026-01-01T00:00:00Z"})
    store.insert_app(app("a3", "13"))  # the newest row was soft-deleted, never removed
    assert seqs(store) == [1, 2, 3, 4]
    listed = store.list_apps(limit=10, offset=0).apps
    assert [listed_app["app_slug"] for listed_app in listed] == ["a3", "a1", "a0"]
    if store.is_shared:
        return  # PostgreSQL's identity columns: no sqlite_sequence to look at
    tables = store._db.connection().execute("SELECT name FROM sqlite_master").fetchall()
    assert ("sqlite_sequence",) in tables  # machines and schemes keep AUTOINCREMENT
    assert (
        store._db.connection().execute("SELECT 1 FROM sqlite_sequence WHERE name = 'apps'")
    ).fetchone() is None


def test_a_state_made_with_an_autoincrement_apps_table_works_as_before(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    # What earlier versions made: the same tables, apps with AUTOINCREMENT.
    apps_table = "CREATE TABLE IF NOT EXISTS apps (\n    seq INTEGER PRIMARY KEY"
    assert apps_table + "," in TABLES
    old.executescript(TABLES.replace(apps_table, apps_table + " AUTOINCREMENT"))
    old.execute("INSERT INTO meta VALUES ('schema_version', 1)")
    old.commit()
    old.close()
    store = Store(path)
    try:
        store.load([scheme()], [app("a", "10"), app("b", "11")], only_if_new=True)
        store.load([], [app("c", "12")], only_if_new=False)  # a reset: AUTOINCREMENT goes on
        store.insert_app(app("d", "13"))
        assert seqs(store) == [3, 4]
        listed = store.list_apps(limit=10, offset=0).apps
        assert [listed_app["app_slug"] for listed_app in listed] == ["d", "c"]
        (sql,) = (
            store._db.connection()
            .execute("SELECT sql FROM sqlite_master WHERE name = 'apps'")
            .fetchone()
        )
        assert "AUTOINCREMENT" in sql
    finally:
        store.close()


def test_a_scheme_change_by_another_store_is_seen_by_its_next_request(
    state_location: Path | str,
) -> None:
    # Two stores on one file stand for two processes: their caches and
    # connections are separate, only the file and the change counter are shared.
    # Each read is a new request of the reader's (on PostgreSQL a cache is kept
    # to the end of a request; on SQLite the shared counter tells at once).
    reader, writer = Store(state_location), Store(state_location)

    def read(slug: str) -> Any:
        reader.database.new_request()
        return reader.get_scheme(slug)

    try:
        writer.insert_scheme(scheme())
        assert reader.get_scheme("s")["name"] == "S"
        writer.update_scheme("s", lambda current: {**current, "name": "New"})
        assert read("s")["name"] == "New"
        writer.delete_scheme("s")
        assert read("s") is None
        writer.load([scheme("t")], [], only_if_new=False)
        reader.database.new_request()
        assert [kept["slug"] for kept in reader.list_schemes()] == ["t"]
    finally:
        reader.close()
        writer.close()


def test_cached_schemes_cost_no_query_until_a_writer_dies_half_way(tmp_path: Path) -> None:
    reader, writer = Store(tmp_path / "state.sqlite3"), Store(tmp_path / "state.sqlite3")
    statements: list[str] = []
    reader._db.connection().set_trace_callback(statements.append)
    try:
        writer.insert_scheme(scheme())
        assert reader.get_scheme("s")["name"] == "S"
        statements.clear()
        assert reader.get_scheme("s")["name"] == "S"
        writer.insert_app(app())  # not a scheme change
        assert reader.get_scheme("s")["name"] == "S"
        assert statements == []

        # A writer makes the counter odd, commits a scheme change, and dies
        # before making the counter even again.
        dying = writer._db.changes.counting()  # kept: collecting it would run its finally
        dying.__enter__()
        with writer._db.transaction() as db:
            db.execute("UPDATE schemes SET name = 'Renamed' WHERE slug = 's'")
            writer._schemes_changed()
        assert reader.get_scheme("s")["name"] == "Renamed"
        statements.clear()
        assert reader.get_scheme("s")["name"] == "Renamed"
        assert statements != []  # while the counter is odd, the database decides

        writer.insert_scheme(scheme("t"))  # the next counted write makes it even
        assert reader.get_scheme("t") is not None
        statements.clear()
        assert reader.get_scheme("t") is not None
        assert statements == []
    finally:
        reader.close()
        writer.close()


def run_together(context: Any, target: Any, arguments: list[tuple[Any, ...]]) -> None:
    """One process of ``context`` per tuple of ``arguments``, running
    ``target`` (which waits on a barrier among them); each must exit 0."""
    processes = [context.Process(target=target, args=args) for args in arguments]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0


def _open_new_database(path: str, start: Any, errors: Any) -> None:
    start.wait()
    try:
        SharedSqlite(Path(path)).connection().execute("SELECT 1")
    except sqlite3.Error as error:
        errors.put(repr(error))


def test_workers_opening_one_new_database_at_once_all_get_it(tmp_path: Path) -> None:
    """A session's registry is made by whichever workers first need it, at the
    same instant: turning the new file to WAL refused all but one with
    "database is locked" (a 500 under the benchmark's session load). Real
    processes, released together; 20 rounds failed about a third of them."""
    forked = multiprocessing.get_context("fork")
    errors = forked.Queue()
    for round_number in range(20):
        path = tmp_path / f"new-{round_number}.sqlite3"
        start = forked.Barrier(12)
        run_together(forked, _open_new_database, [(str(path), start, errors)] * 12)
    assert errors.empty(), errors.get()


def _create_one_slug(location: str, app_id: str, start: Any, outcomes: Any) -> None:
    store = Store(location)
    start.wait()
    try:
        store.insert_app(app("raced", app_id))
        outcomes.put("created")
    except SlugTaken:
        outcomes.put("taken")
    finally:
        store.close()


def test_concurrent_creates_of_one_slug_from_processes_end_in_one_success(
    state_location: Path | str,
) -> None:
    """Processes released together, each with its own connection: the
    partial unique index leaves exactly one app, on either engine."""
    Store(state_location).close()  # the schema, made once
    forked = multiprocessing.get_context("fork")
    for round_number in range(3):
        start, outcomes = forked.Barrier(4), forked.Queue()
        racers = [(str(state_location), f"{round_number}{i}", start, outcomes) for i in range(4)]
        run_together(forked, _create_one_slug, racers)
        results = sorted(outcomes.get(timeout=5) for _ in racers)
        assert results == ["created", "taken", "taken", "taken"]
        store = Store(state_location)
        try:
            store.update_app("raced", lambda current: {**current, "deleted_at": "2026-01-01Z"})
        finally:
            store.close()


def test_a_postgresql_database_of_another_program_is_refused_and_left_alone(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    postgres.sql("CREATE TABLE customers (name TEXT)", name)
    postgres.sql("INSERT INTO customers VALUES ('Ada')", name)
    with pytest.raises(StoreError, match="not a mockserver database"):
        Store(url)
    tables = postgres.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", name
    )
    assert tables == [("customers",)]


def test_a_postgresql_schema_of_a_newer_mockserver_is_refused(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    Store(url).close()
    postgres.sql("UPDATE meta SET value = 99 WHERE key = 'schema_version'", url.rsplit("/", 1)[1])
    with pytest.raises(StoreError, match="newer mockserver"):
        Store(url)


def test_replicas_starting_on_one_new_postgresql_database_all_open_it(
    postgres: PostgresServer,
) -> None:
    """Processes making the schema at the same instant: none sees the other's
    half-made tables as a foreign database, none fails to make a table."""
    url = postgres.new_database()
    forked = multiprocessing.get_context("fork")
    start, errors = forked.Barrier(6), forked.Queue()
    openers = [forked.Process(target=_open_store, args=(url, start, errors)) for _ in range(6)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=60)
        assert opener.exitcode == 0
    assert errors.empty(), errors.get()


def _open_store(url: str, start: Any, errors: Any) -> None:
    start.wait()
    try:
        Store(url).close()
    except Exception as error:
        errors.put(repr(error))


@pytest.mark.parametrize("rules", [1, 2])
def test_a_check_whose_audit_row_fails_on_postgresql_takes_its_counts_back(
    postgres: PostgresServer, caplog: pytest.LogCaptureFixture, rules: int
) -> None:
    """On PostgreSQL a check's counts commit before its audit row, which is a
    statement of its own: when the audit row fails (an error, a constraint,
    the connection lost under it) the error is raised and the counts are
    taken back, and psycopg logs nothing beside it."""
    store = Store(postgres.new_database())
    tallies = [Tally(name, 0, 5, 60_000) for name in "ab"[:rules]]
    try:
        with store.database.transaction() as db:
            db.execute("CREATE TABLE seen (n INTEGER PRIMARY KEY)")
            db.execute("INSERT INTO seen VALUES (1)")

        def broken(db: Any, outcomes: list[Outcome]) -> None:
            raise RuntimeError("the audit row could not be written")

        def duplicate(db: Any, outcomes: list[Outcome]) -> None:
            db.execute("INSERT INTO seen VALUES (1)")

        def lost(db: Any, outcomes: list[Outcome]) -> None:
            db.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # lost under it

        with caplog.at_level("WARNING", logger="psycopg"):
            with pytest.raises(RuntimeError):
                store.counters.take(tallies, broken)
            with pytest.raises(sqlite3.IntegrityError):
                store.counters.take(tallies, duplicate)
            with pytest.raises(DatabaseUnavailable):
                store.counters.take(tallies, lost)
        assert [record.getMessage() for record in caplog.records] == []
        assert [row.count for row in store.counters.rows()] == [0] * rules

        def counted(db: Any, outcomes: list[Outcome]) -> None:
            db.execute("INSERT INTO seen VALUES (3)")

        assert store.counters.take(tallies, counted) == [Outcome(True, 1)] * rules
        seen = store.database.connection().execute("SELECT n FROM seen ORDER BY n").fetchall()
        assert seen == [(1,), (3,)]
    finally:
        store.close()


def test_a_count_on_a_connection_the_postgresql_server_closed_is_served(
    postgres: PostgresServer,
) -> None:
    """When the thread's connection was closed by the server since its last
    use (a restart), a check's counting runs on a new connection instead of
    failing."""
    store = Store(postgres.new_database())
    try:
        assert store.counters.take([Tally("a", 0, 5, 60_000)]) == [Outcome(True, 1)]
        (pid,) = store.database.connection().execute("SELECT pg_backend_pid()").fetchone()
        postgres.sql(f"SELECT pg_terminate_backend({pid})")
        for _ in range(100):  # until the closed connection is seen from here
            if postgres.sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")[0][0] == 0:
                break
            time.sleep(0.02)
        time.sleep(0.05)
        assert store.counters.take([Tally("a", 0, 5, 60_000)]) == [Outcome(True, 2)]
    finally:
        store.close()


def test_a_create_on_postgresql_runs_as_a_prepared_statement(postgres: PostgresServer) -> None:
    """An app's INSERT, whose ``is_active`` is a boolean, is prepared on the
    connection like every other statement of the hot path (psycopg's cursor,
    which had taken it, costs a replica about 40 us more of CPU a create),
    and the boolean is stored as the integer it stands for."""
    store = Store(postgres.new_database())
    try:
        store.insert_app(app("prepared"))
        db = store.database.connection()
        (prepared,) = db.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO apps%'"
        ).fetchone()
        assert prepared == 1
        assert db.execute("SELECT is_active FROM apps").fetchall() == [(1,)]
        assert store.get_app("prepared")["is_active"] is True
    finally:
        store.close()


def test_a_postgresql_connection_prepares_a_bounded_number_of_statements(
    postgres: PostgresServer,
) -> None:
    """Statements built on the fly (one per filter, say) are prepared only
    up to a bound per connection, so the server's memory for them stays
    bounded; past it they still run, with the same answers."""
    from mockserver.state.postgres import MAX_PREPARED

    store = Store(postgres.new_database())
    try:
        db = store.database.connection()
        for n in range(MAX_PREPARED + 20):
            assert db.execute(f"SELECT ? + {n}", (1,)).fetchone() == (n + 1,)
        (held,) = db.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert held == MAX_PREPARED
    finally:
        store.close()
