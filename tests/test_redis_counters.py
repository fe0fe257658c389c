"""The gateway's counters in Redis (``serve --redis``), against a real
redis-server (redis_support.py), beside the same battery in SQLite.

The store battery runs the counters' interface (state/counters.py) on both
backends; test_windows.py and test_gateway.py run their rate-limit tests on
both too (their ``frozen`` fixture). Then, with real processes: exact
counting across two servers sharing one state and one Redis, sessions,
reset and snapshots, and Redis stopped and started again under load.
"""

import json
import re
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ContractClient
from contract import assert_conforms
from cutting_proxy import CuttingProxy
from local_servers import run_to_exit
from redis_support import RedisServer, free_port, running_redis

from mockserver import Settings, create_app
from mockserver.backend.ids import decode
from mockserver.state.counters import CounterRow, CounterStore, Outcome, Tally
from mockserver.state.database import redacted
from mockserver.state.redis_counters import (
    RedisCounters,
    RedisUrlError,
    check_url,
    connect,
)
from mockserver.state.store import Store
from mockserver.tooling.testing import run_server

HOUR_MS = 3_600_000


@pytest.fixture
def store() -> Iterator[Store]:
    made = Store()
    yield made
    made.close()


@pytest.fixture
def counters(counter_backend: dict[str, Any], store: Store) -> CounterStore:
    """A fresh state's counters: its SQLite table, or a new namespace in Redis."""
    if "redis_url" not in counter_backend:
        return store.counters
    client = connect(counter_backend["redis_url"])
    return RedisCounters(client, f"test-{uuid.uuid4().hex}", store.database)


def tally(name: str, limit: int, start: int = 0) -> Tally:
    return Tally(name, start, limit, HOUR_MS)


def counts(counters: CounterStore, *names: str) -> dict[str, int]:
    """The counts of ``names`` as the store's rows() gives them. Shared
    memory keeps a digest of each name, not the name (``row_name``)."""
    row_name = getattr(counters, "row_name", lambda name: name)
    by_name = {row.name: row.count for row in counters.rows()}
    assert len(by_name) == len(names)
    return {name: by_name[row_name(name)] for name in names}


def test_a_counter_admits_exactly_its_limit(counters: CounterStore) -> None:
    outcomes = [counters.take([tally("a", 3)])[0] for _ in range(5)]
    assert outcomes == [
        Outcome(True, 1),
        Outcome(True, 2),
        Outcome(True, 3),
        Outcome(False, 3),
        Outcome(False, 3),
    ]


def test_every_tally_is_looked_at_and_a_refusing_one_counts_nothing(
    counters: CounterStore,
) -> None:
    counters.take([tally("tight", 1)])
    # tight refuses; loose admits and counts, whatever tight says.
    assert counters.take([tally("tight", 1), tally("loose", 5)]) == [
        Outcome(False, 1),
        Outcome(True, 1),
    ]
    assert counters.take([tally("loose", 5), tally("tight", 1)]) == [
        Outcome(True, 2),
        Outcome(False, 1),
    ]
    assert counts(counters, "tight", "loose") == {"tight": 1, "loose": 2}


def test_another_window_starts_from_zero_either_way(counters: CounterStore) -> None:
    counters.take([tally("w", 1, start=HOUR_MS)])
    assert counters.take([tally("w", 1, start=HOUR_MS)]) == [Outcome(False, 1)]
    assert counters.take([tally("w", 1, start=2 * HOUR_MS)]) == [Outcome(True, 1)]
    # The clock moved back: the earlier window is another one too.
    assert counters.take([tally("w", 1, start=HOUR_MS)]) == [Outcome(True, 1)]


def test_what_runs_with_the_outcomes_writes_in_the_state_and_a_failure_counts_nothing(
    counters: CounterStore, store: Store
) -> None:
    with store.database.transaction() as db:
        db.execute("CREATE TABLE seen (outcomes TEXT)")

    def record(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
        db.execute("INSERT INTO seen VALUES (?)", (repr(outcomes),))

    counters.take([tally("a", 2), tally("b", 9)], record)

    def broken(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
        raise RuntimeError("the audit row could not be written")

    with pytest.raises(RuntimeError):
        counters.take([tally("a", 2), tally("b", 9)], broken)
    rows = store.database.connection().execute("SELECT outcomes FROM seen").fetchall()
    assert rows == [(repr([Outcome(True, 1), Outcome(True, 1)]),)]
    # The broken one's counts were taken back.
    assert counters.take([tally("a", 2), tally("b", 9)]) == [Outcome(True, 2), Outcome(True, 2)]


def test_clear_forgets_every_counter(counters: CounterStore) -> None:
    counters.take([tally("a", 1), tally("b", 1)])
    counters.clear()
    assert counters.rows() == []
    assert counters.take([tally("a", 1)]) == [Outcome(True, 1)]


def test_rows_put_back_replace_every_counter(counters: CounterStore) -> None:
    counters.take([tally("kept", 5), tally("kept", 5)])
    counters.take([tally("kept", 5)])
    saved = counters.rows()
    row_name = getattr(counters, "row_name", lambda name: name)
    assert saved == [CounterRow(row_name("kept"), 0, 3)]
    counters.take([tally("kept", 5), tally("later", 5)])
    counters.replace(saved)
    assert counters.rows() == saved
    assert counters.take([tally("kept", 5), tally("later", 5)]) == [
        Outcome(True, 4),
        Outcome(True, 1),
    ]


def test_names_of_any_text_are_kept_apart(counters: CounterStore) -> None:
    odd = ["a*", "a?", "a[b]", "a\\b", "key:x|10.0.0.1|/v1/{id}", "é"]
    for name in odd:
        counters.take([tally(name, 9)])
    counters.take([tally("a*", 9)])
    assert counts(counters, *odd) == {**dict.fromkeys(odd, 1), "a*": 2}


def test_redis_keys_expire_a_minute_after_their_window(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    store = Store()
    try:
        namespace = f"ttl-{uuid.uuid4().hex}"
        RedisCounters(client, namespace, store.database).take([Tally("short", 0, 5, 500)])
        (key,) = client.keys(f"mockserver:{{{namespace}}}:g*")
        assert 60_000 < client.pttl(key) <= 60_500
    finally:
        store.close()


# --- two servers, one Redis -----------------------------------------------------------

LIMIT = 7
CHECKS = 40
ROUNDS = 3
AUTH = {"Authorization": "Bearer sk_test_mock", "Content-Type": "application/json"}
FROZEN_AT = "2026-05-05T10:00:00Z"


def call(base_url: str, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
    """One request on a fresh connection, its answer checked against its contract."""
    request = urllib.request.Request(
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers=AUTH,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    answer = json.loads(raw) if raw and headers.get_content_type() == "application/json" else raw
    assert_conforms(method, path, status, headers, answer)
    return status, answer, headers


def ok(base_url: str, method: str, path: str, body: Any = None) -> Any:
    status, answer, _ = call(base_url, method, path, body)
    assert status in (200, 204), answer
    return answer


def key_with_limit(base_url: str, limit: int = LIMIT) -> dict[str, Any]:
    """A key of a new app whose one rule admits ``limit`` an hour; the check's body."""
    rule = {"unit": "hour", "duration": 1, "max_requests": limit, "mode": "per_key"}
    ok(
        base_url,
        "POST",
        "/api-auth/rate-limit-schemes",
        {"slug": "exact", "name": "E", "rules": [rule]},
    )
    app = {"app_slug": "race", "name": "Race", "key_prefix": "sk_race"}
    ok(base_url, "POST", "/api-auth/apps", {**app, "rate_limit_scheme_slug": "exact"})
    key = ok(base_url, "POST", "/api-auth/apps/race/keys", {"name": "k"})
    return {
        "principal": {"type": "api_key", "value": key["secret"]},
        "resource": "/v1/things",
        "method": "GET",
    }


def race(bases: list[str], body: dict[str, Any], checks: int = CHECKS) -> list[tuple[int, Any]]:
    """``checks`` gateway checks released together, spread over the servers in turn."""
    barrier = threading.Barrier(checks)

    def one(index: int) -> tuple[int, Any]:
        barrier.wait(timeout=60)
        status, answer, _ = call(bases[index % len(bases)], "POST", CHECK, body)
        return status, answer

    with ThreadPoolExecutor(max_workers=checks) as pool:
        return list(pool.map(one, range(checks)))


CHECK = "/gateway/v1/authz/check"


@pytest.fixture
def two_servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[str]]:
    """Two `mockserver serve` processes of two workers each, sharing one state
    file and one Redis (the second started once the first has seeded it)."""
    args = ["--workers", "2", "--freeze-time", FROZEN_AT, "--state", str(tmp_path / "state")]
    args += ["--redis", redis_server.url]
    with run_server(args) as first, run_server(args) as second:
        yield [first.base_url, second.base_url]


def test_a_rule_of_l_admits_exactly_l_across_two_servers_sharing_redis(
    two_servers: list[str], redis_server: RedisServer, tmp_path: Path
) -> None:
    body = key_with_limit(two_servers[0])
    machines: set[int] = set()
    every: list[dict[str, Any]] = []
    for _round in range(ROUNDS):
        answers = race(two_servers, body)
        every += [answer for _, answer in answers]
        assert {status for status, _ in answers} == {200}
        admitted = [answer for _, answer in answers if answer["allowed"]]
        assert len(admitted) == LIMIT
        # Each admitted check saw a count of its own: remaining LIMIT-1 down to 0.
        assert sorted(a["rate_limits"][0]["remaining"] for a in admitted) == list(range(LIMIT))
        machines |= {decode(a["request_id"].removeprefix("req_")).machine_id for _, a in answers}
        # A new window for both servers: the clock's offset is in the shared state.
        ok(two_servers[1], "POST", "/__admin/clock", {"advance_seconds": 3600})
    assert len(machines) >= 2, "one process answered every check"
    # Every check was audited once (its row written after its counts), seen alike from both.
    logs = "/api-auth/apps/race/audit/logs?limit=1000&start_date=2026-05-05T09:00:00Z"
    for base in two_servers:
        rows = ok(base, "GET", logs)["data"]
        assert sorted(row["request_id"] for row in rows) == sorted(a["request_id"] for a in every)
        assert sum(row["outcome"] == "VALID" for row in rows) == LIMIT * ROUNDS
    # The counts are Redis's: the state's own table never saw one.
    client = connect(redis_server.url)
    keys = list(client.scan_iter(match=f"*|/v1/things@{LIMIT}/3600s"))
    assert [int(client.hget(key, "n")) for key in keys] == [LIMIT]  # the last window's
    with sqlite3.connect(tmp_path / "state") as state:
        assert state.execute("SELECT count(*) FROM counters").fetchone() == (0,)


# --- reset, sessions, snapshots -------------------------------------------------------

BILLING_WORKER = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"
# standard-api's rules for any resource: day (100000), minute (600), second (20).
SECOND_RULE = 2


def in_process(redis_server: RedisServer, state: Path | str | None = None) -> ContractClient:
    """A server, frozen, with its counters in the test Redis, of a new
    temporary state or of ``state`` (an SQLite file, or a PostgreSQL database)."""
    settings = Settings(frozen_time=datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC), state_path=state)
    return ContractClient(create_app(replace(settings, redis_url=redis_server.url)))


def remaining(client: ContractClient, session: str | None = None) -> int:
    """One check of the demo key; what its per-second rule has left after it."""
    body = {
        "principal": {"type": "api_key", "value": BILLING_WORKER},
        "resource": "/v1/invoices",
        "method": "GET",
    }
    headers = {"X-Mockserver-Session": session} if session else None
    response = client.post(CHECK, json=body, auth=None, headers=headers)
    assert response.status_code == 200
    return int(response.get_json()["rate_limits"][SECOND_RULE]["remaining"])


def test_a_redis_out_of_memory_is_a_503_that_says_so(redis_server: RedisServer) -> None:
    """Past its maxmemory, with the noeviction policy, Redis refuses the
    counting script: the check is a 503 that names the cause (reconnecting
    would not help), health names Redis as missing (it still answers a
    PING), and once Redis has room again checks are counted and health is ok."""
    import redis

    client = in_process(redis_server)
    admin = redis.Redis.from_url(redis_server.url)
    policy = admin.config_get("maxmemory-policy")["maxmemory-policy"]
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # below what Redis already uses
    try:
        body = {
            "principal": {"type": "api_key", "value": BILLING_WORKER},
            "resource": "/v1/invoices",
            "method": "GET",
        }
        refused = client.post(CHECK, json=body, auth=None)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        (problem,) = refused.get_json()["errors"]
        assert problem["detail"].startswith("Redis is out of memory")
        assert admin.ping()
        health = client.get("/__admin/health")
        assert (health.status_code, health.get_json()["missing"]) == (503, ["Redis"])
    finally:
        admin.config_set("maxmemory", 0)
        admin.config_set("maxmemory-policy", policy)
    assert remaining(client) == 19
    assert client.get("/__admin/health").status_code == 200


def test_two_states_on_one_redis_count_apart(redis_server: RedisServer) -> None:
    first, second = in_process(redis_server), in_process(redis_server)
    assert [remaining(first) for _ in range(3)] == [19, 18, 17]
    assert remaining(second) == 19


def test_a_reset_clears_the_counters_in_redis(
    redis_server: RedisServer, state_location: Path | str
) -> None:
    client = in_process(redis_server, state_location)
    assert [remaining(client) for _ in range(3)] == [19, 18, 17]
    assert client.post("/__admin/reset").status_code == 204
    assert remaining(client) == 19


def test_each_session_counts_on_its_own_and_a_new_one_from_zero(
    redis_server: RedisServer, state_location: Path | str
) -> None:
    """On each engine: a session's counters have the namespace of its
    incarnation (its SQLite file's name, or its PostgreSQL schema's)."""
    client = in_process(redis_server, state_location)
    assert [remaining(client, "alice") for _ in range(3)] == [19, 18, 17]
    assert remaining(client, "bob") == 19
    assert remaining(client) == 19  # the default session
    # Counted in Redis, under the session's own namespace.
    # (its file's name, "N-alice", or its PostgreSQL schema's, "session_N").
    pattern = "{*/*-alice}" if isinstance(state_location, Path) else "{*/session_*}"
    assert list(connect(redis_server.url).scan_iter(match=f"mockserver:{pattern}:*"))
    headers = {"X-Mockserver-Session": "alice"}
    assert client.post("/__admin/reset", headers=headers).status_code == 204
    assert remaining(client, "alice") == 19
    assert remaining(client, "bob") == 18  # a session's reset is its own
    # Dropped and made again under the same name: a new session, new counters.
    assert remaining(client, "bob") == 17
    assert client.delete("/__admin/sessions/bob").status_code == 204
    assert remaining(client, "bob") == 19


@pytest.mark.parametrize("session", [None, "carol"])
def test_a_snapshot_saves_and_restores_the_counters(
    redis_server: RedisServer, session: str | None, state_location: Path | str
) -> None:
    """On each engine: the Redis counters travel in the snapshot (the copied
    file's counters table, or the PostgreSQL snapshot's JSON)."""
    client = in_process(redis_server, state_location)
    headers = {"X-Mockserver-Session": session} if session else {}
    assert [remaining(client, session) for _ in range(2)] == [19, 18]
    saved = client.post("/__admin/snapshots", json={"name": "two"}, headers=headers)
    assert saved.status_code == 201
    assert [remaining(client, session) for _ in range(3)] == [17, 16, 15]
    restore = client.post("/__admin/snapshots/two/restore", headers=headers)
    assert restore.status_code == 204
    assert remaining(client, session) == 17  # as after the snapshot's two checks
    # A reset after it forgets them again; the snapshot still holds them.
    assert client.post("/__admin/reset", headers=headers).status_code == 204
    assert remaining(client, session) == 19
    assert client.post("/__admin/snapshots/two/restore", headers=headers).status_code == 204
    assert remaining(client, session) == 17


# --- Redis lost and back ---------------------------------------------------------------

GONE = "Redis cannot be reached; nothing was changed. Try again in 1 s."
# A check whose script was on its way when Redis went.
LOST = (
    "Redis was lost during the write; it may have been done: look before writing again."
    " Try again in 1 s."
)


def test_while_redis_is_gone_checks_are_503s_and_come_back_by_themselves() -> None:
    """Redis stopped under a steady load of checks, then started again on its
    port: every answer is a 200 or the documented 503 (never a 500), the
    503s wrote no audit row (those of checks whose script was on its way
    when Redis went say they may have been counted), health names Redis,
    and the same server process counts again once Redis is back."""
    with running_redis() as redis_process:
        args = ["--workers", "2", "--freeze-time", FROZEN_AT, "--redis", redis_process.url]
        with run_server(args) as server:
            base = server.base_url
            body = key_with_limit(base, limit=100_000)
            answers: list[tuple[int, Any, Any]] = []
            failures: list[BaseException] = []
            stop = threading.Event()

            def load() -> None:
                try:
                    while not stop.is_set():
                        answers.append(call(base, "POST", CHECK, body))
                except BaseException as failure:  # an answer off its contract
                    failures.append(failure)
                    stop.set()

            threads = [threading.Thread(target=load) for _ in range(3)]
            for thread in threads:
                thread.start()
            try:
                wait_until(lambda: sum(a[0] == 200 for a in answers) >= 30, failures=failures)
                redis_process.stop()
                wait_until(lambda: sum(a[0] == 503 for a in answers) >= 30, failures=failures)
                status, health, headers = call(base, "GET", "/__admin/health")
                assert (status, health["missing"], headers["Retry-After"]) == (503, ["Redis"], "1")
                redis_process.start()
                down = len(answers)
                wait_until(
                    lambda: sum(a[0] == 200 for a in answers[down:]) >= 30, failures=failures
                )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            assert call(base, "GET", "/__admin/health")[:2] == (
                200,
                {"status": "ok", "version": "0.1.0"},
            )
            assert {status for status, _, _ in answers} == {200, 503}
            for status, answer, headers in answers:
                if status == 503:
                    (problem,) = answer["errors"]
                    assert problem["message"] == "Service unavailable", problem
                    assert problem["detail"] in (GONE, LOST), problem
                    assert headers["Retry-After"] == "1"
            # The last answers are 200s again, from the same server processes.
            assert [status for status, _, _ in answers[-10:]] == [200] * 10
            logs = "/api-auth/apps/race/audit/logs?limit=1000&start_date=2026-05-05T09:00:00Z"
            rows = ok(base, "GET", logs)["data"]
            admitted = {a["request_id"] for status, a, _ in answers if status == 200}
            assert {row["request_id"] for row in rows} == admitted  # no row of a 503


def test_the_first_check_after_redis_restarted_is_served() -> None:
    """A Redis that restarts closes the server's idle connection to it: the
    next check sees that before its script goes, and is served on a new
    connection (not a 503 for a script that might have run)."""
    with running_redis() as redis_process:
        args = ["--workers", "1", "--freeze-time", FROZEN_AT, "--redis", redis_process.url]
        with run_server(args) as server:
            body = key_with_limit(server.base_url)
            assert call(server.base_url, "POST", CHECK, body)[0] == 200
            redis_process.stop()
            redis_process.start()
            status, answer, _ = call(server.base_url, "POST", CHECK, body)
            assert status == 200, answer
            assert answer["allowed"] is True


def test_a_check_whose_script_was_answered_in_vain_is_counted_once(
    redis_server: RedisServer,
) -> None:
    """The connection to Redis lost after the script reached it and before
    its answer came back (a proxy cuts it there): Redis counted the check,
    the server cannot know, and sends it no second time (that would count it
    twice). The 503 says the check may have been counted; the next check
    goes on a new connection."""
    with CuttingProxy(redis_server.port) as proxy:
        args = ["--workers", "1", "--freeze-time", FROZEN_AT]
        with run_server([*args, "--redis", proxy.url_of(redis_server.url)]) as server:
            base = server.base_url
            body = key_with_limit(base, limit=10)

            def remaining() -> int:
                status, answer, _ = call(base, "POST", CHECK, body)
                assert status == 200, answer
                return int(answer["rate_limits"][0]["remaining"])

            assert remaining() == 9
            proxy.cut_after(body["resource"].encode())  # in the counter's name
            status, answer, headers = call(base, "POST", CHECK, body)
            assert proxy.cut.is_set(), "the proxy never saw the script"
            assert (status, answer["errors"][0]["detail"], headers["Retry-After"]) == (
                503,
                LOST,
                "1",
            )
            assert remaining() == 7


def wait_until(
    condition: Callable[[], bool], timeout: float = 60, failures: Sequence[BaseException] = ()
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if failures:
            raise failures[0]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_bad_redis_url_or_a_redis_not_there_ends_serve_with_exit_2(tmp_path: Path) -> None:
    for url, said in [
        ("http://127.0.0.1:6379/0", "is no Redis URL"),
        ("redis://127.0.0.1:6379/zero", "the database must be a number"),
        ("redis://127.0.0.1:99999/0", "Port out of range"),
        (f"redis://127.0.0.1:{free_port()}/0", "cannot keep the counters"),
    ]:
        done = run_to_exit(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--redis", url],
            timeout=60,
        )
        assert done.returncode == 2, done
        assert "--redis" in done.stderr and said in done.stderr, done.stderr
        assert "listening" not in done.stdout


def test_a_reset_or_a_snapshot_without_redis_is_a_503_that_changed_nothing() -> None:
    with running_redis() as redis_process:
        client = in_process(redis_process)
        assert client.create(app_slug="kept").status_code == 200
        assert client.post("/__admin/snapshots", json={"name": "one"}).status_code == 201
        redis_process.stop()
        for path, body in [
            ("/__admin/reset", None),
            ("/__admin/snapshots", {"name": "two"}),
            ("/__admin/snapshots/one/restore", None),
        ]:
            refused = client.post(path, json=body)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert refused.get_json()["errors"][0]["detail"] == GONE
        # A management call of a key the API limits needs the counters too.
        limited = client.get("/api-auth/apps", auth="Bearer sk_test_limited")
        assert limited.status_code == 503 and limited.get_json()["errors"][0]["detail"] == GONE
        assert client.get("/api-auth/apps/kept").status_code == 200  # not reset
        assert [s["name"] for s in client.get("/__admin/snapshots").get_json()["snapshots"]] == [
            "one"
        ]
        redis_process.start()
        assert client.post("/__admin/reset").status_code == 204
        assert client.get("/api-auth/apps/kept").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "redis://localhost", "rediss://:pw@cache.internal:6380/15"],
)
def test_redis_urls_are_taken(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis:///0", "names no host"),
        ("unix:///run/redis.sock", "is no Redis URL"),
        ("redis://h:0/0", "the port must be from 1 to 65535"),
        ("redis://h:6379/0?timeout=1", "without ? or #"),
        ("redis://h:6379/one", "the database must be a number"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, said: str) -> None:
    with pytest.raises(RedisUrlError, match=re.escape(said)):
        check_url(url)


def test_a_password_is_never_shown() -> None:
    assert redacted("redis://:hunter2@h:1/0") == "redis://:***@h:1/0"
    assert redacted("rediss://ops:hunter2@h:1/0") == "rediss://ops:***@h:1/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"


def test_settings_made_in_code_meet_the_same_check() -> None:
    with pytest.raises(RedisUrlError, match="is no Redis URL"):
        create_app(Settings(redis_url="http://127.0.0.1:6379/0"))
