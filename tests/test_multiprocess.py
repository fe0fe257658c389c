"""Several real server processes sharing one --state file stay consistent.

Three `mockserver serve` processes run on one SQLite file, as workers behind a
load balancer would; requests are spread round-robin across them and released
together, so that the processes really race for the same rows.
"""

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from test_cli import call

from mockserver.backend.ids import decode
from mockserver.serving.app import machine_id_from
from mockserver.tooling.testing import run_server

PROCESSES = 3
# Same seed everywhere: every process prefers the same machine id, so only the
# claim each process makes in the shared state can keep their ids apart.
SEED = "7"


def app_body(slug: str, **fields: Any) -> dict[str, Any]:
    return {"app_slug": slug, "name": f"App {slug}", "key_prefix": "sk_live", **fields}


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[list[str]]:
    """Base URLs of three servers on one state file, each on its own free port."""
    state = tmp_path / "state.sqlite3"
    with ExitStack() as stack:
        servers = [
            stack.enter_context(run_server(["--state", str(state), "--seed", SEED]))
            for _ in range(PROCESSES)
        ]
        assert len({server.base_url for server in servers}) == PROCESSES
        yield [server.base_url for server in servers]


def race(requests: list[Callable[[], tuple[int, bytes]]]) -> list[tuple[int, Any]]:
    """Run every request in its own thread, all released at the same instant;
    answers come back in the order of ``requests``, bodies parsed."""
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[], tuple[int, bytes]]) -> tuple[int, Any]:
        barrier.wait(timeout=30)
        status, raw = request()
        return status, json.loads(raw) if raw else None

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(run, request) for request in requests]
        return [future.result(timeout=60) for future in futures]


def list_apps(base_url: str) -> list[dict[str, Any]]:
    status, raw = call(base_url, "/api-auth/apps?limit=1000&include_inactive=true", method="GET")
    assert status == 200
    page = json.loads(raw)
    assert page["has_more"] is False
    return page["data"]


def test_concurrent_creates_of_one_slug_across_processes_give_exactly_one_app(
    urls: list[str],
) -> None:
    body = app_body("contested")
    answers = race(
        [lambda url=urls[i % PROCESSES]: call(url, "/api-auth/apps", body) for i in range(30)]
    )

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 29, statuses
    for status, answer in answers:
        if status == 409:
            assert [error["message"] for error in answer["errors"]] == ["Resource already exists"]
    (winner,) = [answer for status, answer in answers if status == 200]
    # Every process sees the one app that was made, and only that one.
    for url in urls:
        status, raw = call(url, "/api-auth/apps/contested", method="GET")
        assert status == 200
        assert json.loads(raw) == winner
        assert [app["id"] for app in list_apps(url) if app["app_slug"] == "contested"] == [
            winner["id"]
        ]


def test_concurrent_creates_of_distinct_slugs_are_all_kept_with_unique_ids(
    urls: list[str],
) -> None:
    slugs = [f"app-{n:02d}" for n in range(60)]
    answers = race(
        [
            lambda url=urls[n % PROCESSES], slug=slug: call(url, "/api-auth/apps", app_body(slug))
            for n, slug in enumerate(slugs)
        ]
    )

    assert [status for status, _ in answers] == [200] * 60, answers
    assert [answer["app_slug"] for _, answer in answers] == slugs
    ids = [answer["id"] for _, answer in answers]
    assert len(set(ids)) == 60

    # Each process made its ids with one machine id, and no two processes shared one.
    machine_ids_by_process = [
        {decode(answers[n][1]["id"]).machine_id for n in range(p, 60, PROCESSES)}
        for p in range(PROCESSES)
    ]
    assert all(len(machine_ids) == 1 for machine_ids in machine_ids_by_process)
    assert len(set.union(*machine_ids_by_process)) == PROCESSES, machine_ids_by_process

    # None lost, none doubled, whichever process is asked.
    for url in urls:
        listed = list_apps(url)
        listed_ids = [app["id"] for app in listed]
        assert len(listed_ids) == len(set(listed_ids))
        by_slug = {app["app_slug"]: app for app in listed}
        assert {slug: by_slug.get(slug) for slug in slugs} == {
            answer["app_slug"]: answer for _, answer in answers
        }


def test_a_scheme_made_by_one_process_is_used_at_once_by_the_others(urls: list[str]) -> None:
    scheme = {
        "slug": "shared-scheme",
        "name": "Shared scheme",
        "rules": [{"unit": "minute", "duration": 1, "max_requests": 5}],
    }
    status, raw = call(urls[0], "/api-auth/rate-limit-schemes", scheme)
    assert status == 200, raw
    expected = [
        {
            "unit": "minute",
            "duration": 1,
            "max_requests": 5,
            "mode": "per_app",
            "endpoints": ["*"],
            "priority": 0,
        }
    ]
    assert json.loads(raw)["rules"] == expected

    status, raw = call(
        urls[1], "/api-auth/apps", app_body("scheme-user", rate_limit_scheme_slug="shared-scheme")
    )
    assert status == 200, raw
    app = json.loads(raw)
    assert app["rate_limit_scheme_slug"] == "shared-scheme"
    assert app["rate_limits"] == expected

    # A third process shows the same app with the same limits.
    status, raw = call(urls[2], "/api-auth/apps/scheme-user", method="GET")
    assert status == 200
    assert json.loads(raw) == app

    # Changing the scheme in one process changes the app's limits in another at once.
    new_rules = [{"unit": "hour", "duration": 2, "max_requests": 50, "mode": "per_key"}]
    status, raw = call(
        urls[2],
        "/api-auth/rate-limit-schemes/shared-scheme",
        {"rules": new_rules},
        method="PATCH",
    )
    assert status == 200, raw
    status, raw = call(urls[0], "/api-auth/apps/scheme-user", method="GET")
    assert status == 200
    assert json.loads(raw)["rate_limits"] == [{**new_rules[0], "endpoints": ["*"], "priority": 0}]


def seeds_whose_machine_ids_meet() -> tuple[int, int]:
    """Two seeds whose machine ids differ by one: the first process (slot 0) and
    the second (slot 1) end up on the same machine id if slots are simply added."""
    seen: dict[int, int] = {}
    for seed in range(20_000):
        machine_id = machine_id_from(seed)
        if machine_id + 1 in seen:
            return seen[machine_id + 1], seed
        seen.setdefault(machine_id, seed)
    raise AssertionError("no two seeds found")  # pragma: no cover


def test_processes_started_with_different_seeds_still_make_distinct_ids(tmp_path: Path) -> None:
    first_seed, second_seed = seeds_whose_machine_ids_meet()
    # A frozen clock puts both first ids in the same tick with sequence 0.
    shared = ["--state", str(tmp_path / "state.sqlite3"), "--freeze-time", "2026-03-01T12:00:00Z"]
    with (
        run_server(["--seed", str(first_seed), *shared]) as first,
        run_server(["--seed", str(second_seed), *shared]) as second,
    ):
        answers = [
            call(server.base_url, "/api-auth/apps", app_body(slug))
            for server, slug in ((first, "made-by-first"), (second, "made-by-second"))
        ]
        assert [status for status, _ in answers] == [200, 200], answers
        ids = [json.loads(raw)["id"] for _, raw in answers]
        assert ids[0] != ids[1]
