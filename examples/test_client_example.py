"""How a team tests its own client code against mockserver, using only the
pytest plugin that comes with it (pip install mockserver; nothing else to set up).

`create_app` below stands in for your client; the tests check both what your
code got back and what it sent. Your client sends ``mockserver.headers``: the
dev key, and the session that is this test's own world.
"""

import json
import urllib.request


def create_app(base_url: str, headers: dict, slug: str, name: str) -> dict:
    """Your client code: create an API auth app and return it."""
    request = urllib.request.Request(
        f"{base_url}/api-auth/apps",
        data=json.dumps({"app_slug": slug, "name": name, "key_prefix": "sk_live"}).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_the_client_creates_an_app(mockserver):
    app = create_app(mockserver.base_url, mockserver.headers, "billing", "Billing")
    assert app["app_slug"] == "billing" and app["is_active"] is True

    (sent,) = mockserver.requests(operation="createApiAuthApp")
    assert sent["body"] == {"app_slug": "billing", "name": "Billing", "key_prefix": "sk_live"}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["status"] == 200


def test_each_test_starts_from_the_fixtures(mockserver):
    # The previous test created "billing" in its own session; this one has a new one.
    assert mockserver.count(operation="createApiAuthApp") == 0
    app = create_app(mockserver.base_url, mockserver.headers, "billing", "Billing again")
    assert app["name"] == "Billing again"
