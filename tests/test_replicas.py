"""Replicas: real ``mockserver serve`` processes, each on its own free port,
sharing one PostgreSQL database (tests/postgres_support.py starts a real
server). They behave as one server: one of two concurrent creates of a slug
wins, ids never collide, the journal, a reset and the clock are the same
through either, a rule of L admits exactly L across them, a replica
restarted under load loses no acknowledged write, and while the database is
stopped they answer 503 (never a 500) and recover by themselves after.
"""

import contextlib
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from local_servers import run_to_exit
from postgres_support import PostgresServer, free_port, running_postgres

from mockserver.tooling.testing import RunningServer, run_server

AUTH = {"Authorization": "Bearer sk_test_mock", "Content-Type": "application/json"}
FROZEN = "2026-05-05T10:00:00Z"


def send(
    base_url: str, method: str, path: str, body: Any = None, session: str | None = None
) -> tuple[int, Any, Any]:
    """One request on a fresh connection (in ``session``, if named); the answer is
    checked against its contract. A replica that does not answer at all (stopped)
    is status 0."""
    data = json.dumps(body).encode() if body is not None else None
    headers = AUTH if session is None else {**AUTH, "X-Mockserver-Session": session}
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None, None
    answer = json.loads(raw) if raw else None
    assert_conforms(method, path, status, headers, answer)
    return status, answer, headers


@contextlib.contextmanager
def replicas(url: str, count: int = 2, *extra: str) -> Iterator[list[RunningServer]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(run_server(["--state", url, "--workers", "1", *extra]))
            for _ in range(count)
        ]


def test_a_postgresql_database_of_another_program_stops_start_up(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    postgres.sql("CREATE TABLE customers (name TEXT)", name)
    result = run_to_exit(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--state", url], timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not a mockserver database" in result.stderr
    assert "mockserver-test" not in result.stderr  # the URL is shown without its password
    assert postgres.sql("SELECT count(*) FROM customers", name) == [(0,)]
    tables = postgres.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", name
    )
    assert tables == [("customers",)]


def test_a_database_that_cannot_be_reached_stops_start_up(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing"
    result = run_to_exit(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--state", url], timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot be reached" in result.stderr and "secret" not in result.stderr


def test_concurrent_creates_of_one_slug_through_two_replicas_one_200_one_409(
    postgres: PostgresServer,
) -> None:
    with replicas(postgres.new_database()) as (first, second):
        for round_number in range(8):
            slug = f"raced-{round_number}"
            body = {"app_slug": slug, "name": "Raced", "key_prefix": "sk_race"}
            barrier = threading.Barrier(2)

            def create(base: str, body: dict[str, Any] = body, barrier: Any = barrier) -> int:
                barrier.wait(timeout=30)
                return send(base, "POST", "/api-auth/apps", body)[0]

            with ThreadPoolExecutor(max_workers=2) as pool:
                statuses = sorted(pool.map(create, [first.base_url, second.base_url]))
            assert statuses == [200, 409]
            seen = [send(r.base_url, "GET", f"/api-auth/apps/{slug}")[1] for r in (first, second)]
            assert seen[0] == seen[1]


def test_ids_made_by_two_replicas_never_collide(postgres: PostgresServer) -> None:
    with replicas(postgres.new_database()) as servers:

        def create(number: int) -> str:
            base = servers[number % 2].base_url
            body = {"app_slug": f"app-{number}", "name": "A", "key_prefix": "sk_ids"}
            status, answer, _ = send(base, "POST", "/api-auth/apps", body)
            assert status == 200, answer
            return str(answer["id"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(create, range(80)))
        assert len(set(ids)) == len(ids)


def test_journal_reset_and_clock_seen_through_one_replica_are_the_same_through_the_other(
    postgres: PostgresServer,
) -> None:
    with replicas(postgres.new_database(), 2, "--freeze-time", FROZEN) as (first, second):
        a, b = first.base_url, second.base_url
        # The journal: a request answered by one is listed by the other.
        assert send(a, "GET", "/api-auth/apps/only-in-a")[0] == 404
        listed = send(b, "GET", "/__admin/requests?path=/api-auth/apps/only-in-a")[1]
        assert [entry["status"] for entry in listed["requests"]] == [404]
        assert send(b, "GET", "/__admin/requests")[1] == send(a, "GET", "/__admin/requests")[1]
        # The clock: moved through one, read through the other.
        assert send(a, "GET", "/__admin/clock")[1] == send(b, "GET", "/__admin/clock")[1]
        moved = send(a, "POST", "/__admin/clock", {"advance_seconds": 3600})[1]
        assert send(b, "GET", "/__admin/clock")[1] == moved
        # A reset through one: the other serves the fixtures again, and the
        # clock is back where the servers started.
        body = {"app_slug": "made-in-a", "name": "A", "key_prefix": "sk_reset"}
        assert send(a, "POST", "/api-auth/apps", body)[0] == 200
        assert send(b, "GET", "/api-auth/apps/made-in-a")[0] == 200
        assert send(a, "POST", "/__admin/reset")[0] == 204
        assert send(b, "GET", "/api-auth/apps/made-in-a")[0] == 404
        assert send(b, "GET", "/__admin/clock")[1]["now"].startswith("2026-05-05T10:00:00")
        assert send(b, "GET", "/__admin/requests/count")[1]["count"] <= 1


def test_a_key_or_scheme_changed_through_one_replica_is_seen_by_the_others_next_check(
    postgres: PostgresServer,
) -> None:
    """Each replica keeps the keys it found and the schemes across requests,
    while the database's version of them stays: every change through the
    other replica is seen by the next check all the same."""
    with replicas(postgres.new_database(), 2) as (first, second):
        a, b = first.base_url, second.base_url
        rule = {"unit": "hour", "duration": 1, "max_requests": 1000, "mode": "per_key"}
        scheme = {"slug": "seen", "name": "S", "rules": [rule]}
        assert send(a, "POST", "/api-auth/rate-limit-schemes", scheme)[0] == 200
        app = {"app_slug": "seen", "name": "S", "key_prefix": "sk_s"}
        app["rate_limit_scheme_slug"] = "seen"
        assert send(a, "POST", "/api-auth/apps", app)[0] == 200
        keys = [send(a, "POST", "/api-auth/apps/seen/keys", {"name": n})[1] for n in "kl"]

        def check(base: str, key: dict[str, Any]) -> tuple[int, Any]:
            body = {
                "principal": {"type": "api_key", "value": key["secret"]},
                "resource": "/v1/things",
                "method": "GET",
            }
            request = urllib.request.Request(
                base + "/gateway/v1/authz/check", json.dumps(body).encode(), AUTH, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:  # 401: "Invalid API key", as text
                return error.code, error.read().decode()

        for _ in range(2):  # found, then kept
            assert check(b, keys[0])[1]["rate_limits"][0]["limit"] == 1000
        # A scheme's rules changed through A: B's next check counts on the new ones.
        changed = {"rules": [{**rule, "max_requests": 7}]}
        assert send(a, "PATCH", "/api-auth/rate-limit-schemes/seen", changed)[0] == 200
        assert check(b, keys[0])[1]["rate_limits"][0]["limit"] == 7
        # A key revoked through A: refused by B's next check, the other key still admitted.
        revoke = f"/api-auth/apps/seen/keys/{keys[0]['id']}/revoke"
        assert send(a, "POST", revoke, {"reason": "test"})[0] == 200
        assert check(b, keys[0])[0] == 401
        assert check(b, keys[1])[1]["allowed"] is True
        # The app deactivated through A: B refuses its other key too.
        assert send(a, "PATCH", "/api-auth/apps/seen", {"is_active": False})[0] == 200
        assert check(b, keys[1])[0] == 401
        # A reset through A: B no longer knows the key.
        assert send(a, "PATCH", "/api-auth/apps/seen", {"is_active": True})[0] == 200
        assert check(b, keys[1])[1]["allowed"] is True
        assert send(a, "POST", "/__admin/reset")[0] == 204
        assert check(b, keys[1])[0] == 401


@pytest.mark.parametrize("counters", ["postgresql", "redis"])
def test_a_rule_of_l_admits_exactly_l_across_two_replicas(
    postgres: PostgresServer, counters: str, request: pytest.FixtureRequest
) -> None:
    """Two keys of one app, checked at once through both replicas: the app's
    rule (L per hour for the app) admits exactly L, each key's own rule
    counts its own; every check takes both counters at once (in one
    transaction of the database, or in one script of a shared Redis)."""
    limit, checks = 5, 24
    extra = ["--freeze-time", FROZEN]
    if counters == "redis":
        extra += ["--redis", request.getfixturevalue("redis_server").url]
    with replicas(postgres.new_database(), 2, *extra) as (first, second):
        a = first.base_url
        rules = [
            {"unit": "hour", "duration": 1, "max_requests": 1000, "mode": "per_key"},
            {"unit": "hour", "duration": 1, "max_requests": limit, "mode": "per_app"},
        ]
        send(a, "POST", "/api-auth/rate-limit-schemes", {"slug": "x", "name": "X", "rules": rules})
        app = {"app_slug": "race", "name": "R", "key_prefix": "sk_r", "rate_limit_scheme_slug": "x"}
        assert send(a, "POST", "/api-auth/apps", app)[0] == 200
        secrets = [
            send(a, "POST", "/api-auth/apps/race/keys", {"name": n})[1]["secret"] for n in "kl"
        ]
        barrier = threading.Barrier(checks)

        def check(number: int) -> bool:
            body = {
                "principal": {"type": "api_key", "value": secrets[number // 2 % 2]},
                "resource": "/v1/things",
                "method": "GET",
            }
            barrier.wait(timeout=60)
            base = (first, second)[number % 2].base_url
            status, answer, _ = send(base, "POST", "/gateway/v1/authz/check", body)
            assert status == 200, answer
            return bool(answer["allowed"])

        with ThreadPoolExecutor(max_workers=checks) as pool:
            allowed = list(pool.map(check, range(checks)))
        assert sum(allowed) == limit
        # The audit, read through either replica: every check once, whichever answered.
        logs = "/api-auth/apps/race/audit/logs?limit=100"
        rows = [send(base, "GET", logs)[1]["data"] for base in (a, second.base_url)]
        assert rows[0] == rows[1]
        assert len(rows[0]) == checks
        assert sum(row["outcome"] == "VALID" for row in rows[0]) == limit


class Load:
    """Creates of new slugs, one after another on each of several threads,
    spread over the replicas whose URLs are in ``targets`` (a test may swap
    one while it runs). Each answer is kept: (slug, status)."""

    def __init__(self, targets: list[str], threads: int = 3) -> None:
        self.targets = targets
        self.answers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, thread: int) -> None:
        number = 0
        while not self._stop.is_set():
            slug = f"load-{thread}-{number}"
            base = self.targets[number % len(self.targets)]
            body = {"app_slug": slug, "name": "Load", "key_prefix": "sk_load"}
            status = send(base, "POST", "/api-auth/apps", body)[0]
            with self._lock:
                self.answers.append((slug, status))
            number += 1
            if status in (0, 503):
                time.sleep(0.05)

    def statuses(self) -> set[int]:
        with self._lock:
            return {status for _, status in self.answers}

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_for(self, more: int, timeout: float = 60) -> None:
        goal, deadline = self.count() + more, time.monotonic() + timeout
        while self.count() < goal:
            assert time.monotonic() < deadline, "the load made no progress"
            time.sleep(0.05)

    def acknowledged(self) -> list[str]:
        with self._lock:
            return [slug for slug, status in self.answers if status == 200]


def all_slugs(base: str) -> set[str]:
    status, page, _ = send(base, "GET", "/api-auth/apps?limit=100&include_inactive=true")
    assert status == 200
    slugs, offset = set(), 0
    while True:
        status, page, _ = send(base, "GET", f"/api-auth/apps?limit=100&offset={offset}")
        assert status == 200
        slugs |= {app["app_slug"] for app in page["data"]}
        if not page["has_more"]:
            return slugs
        offset += 100


def test_a_replica_restarted_mid_load_loses_no_acknowledged_write(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    with replicas(url, 1) as (steady,):
        restarted = run_server(["--state", url, "--workers", "1"])
        first = restarted.__enter__()
        targets = [steady.base_url, first.base_url]
        try:
            with Load(targets) as load:
                load.wait_for(30)
                restarted.__exit__(None, None, None)  # SIGTERM, mid-load
                load.wait_for(10)
                restarted = run_server(["--state", url, "--workers", "1"])
                targets[1] = restarted.__enter__().base_url
                load.wait_for(30)
        finally:
            restarted.__exit__(None, None, None)
        assert load.statuses() <= {0, 200}, load.statuses()  # 0: the stopped replica
        acknowledged = load.acknowledged()
        assert len(acknowledged) >= 60
        assert set(acknowledged) <= all_slugs(steady.base_url)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, which it stops and starts."""
    with running_postgres() as server:
        yield server


def test_postgresql_stopped_and_started_mid_load_is_503s_then_recovery(
    own_postgres: PostgresServer,
) -> None:
    url = own_postgres.new_database()
    with replicas(url) as servers:
        bases = [server.base_url for server in servers]
        with Load(bases) as load:
            load.wait_for(30)
            own_postgres.stop("fast")
            load.wait_for(20)  # answered while the database is gone
            status, health, headers = send(bases[0], "GET", "/__admin/health")
            assert (status, health["missing"]) == (503, ["PostgreSQL"])
            assert int(headers["Retry-After"]) >= 1
            # A session first named now cannot be made: a 503 too, not a 500.
            assert send(bases[1], "GET", "/api-auth/apps", None, session="in-the-outage")[0] == 503
            own_postgres.start()
            load.wait_for(30)
            after = load.count()
            load.wait_for(20)
            with load._lock:
                recovered = {status for _, status in load.answers[after:]}
        assert 503 in load.statuses()
        assert load.statuses() <= {200, 503}, load.statuses()  # never a 500
        assert recovered == {200}
        for base in bases:
            assert send(base, "GET", "/__admin/health")[0] == 200
        assert set(load.acknowledged()) <= all_slugs(bases[1])


def test_a_snapshot_saved_through_one_replica_is_restored_through_the_other(
    postgres: PostgresServer,
) -> None:
    with replicas(postgres.new_database()) as (first, second):
        a, b = first.base_url, second.base_url
        before = all_slugs(a)
        status, saved, _ = send(a, "POST", "/__admin/snapshots", {"name": "clean"})
        assert status == 201 and saved["name"] == "clean"
        listed = send(b, "GET", "/__admin/snapshots")[1]["snapshots"]
        assert [snapshot["name"] for snapshot in listed] == ["clean"]
        body = {"app_slug": "after-snapshot", "name": "A", "key_prefix": "sk_snap"}
        assert send(a, "POST", "/api-auth/apps", body)[0] == 200
        assert send(b, "POST", "/__admin/snapshots/clean/restore")[0] == 204
        assert all_slugs(a) == before
        # Rows made after the restore follow the restored ones (newest first).
        assert send(a, "POST", "/api-auth/apps", {**body, "app_slug": "later"})[0] == 200
        newest = send(b, "GET", "/api-auth/apps?limit=1")[1]["data"]
        assert [app["app_slug"] for app in newest] == ["later"]
        assert send(b, "DELETE", "/__admin/snapshots/clean")[0] == 204
        assert send(a, "GET", "/__admin/snapshots")[1] == {"snapshots": []}
        assert send(a, "POST", "/__admin/snapshots/clean/restore")[0] == 404


def test_a_session_made_through_one_replica_is_the_same_through_the_other(
    postgres: PostgresServer,
) -> None:
    with replicas(postgres.new_database(), 2, "--freeze-time", FROZEN) as (first, second):
        a, b = first.base_url, second.base_url
        body = {"app_slug": "in-job", "name": "J", "key_prefix": "sk_job"}
        assert send(a, "POST", "/api-auth/apps", body, session="job-1")[0] == 200
        assert send(b, "GET", "/api-auth/apps/in-job", None, session="job-1")[0] == 200
        assert send(b, "GET", "/api-auth/apps/in-job")[0] == 404  # not the default session's
        names = [s["name"] for s in send(b, "GET", "/__admin/sessions")[1]["sessions"]]
        assert names == ["job-1"]
        # Its snapshots and its clock are the session's, seen through either.
        assert send(b, "POST", "/__admin/snapshots", {"name": "s"}, session="job-1")[0] == 201
        assert send(a, "POST", "/__admin/clock", {"advance_seconds": 60}, session="job-1")[0] == 200
        assert (
            send(b, "GET", "/__admin/clock", None, session="job-1")[1]
            == (send(a, "GET", "/__admin/clock", None, session="job-1")[1])
        )
        assert send(a, "DELETE", "/api-auth/apps/in-job", None, session="job-1")[0] == 200
        assert send(a, "POST", "/__admin/snapshots/s/restore", None, session="job-1")[0] == 204
        assert send(b, "GET", "/api-auth/apps/in-job", None, session="job-1")[0] == 200
        # Dropped through one: gone for the other, which makes it afresh.
        assert send(b, "DELETE", "/__admin/sessions/job-1")[0] == 204
        assert send(a, "GET", "/api-auth/apps/in-job", None, session="job-1")[0] == 404
        schemas = postgres.sql(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'session%'",
            postgres_database(first),
        )
        assert schemas == [(1,)]  # the new one only: the dropped one's tables are gone


def postgres_database(server: RunningServer) -> str:
    """The database name a replica's banner shows (its URL, without the password)."""
    banner = next(line for line in server.output if "state: postgresql://" in line)
    return banner.rsplit("/", 1)[1].strip()


# fixtures/apps.yaml's first demo key: the gateway admits it in every session.
DEMO_SECRET = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"


def test_a_session_dropped_under_a_request_is_answered_as_made_afresh(
    postgres: PostgresServer,
) -> None:
    """A replica drops a session (idle past its TTL, evicted, deleted) just
    after another replica's request found it in its cache of open sessions:
    that request's tables are gone under it (psycopg's UndefinedTable). It
    is answered as a request naming the session after the drop is, in the
    session made afresh, never a 500. The test drops it as a replica does
    (the registry's row, then the schema) but through a connection of its
    own, which leaves the version the replica's caches go by as it was: the
    replica's next request is served from its cache, as one already past
    that look when the drop came would be; deterministic, where racing two
    replicas would hit the window only now and then."""
    url = postgres.new_database()
    made = {"app_slug": "in-job", "name": "J", "key_prefix": "sk_job"}
    check = {
        "principal": {"type": "api_key", "value": DEMO_SECRET},
        "resource": "/v1/things",
        "method": "GET",
    }
    with replicas(url, 1, "--freeze-time", FROZEN) as (server,):
        base, database = server.base_url, url.rsplit("/", 1)[1]

        def raced(name: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
            """The request, sent right after the session ``name`` was dropped
            under the replica's cache (tried again with a new session when the
            machine was too slow to stay within the cache's second)."""
            for attempt in range(3):
                session = f"{name}-{attempt}"
                started = time.monotonic()
                assert send(base, "POST", "/api-auth/apps", made, session=session)[0] == 200
                # A request after the one that made it: the replica has seen
                # the registry as it is since (a creation moves its version).
                assert send(base, "GET", "/api-auth/apps/in-job", session=session)[0] == 200
                ((incarnation,),) = postgres.sql(
                    f"DELETE FROM sessions WHERE name = '{session}' RETURNING incarnation",
                    database,
                )
                postgres.sql(f'DROP SCHEMA "session_{incarnation}" CASCADE', database)
                # The replica touches the registry again after a second (sessions.py).
                if time.monotonic() - started < 0.7:
                    status, answer, _ = send(base, method, path, body, session=session)
                    return status, (session, answer)
            pytest.fail("the machine is too slow to race the session's cache")

        # A read: the app made in the dropped session is not in the new one.
        status, (read, answer) = raced("read", "GET", "/api-auth/apps/in-job")
        assert status == 404, answer
        # A write: acknowledged, so it is there afterwards (in the new session).
        body = {"app_slug": "after", "name": "A", "key_prefix": "sk_after"}
        status, (write, answer) = raced("write", "POST", "/api-auth/apps", body)
        assert status == 200, answer
        assert send(base, "GET", "/api-auth/apps/after", session=write)[0] == 200
        assert send(base, "GET", "/api-auth/apps/in-job", session=write)[0] == 404
        # A gateway check: counted and audited in the new session.
        status, (checked, answer) = raced("check", "POST", "/gateway/v1/authz/check", check)
        assert status == 200, answer
        # As in a session nobody raced, whatever the fixtures' key may do.
        control = send(base, "POST", "/gateway/v1/authz/check", check, session="control")[1]
        assert answer["allowed"] == control["allowed"]
        # Each raced session was made again once, and only its new schema is left.
        live = send(base, "GET", "/__admin/sessions")[1]["sessions"]
        assert sorted(s["name"] for s in live) == sorted([read, write, checked, "control"])
        schemas = postgres.sql(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'session%'", database
        )
        assert schemas == [(4,)]
