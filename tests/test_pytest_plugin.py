"""The pytest plugin as a user meets it: a separate pytest run of a user's tests."""

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_client_example.py"


def test_the_worked_example_passes_using_only_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_ini_options_reach_the_server(pytester: pytest.Pytester, fixture_dir: Path) -> None:
    (fixture_dir / "deployment.yaml").write_text(
        (fixture_dir / "deployment.yaml").read_text().replace("sk_test_mock", "sk_test_team")
    )
    pytester.makeini(
        f"""
        [pytest]
        mockserver_fixtures = {fixture_dir}
        mockserver_seed = 11
        mockserver_freeze_time = 2026-02-02T02:02:02Z
        mockserver_args = --journal-size 3
        """
    )
    pytester.makepyfile(
        test_settings="""
        import json, urllib.request
        from mockserver.backend.ids import decode

        def create(mockserver, slug):
            request = urllib.request.Request(
                mockserver.url("/api-auth/apps"), method="POST",
                data=json.dumps({"app_slug": slug, "name": "n", "key_prefix": "k"}).encode(),
                headers={**mockserver.headers, "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                return json.loads(response.read())

        def test_settings(mockserver):
            assert mockserver.key == "sk_test_team"
            app = create(mockserver, "a")
            assert app["created_at"] == "2026-02-02T02:02:02Z"  # no sub-second digits to keep
            assert decode(app["id"]).time.isoformat().startswith("2026-02-02T02:02:02")
            for slug in "bcde":
                create(mockserver, slug)
            assert len(mockserver.requests()) == 3  # --journal-size 3
            assert [r["body"]["app_slug"] for r in mockserver.requests(limit=2)] == ["e", "d"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_failing_user_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_wrong="""
        def test_expects_a_request_that_never_came(mockserver):
            assert mockserver.count(operation="createApiAuthApp") == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


PARALLEL_EXAMPLE = EXAMPLE.with_name("test_parallel_example.py")


def test_the_parallel_example_shares_one_server_between_xdist_workers(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_EXAMPLE.read_text())
    seen = pytester.path / "servers.txt"
    # Beside the example: each test notes the server and the session it was given.
    pytester.makeconftest(
        f"""
        import os, pytest

        @pytest.fixture(autouse=True)
        def note_server(mockserver):
            with open({str(seen)!r}, "a") as notes:
                notes.write(f"{{os.environ['PYTEST_XDIST_WORKER']}} "
                            f"{{mockserver.base_url}} {{mockserver.session}}\\n")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=10)
    notes = [line.split() for line in seen.read_text().splitlines()]
    assert len(notes) == 10
    assert len({worker for worker, _url, _session in notes}) == 2
    assert len({url for _worker, url, _session in notes}) == 1  # one server for both
    assert len({session for _worker, _url, session in notes}) == 10  # a session each


def test_reset_isolation_keeps_one_world_reset_before_each_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nmockserver_isolation = reset\n")
    pytester.makepyfile(
        test_reset="""
        import json, urllib.request

        def create(mockserver, slug):
            request = urllib.request.Request(
                mockserver.url("/api-auth/apps"), method="POST",
                data=json.dumps({"app_slug": slug, "name": "n", "key_prefix": "k"}).encode(),
                # No session header: a client that cannot send one.
                headers={"Authorization": f"Bearer {mockserver.key}",
                         "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as response:
                return response.status

        def test_first(mockserver):
            assert mockserver.session is None
            assert create(mockserver, "again") == 200
            assert mockserver.count(operation="createApiAuthApp") == 1

        def test_second(mockserver):
            assert mockserver.count(operation="createApiAuthApp") == 0
            assert create(mockserver, "again") == 200  # the reset removed the first one
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_advance_moves_the_servers_clock(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        mockserver_freeze_time = 2026-02-02T02:02:02Z
        """
    )
    pytester.makepyfile(
        test_clock="""
        def test_advance(mockserver):
            assert mockserver.now() == "2026-02-02T02:02:02Z"
            assert mockserver.advance(seconds=90.5) == "2026-02-02T02:03:32.500Z"
            assert mockserver.set_time("2026-03-01T00:00:00Z") == "2026-03-01T00:00:00Z"
            mockserver.reset()
            assert mockserver.now() == "2026-02-02T02:02:02Z"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
