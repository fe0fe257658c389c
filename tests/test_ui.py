"""The browser pages, /docs, /__inspector and /__usage, through Flask's test client.

Fast checks of what a browser would load: only this server's own files, the
spec pointing at this server, nothing in the journal. tests/test_browser.py
runs the same pages in a real browser.
"""

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from contract import assert_conforms
from flask.testing import FlaskClient

from mockserver import Settings, create_app
from mockserver.contract.resources import default_spec_path
from mockserver.tooling.pages import docs_document, is_ui_path

DOCS = "/docs"
INSPECTOR = "/__inspector"
USAGE = "/__usage"


class _Page(HTMLParser):
    """The files a page makes the browser load, and the attributes of each element by id."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "script":
            if values.get("src"):
                self.assets.append(str(values["src"]))
            else:
                self.inline_scripts += 1
        elif tag in ("link", "img") and (values.get("href") or values.get("src")):
            url = str(values.get("href") or values.get("src"))
            if not url.startswith("data:"):  # inline, loads nothing
                self.assets.append(url)
        if values.get("id"):
            self.by_id[str(values["id"])] = values


def read_page(response: Any) -> _Page:
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = _Page()
    page.feed(response.get_data(as_text=True))
    return page


@pytest.fixture
def browser() -> FlaskClient:
    """A plain test client: these pages are not in openapi.yaml, so no contract check."""
    return create_app(Settings()).test_client()


def assert_only_local_assets(browser: FlaskClient, page: _Page) -> None:
    """Every file the page loads is a path on this server, and is there."""
    assert page.assets
    for url in page.assets:
        assert url.startswith("/") and not url.startswith("//"), f"not served here: {url}"
        asset = browser.get(url)
        assert asset.status_code == 200 and asset.data, url


def test_docs_page_loads_swagger_ui_from_this_server_only(browser: FlaskClient) -> None:
    response = browser.get(DOCS)
    page = read_page(response)
    assert_only_local_assets(browser, page)
    assert any(url.endswith("/swagger-ui-bundle.js") for url in page.assets)
    assert any(url.endswith("/swagger-ui.css") for url in page.assets)
    assert page.inline_scripts == 0
    # The browser enforces it too: nothing from another origin may load or be called.
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_docs_spec_sends_try_it_out_to_the_requests_origin(browser: FlaskClient) -> None:
    origin = "http://frontend.localhost:8123"  # a name the Host check lets through
    page = read_page(browser.get(DOCS, base_url=origin))
    spec_url = page.by_id["swagger-ui"]["data-spec-url"]
    assert spec_url is not None
    shown = browser.get(spec_url, base_url=origin).get_json()
    assert [server["url"] for server in shown["servers"]] == [origin]

    served = yaml.safe_load(default_spec_path().read_text(encoding="utf-8"))
    assert set(shown["paths"]) == set(served["paths"])
    # Only `servers` differs from openapi.yaml.
    del shown["servers"], served["servers"]
    assert shown == json.loads(json.dumps(served, default=str))


def test_docs_page_preauthorizes_the_dev_key_for_bearer_auth(browser: FlaskClient) -> None:
    settings = read_page(browser.get(DOCS)).by_id["swagger-ui"]
    assert settings["data-dev-key"] == "sk_test_mock"
    assert json.loads(settings["data-bearer-schemes"] or "") == ["bearerAuth"]


def test_docs_follow_the_spec_being_served(tmp_path: Path) -> None:
    document = yaml.safe_load(default_spec_path().read_text(encoding="utf-8"))
    document["info"]["title"] = "Our own contract"
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    browser = create_app(Settings(spec_path=spec)).test_client()
    assert "Our own contract" in browser.get(DOCS).get_data(as_text=True)
    assert browser.get(f"{DOCS}/openapi.json").get_json()["info"]["title"] == "Our own contract"


def test_servers_of_paths_and_operations_are_dropped_too() -> None:
    document = {
        "servers": [{"url": "https://api.wacht.dev"}],
        "paths": {
            "/x": {"servers": [{"url": "https://a"}], "get": {"servers": [{"url": "https://b"}]}}
        },
    }
    shown = docs_document(document, "http://127.0.0.1:1")
    assert shown == {
        "servers": [{"url": "http://127.0.0.1:1", "description": "this mockserver"}],
        "paths": {"/x": {"get": {}}},
    }
    assert document["servers"] == [{"url": "https://api.wacht.dev"}]  # not changed in place


def test_inspector_page_loads_its_own_files_and_runs_no_inline_script(
    browser: FlaskClient,
) -> None:
    response = browser.get(INSPECTOR)
    page = read_page(response)
    assert_only_local_assets(browser, page)
    assert page.inline_scripts == 0
    # Request data is shown as text; the policy forbids inline script should that slip.
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert {"requests", "status", "details"} <= set(page.by_id)


def test_inspector_is_served_without_the_admin_api() -> None:
    """It then says the admin API is off, rather than a bare 404."""
    browser = create_app(Settings(admin_enabled=False)).test_client()
    page = read_page(browser.get(INSPECTOR))
    # The page's journal request meets the 404 of an absent admin API...
    assert browser.get("/__admin/requests?limit=100").status_code == 404
    # ...which its script turns into these words (seen in a browser in test_browser.py).
    (script,) = [url for url in page.assets if url.endswith("inspector.js")]
    text = browser.get(script).get_data(as_text=True)
    assert "status === 404" in text and "The admin API is off" in text


def test_usage_page_loads_its_own_files_and_talks_to_this_origin_only(
    browser: FlaskClient,
) -> None:
    response = browser.get(USAGE)
    page = read_page(response)
    assert_only_local_assets(browser, page)
    assert page.inline_scripts == 0
    # It draws its chart itself and calls only this server's API: the policy says so.
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The audit endpoints are read with the dev key, as the docs page calls the API.
    assert page.by_id["usage"]["data-dev-key"] == "sk_test_mock"
    assert {"status", "app", "chart", "checks", "no-rows", "no-apps"} <= set(page.by_id)
    assert page.by_id["chart"]["role"] == "img" and page.by_id["chart"]["aria-label"]
    assert {"h1", "h2", "caption", "th"} <= set(page.tags)
    assert f"{USAGE}/static/usage.js" in page.assets


def test_the_inspector_and_the_usage_view_link_to_each_other(browser: FlaskClient) -> None:
    assert USAGE in read_page(browser.get(INSPECTOR)).links
    assert INSPECTOR in read_page(browser.get(USAGE)).links
    assert browser.get(f"{USAGE}/").headers["Location"] == USAGE


def test_the_usage_views_own_reads_are_answered_but_not_journalled(
    browser: FlaskClient,
) -> None:
    """It polls every 2 s: journalled, its reads would push the developer's
    own calls out of the inspector beside it."""
    script = browser.get(f"{USAGE}/static/usage.js").get_data(as_text=True)
    assert '"X-Mockserver-Page": "usage"' in script
    logs = "/api-auth/apps/billing-sync/audit/logs"
    key = {"Authorization": "Bearer sk_test_mock"}
    page_read = browser.get(logs, headers={**key, "X-Mockserver-Page": "usage"})
    assert page_read.status_code == 200
    assert_conforms("GET", logs, 200, page_read.headers, page_read.get_json())
    own_read = browser.get(logs, headers=key)
    assert own_read.get_json() == page_read.get_json()
    journal = browser.get("/__admin/requests").get_json()["requests"]
    assert [entry["headers"].get("X-Mockserver-Page") for entry in journal] == [None]


def test_ui_pages_are_not_journalled(browser: FlaskClient) -> None:
    pages = [read_page(browser.get(url)) for url in (DOCS, INSPECTOR, USAGE)]
    for url in [f"{DOCS}/openapi.json", f"{DOCS}/", f"{INSPECTOR}/", f"{USAGE}/"]:
        browser.get(url)
        browser.options(url, headers={"Origin": "http://x", "Access-Control-Request-Method": "GET"})
    for page in pages:
        for url in page.assets:
            browser.get(url)
    journal = browser.get("/__admin/requests").get_json()["requests"]
    assert [(entry["method"], entry["path"]) for entry in journal] == []


def test_pages_answer_cross_origin_calls_from_a_listed_origin() -> None:
    """A frontend listed with --cors-origin may fetch the spec the docs serve
    (any other origin is refused: tests/test_security.py)."""
    origin = {"Origin": "http://localhost:5173"}
    browser = create_app(Settings(cors_origins=(origin["Origin"],))).test_client()
    spec = browser.get(f"{DOCS}/openapi.json", headers=origin)
    assert spec.status_code == 200
    assert spec.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert "Origin" in spec.headers["Vary"]
    preflight = browser.options(
        f"{DOCS}/openapi.json", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204 and not preflight.data
    assert preflight.headers["Allow"] == preflight.headers["Access-Control-Allow-Methods"] == "GET"
    missing = browser.get(f"{DOCS}/static/nothing-here.js", headers=origin)
    assert missing.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert_conforms("GET", f"{DOCS}/static/nothing-here.js", 404, missing.headers, missing.json)


@pytest.mark.parametrize(
    ("path", "is_ui"),
    [
        ("/docs", True),
        ("/docs/openapi.json", True),
        ("/__inspector", True),
        ("/__inspector/static/inspector.js", True),
        ("/__usage", True),
        ("/__usage/static/usage.js", True),
        ("/__usages", False),
        ("/docsearch", False),
        ("/api-auth/apps", False),
        ("/__admin/requests", False),
    ],
)
def test_is_ui_path(path: str, is_ui: bool) -> None:
    assert is_ui_path(path) is is_ui
