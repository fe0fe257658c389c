"""Tests that run in parallel against one mockserver, with pytest-xdist:

    pip install mockserver pytest-xdist
    pytest -n 4 examples/test_parallel_example.py

pytest-xdist's controller starts one server and every worker uses it; each
test gets a session of its own on it (``mockserver.headers`` names it), so
tests that make the same app, or change the same scheme, at the same time
never see each other's, and nothing needs resetting between tests. To use a
server that is already running (one demo instance shared by CI jobs), add
``-o mockserver_url=http://127.0.0.1:4010`` or set ``MOCKSERVER_URL``.
"""

import json
import urllib.error
import urllib.request

import pytest


def call(mockserver, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """Your client code: one call to the Wacht API, with the test's headers."""
    request = urllib.request.Request(
        mockserver.url(path),
        data=json.dumps(body).encode() if body is not None else None,
        headers={**mockserver.headers, "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# Eight tests, each making the same slug: run together, they would collide
# on one server without sessions (409 Resource already exists).
@pytest.mark.parametrize("run", range(8))
def test_every_test_makes_the_same_app(mockserver, run: int) -> None:
    body = {"app_slug": "shared-name", "name": f"Run {run}", "key_prefix": "sk_live"}
    status, app = call(mockserver, "POST", "/api-auth/apps", body)
    assert status == 200 and app["name"] == f"Run {run}"
    status, page = call(mockserver, "GET", "/api-auth/apps?search=shared-name")
    assert [found["name"] for found in page["data"]] == [f"Run {run}"]
    assert mockserver.count(operation="createApiAuthApp") == 1


@pytest.mark.parametrize("limit", [5, 50])
def test_a_snapshot_brings_a_changed_scheme_back(mockserver, limit: int) -> None:
    path = "/api-auth/rate-limit-schemes/default-rate-limits"
    mockserver.snapshot("as-loaded")
    rule = {"unit": "minute", "duration": 1, "max_requests": limit}
    assert call(mockserver, "PATCH", path, {"rules": [rule]})[0] == 200
    assert call(mockserver, "GET", path)[1]["rules"][0]["max_requests"] == limit
    mockserver.restore("as-loaded")
    assert call(mockserver, "GET", path)[1]["rules"][0]["max_requests"] == 100
