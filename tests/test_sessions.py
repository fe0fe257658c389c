"""Sessions and snapshots against real servers of two worker processes.

Every request names its session with X-Mockserver-Session; requests are sent
from many threads at once, so both workers serve each session. Every answer
is checked against its contract (openapi.yaml or the admin API's document).
"""

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from session_support import send

from mockserver.backend.ids import decode
from mockserver.tooling.testing import run_server

WORKERS = ["--workers", "2"]


def create_app(base_url: str, slug: str, session: str | None, **fields: Any) -> tuple[int, Any]:
    body = {"app_slug": slug, "name": f"App {slug}", "key_prefix": "sk_live", **fields}
    return send(base_url, "POST", "/api-auth/apps", body, session=session)


def app_slugs(base_url: str, session: str | None) -> set[str]:
    status, page = send(
        base_url, "GET", "/api-auth/apps?limit=100&include_inactive=true", session=session
    )
    assert status == 200 and page["has_more"] is False
    return {app["app_slug"] for app in page["data"]}


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return [future.result(timeout=120) for future in [pool.submit(call) for call in calls]]


def session_names(base_url: str) -> list[str]:
    status, listing = send(base_url, "GET", "/__admin/sessions")
    assert status == 200
    return [session["name"] for session in listing["sessions"]]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with run_server([*WORKERS, "--log-format", "off"]) as running:
        yield running.base_url


def test_sessions_are_isolated_from_each_other_and_from_the_default(server: str) -> None:
    sessions = ["iso-a", "iso-b", "iso-c"]
    fixtures = app_slugs(server, None)
    # One slug in every session at once: no 409, each has its own.
    answers = in_parallel([lambda s=s: create_app(server, "same-slug", s) for s in sessions])
    assert [status for status, _ in answers] == [200, 200, 200]
    in_parallel([lambda s=s: create_app(server, f"only-{s}", s) for s in sessions])
    for session in sessions:
        assert app_slugs(server, session) == fixtures | {"same-slug", f"only-{session}"}
    assert app_slugs(server, None) == fixtures
    # A reset of one session leaves the others as they are.
    assert send(server, "POST", "/__admin/reset", session="iso-a")[0] == 204
    assert app_slugs(server, "iso-a") == fixtures
    assert "same-slug" in app_slugs(server, "iso-b")
    assert {"iso-a", "iso-b", "iso-c"} <= set(session_names(server))


def test_ids_are_unique_across_sessions_and_workers(server: str) -> None:
    calls = [lambda n=n: create_app(server, f"id-{n}", f"ids-{n % 4}")[1]["id"] for n in range(80)]
    ids = in_parallel(calls)
    assert len(set(ids)) == len(ids)
    # Both worker processes served, each with its own machine id.
    assert len({decode(value).machine_id for value in ids}) == 2


def test_the_journal_and_its_count_are_per_session(server: str) -> None:
    create_app(server, "journalled", "journal-a")
    send(server, "GET", "/api-auth/apps/journalled", session="journal-a")
    send(server, "GET", "/api-auth/apps/journalled", session="journal-b")
    status, count = send(server, "GET", "/__admin/requests/count", session="journal-a")
    assert (status, count) == (200, {"count": 2})
    status, listing = send(server, "GET", "/__admin/requests", session="journal-b")
    assert [(entry["session"], entry["status"]) for entry in listing["requests"]] == [
        ("journal-b", 404)
    ]
    status, everything = send(server, "GET", "/__admin/requests?all_sessions=true")
    assert {"journal-a", "journal-b"} <= {entry["session"] for entry in everything["requests"]}
    assert send(server, "DELETE", "/__admin/requests", session="journal-a")[0] == 204
    assert send(server, "GET", "/__admin/requests/count", session="journal-a")[1] == {"count": 0}
    assert send(server, "GET", "/__admin/requests/count", session="journal-b")[1] == {"count": 1}


def test_a_request_without_a_valid_key_makes_no_session(server: str) -> None:
    request = urllib.request.Request(server + "/api-auth/apps")
    request.add_header("Authorization", "Bearer sk_test_unknown")
    request.add_header("X-Mockserver-Session", "never-made")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    body = json.loads(refused.value.read())
    assert_conforms("GET", "/api-auth/apps", refused.value.code, refused.value.headers, body)
    assert refused.value.code == 401
    assert "never-made" not in session_names(server)


def test_a_bad_session_name_is_a_400_naming_the_header(server: str) -> None:
    for name in ["has space", "x" * 65, "slash/y", "ümlaut"]:
        for method, path in [("GET", "/api-auth/apps"), ("POST", "/__admin/reset")]:
            status, body = send(server, method, path, session=name)
            assert status == 400
            (error,) = body["errors"]
            assert error["parameter"] == "X-Mockserver-Session"
    assert send(server, "GET", "/api-auth/apps", session="Ok-1.2_3" + "x" * 56)[0] == 200


def _scheme_rules(max_requests: int) -> dict[str, Any]:
    rule = {"unit": "minute", "duration": 1, "max_requests": max_requests}
    return {"rules": [rule]}


def _build_world(server: str, session: str, tag: str, max_requests: int) -> None:
    """Apps ``tag-0..4`` on scheme default-rate-limits, whose one rule allows
    ``max_requests``: two tables a list of apps reads in two queries."""
    path = "/api-auth/rate-limit-schemes/default-rate-limits"
    assert send(server, "PATCH", path, _scheme_rules(max_requests), session=session)[0] == 200
    for n in range(5):
        status, _ = create_app(
            server, f"{tag}-{n}", session, rate_limit_scheme_slug="default-rate-limits"
        )
        assert status == 200


def test_a_restore_is_seen_whole_by_concurrent_requests(server: str) -> None:
    session = "atomic"
    _build_world(server, session, "x", 111)
    assert send(server, "POST", "/__admin/snapshots", {"name": "x"}, session=session)[0] == 201
    assert send(server, "POST", "/__admin/reset", session=session)[0] == 204
    _build_world(server, session, "y", 222)
    assert send(server, "POST", "/__admin/snapshots", {"name": "y"}, session=session)[0] == 201
    worlds = {"x": 111, "y": 222}
    done = threading.Event()
    seen: list[tuple[frozenset[str], frozenset[int]]] = []

    def read() -> None:
        while not done.is_set():
            status, page = send(server, "GET", "/api-auth/apps?limit=100", session=session)
            assert status == 200
            ours = [app for app in page["data"] if app["app_slug"][:2] in ("x-", "y-")]
            tags = frozenset(app["app_slug"][0] for app in ours)
            limits = frozenset(app["rate_limits"][0]["max_requests"] for app in ours)
            seen.append((tags, limits))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for turn in range(16):
            name = "xy"[turn % 2]
            path = f"/__admin/snapshots/{name}/restore"
            assert send(server, "POST", path, session=session)[0] == 204
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=60)
    assert seen
    for tags, limits in seen:
        # Five apps of one world with that world's rule: never a mix.
        assert len(tags) == 1 and limits == {worlds[next(iter(tags))]}, (tags, limits)


def test_snapshots_are_listed_deleted_and_kept_per_session(server: str) -> None:
    create_app(server, "kept", "snaps")
    status, saved = send(server, "POST", "/__admin/snapshots", {"name": "one"}, session="snaps")
    assert status == 201 and saved["name"] == "one"
    listing = send(server, "GET", "/__admin/snapshots", session="snaps")[1]
    assert [snapshot["name"] for snapshot in listing["snapshots"]] == ["one"]
    assert send(server, "GET", "/__admin/snapshots", session="other-snaps")[1] == {"snapshots": []}
    status, _ = send(server, "POST", "/__admin/snapshots/one/restore", session="other-snaps")
    assert status == 404
    assert send(server, "DELETE", "/__admin/snapshots/one", session="snaps")[0] == 204
    assert send(server, "DELETE", "/__admin/snapshots/one", session="snaps")[0] == 404
    assert send(server, "POST", "/__admin/snapshots", {"name": "a/b"}, session="snaps")[0] == 422
    # A name escaped into a path reaches no file outside the session's snapshots.
    send(server, "POST", "/__admin/snapshots", {"name": "registry"}, session="snaps")
    for path in ["..%2F..%2Fregistry", "..%2Fsession-snaps%2Fregistry", "%2E%2E"]:
        assert send(server, "DELETE", f"/__admin/snapshots/{path}", session="snaps")[0] == 404
    restore = "/__admin/snapshots/%2E%2E/restore"
    assert send(server, "POST", restore, session="other-snaps")[0] == 404
    assert send(server, "DELETE", "/__admin/sessions/..%2Fsessions", session="snaps")[0] == 404
    listing = send(server, "GET", "/__admin/snapshots", session="snaps")[1]
    assert [snapshot["name"] for snapshot in listing["snapshots"]] == ["registry"]
    assert "snaps" in session_names(server)  # the registry is untouched


def test_a_dropped_session_starts_again_from_the_fixtures(server: str) -> None:
    create_app(server, "doomed", "drop-me")
    assert "drop-me" in session_names(server)
    assert send(server, "DELETE", "/__admin/sessions/drop-me")[0] == 204
    assert "drop-me" not in session_names(server)
    assert send(server, "DELETE", "/__admin/sessions/drop-me")[0] == 404
    assert send(server, "GET", "/__admin/requests/count", session="drop-me")[1] == {"count": 0}
    # Every worker forgets it at once (both are asked, from many threads).
    answers = in_parallel(
        [lambda: send(server, "GET", "/api-auth/apps/doomed", session="drop-me")] * 8
    )
    assert {status for status, _ in answers} == {404}


def test_one_session_beyond_max_sessions_is_a_429_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOCKSERVER_MAX_SESSIONS", "2")  # as a container sets it
    with run_server([*WORKERS, "--log-format", "off"]) as running:
        url = running.base_url
        assert send(url, "GET", "/api-auth/apps", session="first")[0] == 200
        assert send(url, "GET", "/api-auth/apps", session="second")[0] == 200
        status, body = send(url, "GET", "/api-auth/apps", session="third")
        assert status == 429
        (error,) = body["errors"]
        assert error["parameter"] == "X-Mockserver-Session"
        assert "--max-sessions" in error["detail"]
        # Known sessions and the default one still work.
        assert send(url, "GET", "/api-auth/apps", session="first")[0] == 200
        assert send(url, "GET", "/api-auth/apps")[0] == 200
        assert send(url, "DELETE", "/__admin/sessions/first")[0] == 204
        assert send(url, "GET", "/api-auth/apps", session="third")[0] == 200


def test_an_idle_session_is_dropped_after_its_ttl() -> None:
    with run_server([*WORKERS, "--session-ttl", "1s", "--log-format", "off"]) as running:
        url = running.base_url
        assert create_app(url, "short-lived", "idle")[0] == 200
        assert "idle" in session_names(url)
        deadline = time.monotonic() + 30
        while "idle" in session_names(url):  # the listing asks without using it
            assert time.monotonic() < deadline, "the idle session was never dropped"
            time.sleep(0.1)
        assert "short-lived" not in app_slugs(url, "idle")
        # Made again from the fixtures, with none of the old one's journal.
        _status, listing = send(url, "GET", "/__admin/requests", session="idle")
        assert [entry["operation_id"] for entry in listing["requests"]] == ["listApiAuthApps"]


def test_snapshots_survive_a_restart_with_state(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "state.sqlite3"), *WORKERS, "--log-format", "off"]
    with run_server(state) as running:
        for session in (None, "kept-session"):
            assert create_app(running.base_url, "before-restart", session)[0] == 200
            path = "/__admin/snapshots"
            assert (
                send(running.base_url, "POST", path, {"name": "saved"}, session=session)[0] == 201
            )
            send(running.base_url, "DELETE", "/api-auth/apps/before-restart", session=session)
    with run_server(state) as running:
        for session in (None, "kept-session"):
            assert "before-restart" not in app_slugs(running.base_url, session)
            path = "/__admin/snapshots/saved/restore"
            assert send(running.base_url, "POST", path, session=session)[0] == 204
            assert "before-restart" in app_slugs(running.base_url, session)


def test_an_id_made_before_a_restore_is_never_made_again(tmp_path: Path) -> None:
    """The clock stands still and the seed fixes the machine id each process
    prefers, so only the claims, which a restore keeps, stop a later process
    from making the very same id."""
    state = [
        *["--state", str(tmp_path / "state.sqlite3"), "--seed", "5"],
        *["--freeze-time", "2026-03-03T03:03:03Z"],
    ]
    with run_server([*state, "--log-format", "off"]) as running:  # no id made yet
        saved = send(running.base_url, "POST", "/__admin/snapshots", {"name": "before-ids"})
        assert saved[0] == 201
    with run_server([*state, "--log-format", "off"]) as running:
        status, first = create_app(running.base_url, "first", None)
        assert status == 200
        assert send(running.base_url, "POST", "/__admin/snapshots/before-ids/restore")[0] == 204
    with run_server([*state, "--log-format", "off"]) as running:
        status, second = create_app(running.base_url, "second", None)
        assert status == 200
    assert second["id"] != first["id"]
    assert decode(second["id"]).machine_id != decode(first["id"]).machine_id
