"""A connection to PostgreSQL lost after a write reached the server and
before its answer came back (a network that drops it, a proxy that
restarts): the server may have done the write, and mockserver cannot know.
It never sends such a write again (a create would then answer 409 for its
own app, a check would be counted twice) and never claims that nothing was
changed: the 503 says the write may have been done. A server that ended an
idle connection itself (a restart) is still served at once: the write goes
on a new connection before it is sent.

A real server process on a real PostgreSQL, through a proxy that cuts the
connection at the chosen write (cutting_proxy.py)."""

from collections.abc import Iterator
from typing import Any

import pytest
from cutting_proxy import CuttingProxy
from postgres_support import PostgresServer
from test_replicas import send

from mockserver.tooling.testing import RunningServer, run_server

MAYBE_DONE = (
    "PostgreSQL was lost during the write; it may have been done: look before writing again."
    " Try again in 1 s."
)


@pytest.fixture
def proxy(postgres: PostgresServer) -> Iterator[CuttingProxy]:
    with CuttingProxy(postgres.port) as proxy:
        yield proxy


@pytest.fixture
def server(postgres: PostgresServer, proxy: CuttingProxy) -> Iterator[RunningServer]:
    url = proxy.url_of(postgres.new_database())
    with run_server(["--state", url, "--workers", "1"]) as running:
        yield running


def app_body(slug: str) -> dict[str, Any]:
    return {"app_slug": slug, "name": "Lost", "key_prefix": "sk_lost"}


def one_rule_check(base: str, slug: str, key_name: str, resource: str) -> dict[str, Any]:
    """A gateway check's body for a new key named ``key_name`` of a new app
    ``slug``, whose scheme has one per-key rule of 10 a day: its count is one
    statement of its own."""
    rule = {"unit": "day", "duration": 1, "max_requests": 10, "mode": "per_key"}
    scheme = {"slug": slug, "name": "One rule", "rules": [rule]}
    assert send(base, "POST", "/api-auth/rate-limit-schemes", scheme)[0] == 200
    app = {**app_body(slug), "rate_limit_scheme_slug": slug}
    assert send(base, "POST", "/api-auth/apps", app)[0] == 200
    status, key, _ = send(base, "POST", f"/api-auth/apps/{slug}/keys", {"name": key_name})
    assert status == 200, key
    return {
        "principal": {"type": "api_key", "value": key["secret"]},
        "resource": resource,
        "method": "GET",
    }


def assert_maybe_done(answer: tuple[int, Any, Any], proxy: CuttingProxy) -> None:
    status, body, headers = answer
    assert proxy.cut.is_set(), "the proxy never saw the write"
    assert status == 503, body
    assert body["errors"][0]["detail"] == MAYBE_DONE
    assert headers["Retry-After"] == "1"


def test_a_create_whose_answer_was_lost_is_a_503_that_says_it_may_be_done(
    server: RunningServer, proxy: CuttingProxy
) -> None:
    base = server.base_url
    assert send(base, "POST", "/api-auth/apps", app_body("before"))[0] == 200
    proxy.cut_after(b"answer-lost")
    assert_maybe_done(send(base, "POST", "/api-auth/apps", app_body("answer-lost")), proxy)
    # It was done, once: the next requests go on a new connection.
    status, app, _ = send(base, "GET", "/api-auth/apps/answer-lost")
    assert (status, app["name"]) == (200, "Lost")
    assert send(base, "POST", "/api-auth/apps", app_body("answer-lost"))[0] == 409


def test_a_write_whose_connection_went_while_it_was_prepared_is_served(
    server: RunningServer, proxy: CuttingProxy
) -> None:
    """A connection's first create prepares its INSERT first (the SQL alone,
    no values): lost then, nothing ran, and the create is served on a new
    connection."""
    base = server.base_url
    assert send(base, "GET", "/api-auth/apps")[0] == 200  # the connection, warm
    proxy.cut_after(b"INSERT INTO apps")  # only the statement's text holds it
    status, answer, _ = send(base, "POST", "/api-auth/apps", app_body("prepared-anew"))
    assert proxy.cut.is_set(), "the proxy never saw the statement"
    assert status == 200, answer
    assert send(base, "GET", "/api-auth/apps/prepared-anew")[0] == 200


def test_a_check_whose_count_was_lost_is_counted_once(
    server: RunningServer, proxy: CuttingProxy
) -> None:
    base = server.base_url
    check = one_rule_check(base, "counted", "k", "/v1/counted-once")

    def remaining() -> int:
        status, answer, _ = send(base, "POST", "/gateway/v1/authz/check", check)
        assert status == 200, answer
        return int(answer["rate_limits"][0]["remaining"])

    assert remaining() == 9
    proxy.cut_after(b"/v1/counted-once")  # the counter's name holds the resource
    assert_maybe_done(send(base, "POST", "/gateway/v1/authz/check", check), proxy)
    assert remaining() == 7  # the lost check was counted, once


def test_a_transaction_whose_commit_was_lost_is_a_503_that_says_it_may_be_done(
    server: RunningServer, proxy: CuttingProxy
) -> None:
    """A revocation is a transaction of several statements: its COMMIT is the write."""
    base = server.base_url
    assert send(base, "POST", "/api-auth/apps", app_body("keyed"))[0] == 200
    status, key, _ = send(base, "POST", "/api-auth/apps/keyed/keys", {"name": "k"})
    assert status == 200, key
    proxy.cut_after(b"COMMIT")
    revoke = f"/api-auth/apps/keyed/keys/{key['id']}/revoke"
    assert_maybe_done(send(base, "POST", revoke, {}), proxy)
    # It was committed: the key is revoked.
    assert send(base, "GET", "/api-auth/apps/keyed/keys")[1]["keys"] == []
    status, listed, _ = send(base, "GET", "/api-auth/apps/keyed/keys?include_inactive=true")
    assert status == 200
    assert [(found["id"], found["is_active"]) for found in listed["keys"]] == [(key["id"], False)]


def test_a_check_whose_audit_row_was_lost_stays_counted(
    server: RunningServer, proxy: CuttingProxy
) -> None:
    """The audit row's answer lost: the row may be there, so the check's count
    is not taken back (an audit row the counters did not count would be
    worse than the 503's warning)."""
    base = server.base_url
    check = one_rule_check(base, "audited", "audit-cut", "/v1/audited")
    assert send(base, "POST", "/gateway/v1/authz/check", check)[0] == 200
    proxy.cut_after(b"audit-cut")  # the key's name: in its audit row only
    assert_maybe_done(send(base, "POST", "/gateway/v1/authz/check", check), proxy)
    status, answer, _ = send(base, "POST", "/gateway/v1/authz/check", check)
    assert (status, answer["rate_limits"][0]["remaining"]) == (200, 7)
    status, logs, _ = send(base, "GET", "/api-auth/apps/audited/audit/logs?limit=10")
    assert status == 200
    assert len(logs["data"]) == 3  # the lost one's row was written


def test_an_error_the_server_answered_a_write_with_says_nothing_was_changed(
    postgres: PostgresServer,
) -> None:
    """A write PostgreSQL refused with an error of its own (here its
    statement timeout, while another transaction holds the counter's row)
    was not done, and says so: not the 'may have been done' of a lost one."""
    import psycopg

    from mockserver.state.counters import Tally
    from mockserver.state.database import DatabaseUnavailable
    from mockserver.state.store import Store

    url = postgres.new_database()
    store = Store(url + "?options=-c%20statement_timeout%3D300")
    try:
        assert store.counters.take([Tally("held", 0, 5, 60_000)])[0].count == 1
        with psycopg.connect(url) as holder:
            holder.execute("SELECT count FROM counters WHERE name = 'held' FOR UPDATE")
            with pytest.raises(DatabaseUnavailable) as refused:
                store.counters.take([Tally("held", 0, 5, 60_000)])
            holder.rollback()
        assert refused.value.maybe_done is False
        assert refused.value.condition == "cannot be reached"
        assert store.counters.take([Tally("held", 0, 5, 60_000)])[0].count == 2  # not counted
    finally:
        store.close()
