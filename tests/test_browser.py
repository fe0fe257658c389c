"""End to end in a real browser: headless Chromium (Debian's), driven by Playwright.

What a frontend developer does with mockserver: call it from a page on
another origin (CORS), try the API in /docs, see in /__inspector why a
request was refused. Each test leaves a screenshot in
test-output/screenshots/ (the usage view has its own: tests/test_usage.py).
"""

import json
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from browser_support import (
    APPS,
    DEV_KEY,
    FRONTEND_PAGE,
    SNOOPING_PAGE,
    Tab,
    call_api,
    checked,
    static_site,
)

from mockserver.tooling.testing import RunningServer, run_server

ADMIN_TOKEN = "inspector-secret-token"


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """A real mockserver (granian, one worker) whose admin API needs a token."""
    with run_server(["--workers", "1", "--admin-token", ADMIN_TOKEN]) as running:
        yield running


class Admin:
    """The admin API of ``server``, token included."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def reset(self) -> None:
        response = requests.post(f"{self.base_url}/__admin/reset", headers=self.headers, timeout=10)
        checked(response)
        assert response.status_code == 204

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.base_url}/__admin/requests", params=filters, headers=self.headers, timeout=10
        )
        response.raise_for_status()
        return checked(response).json()["requests"]


@pytest.fixture
def admin(server: RunningServer) -> Admin:
    """The admin API, with the server back to its fixtures and an empty journal."""
    admin = Admin(server.base_url)
    admin.reset()
    return admin


@pytest.fixture(scope="session")
def frontend_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = tmp_path_factory.mktemp("frontend")
    (site / "index.html").write_text(FRONTEND_PAGE, encoding="utf-8")
    (site / "snoop.html").write_text(SNOOPING_PAGE, encoding="utf-8")
    with static_site(site) as origin:
        yield origin


def test_a_page_on_another_origin_creates_an_app_through_cors(
    tab: Tab, playwright_api: ModuleType, server: RunningServer, admin: Admin, frontend_origin: str
) -> None:
    expect = playwright_api.expect
    assert frontend_origin != server.base_url
    query = urlencode({"api": server.base_url, "key": DEV_KEY, "slug": "from-another-origin"})
    tab.page.goto(f"{frontend_origin}/index.html?{query}")

    tab.page.get_by_role("button", name="Create").click()
    expect(
        tab.page.locator("#status"),
        "the browser refused the call: does the server answer CORS (preflight and response)?",
    ).to_have_text("200")
    expect(tab.page.locator("#slug")).to_have_text("from-another-origin")
    tab.screenshot("cors_frontend_created_app")

    # The browser asked first (preflight), then sent the POST, both from that origin.
    (preflight,) = admin.requests(method="OPTIONS", path=APPS)
    assert preflight["headers"]["Origin"] == frontend_origin
    assert "authorization" in preflight["headers"]["Access-Control-Request-Headers"].lower()
    (created,) = admin.requests(method="POST", path=APPS)
    assert created["status"] == 200 and created["headers"]["Origin"] == frontend_origin
    tab.assert_no_problems()


def test_docs_try_it_out_creates_an_app_on_this_server(
    tab: Tab, playwright_api: ModuleType, server: RunningServer, admin: Admin
) -> None:
    expect = playwright_api.expect
    tab.page.goto(f"{server.base_url}/docs")
    # Authorized before anyone clicks "Authorize": the dev key is already filled in.
    expect(tab.page.locator("button.authorize")).to_have_class(re.compile(r"\blocked\b"))
    tab.screenshot("docs_overview")
    operation = tab.page.locator(".opblock-post").filter(
        has=tab.page.locator(f'.opblock-summary-path[data-path="{APPS}"]')
    )
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    body = {"app_slug": "from-the-docs", "name": "Tried in the docs", "key_prefix": "sk_live"}
    operation.locator("textarea.body-param__text").fill(json.dumps(body, indent=2))
    operation.get_by_role("button", name="Execute").click()

    answer = operation.locator(".live-responses-table tr.response")
    expect(answer.locator("td.response-col_status")).to_have_text("200")
    expect(answer.locator("td.response-col_description")).to_contain_text('"from-the-docs"')
    # Sent to this server, not api.wacht.dev, with the dev key filled in beforehand.
    expect(operation.locator(".request-url")).to_contain_text(f"{server.base_url}{APPS}")
    expect(operation.locator(".curl-command")).to_contain_text(f"Bearer {DEV_KEY}")
    answer.scroll_into_view_if_needed()
    tab.screenshot("docs_try_it_out_created_app")

    (created,) = admin.requests(method="POST", path=APPS)
    assert created["status"] == 200 and created["body"]["app_slug"] == "from-the-docs"
    tab.assert_no_problems()


# Markup sent in a request must show as text in the inspector, never as markup.
INJECTED = '<img src="x" onerror="window.injected = true">'


def test_inspector_shows_why_a_request_was_refused(
    tab: Tab, playwright_api: ModuleType, server: RunningServer, admin: Admin
) -> None:
    expect = playwright_api.expect
    assert call_api(server, "GET", APPS).status_code == 200
    assert call_api(server, "POST", APPS, json={}).status_code == 422
    assert call_api(server, "GET", APPS, params={"note": INJECTED}).status_code == 200
    # Control characters show as escapes; a secret query parameter is masked.
    forged = {"line": "a\nb\u202ec", "api_key": "sk_live_in_a_query"}
    assert call_api(server, "GET", APPS, params=forged).status_code == 200
    tab.page.goto(f"{server.base_url}/__inspector")
    expect(tab.page.locator("#status")).to_contain_text("#token=")  # says how to give one

    tab.page.goto(f"{server.base_url}/__inspector#token={ADMIN_TOKEN}")
    rows = tab.page.locator("#requests tbody tr").filter(has_text=APPS)
    expect(rows).to_have_count(4)
    refused = rows.filter(has=tab.page.locator("td.status", has_text="422"))
    # Why it was refused is on the row itself, no click needed.
    expect(refused).to_contain_text("app_slug is required")
    expect(refused).to_contain_text("field /app_slug")
    expect(rows.first).to_contain_text(f"{APPS}?line=a\\x0ab\\u202ec&api_key=••••uery")
    expect(rows.nth(1)).to_contain_text(f"{APPS}?note={INJECTED}")

    refused.click()
    details = tab.page.locator("#details")
    expect(details).to_be_visible()
    expect(details).to_contain_text("POST /api-auth/apps → 422")
    expect(details).to_contain_text("Bearer ••••mock")
    tab.screenshot("inspector_refused_request", full_page=True)

    text = tab.page.locator("body").inner_text()
    assert DEV_KEY not in text and ADMIN_TOKEN not in text and "sk_live_in_a_query" not in text
    assert tab.page.locator("#requests img, #details img").count() == 0
    assert tab.page.evaluate("window.injected") is None
    tab.assert_no_problems()


def test_inspector_shows_each_requests_session_and_filters_by_it(
    tab: Tab, playwright_api: ModuleType, server: RunningServer, admin: Admin
) -> None:
    expect = playwright_api.expect
    for session in ("inspected-a", "inspected-b"):
        headers = {"X-Mockserver-Session": session}
        assert call_api(server, "GET", f"{APPS}/{session}", headers=headers).status_code == 404
    assert call_api(server, "GET", f"{APPS}/in-the-default").status_code == 404
    tab.page.goto(f"{server.base_url}/__inspector#token={ADMIN_TOKEN}")
    rows = tab.page.locator("#requests tbody tr").filter(has_text=f"{APPS}/")
    expect(rows).to_have_count(3)  # every session's, each naming its own
    expect(rows.filter(has_text="/inspected-a").locator("td.session")).to_have_text("inspected-a")
    expect(rows.filter(has_text="/in-the-default").locator("td.session")).to_have_text("default")

    tab.page.locator("#session-filter").select_option("inspected-b")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{APPS}/inspected-b")
    tab.page.locator("#session-filter").select_option(label="Default session")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{APPS}/in-the-default")
    tab.screenshot("inspector_session_filter")
    tab.assert_no_problems()


def test_inspector_shows_each_gateway_decision_and_no_secret(
    tab: Tab, playwright_api: ModuleType, server: RunningServer, admin: Admin
) -> None:
    expect = playwright_api.expect
    secret = "sk_live_dSiLyI_ek5IWXz2MzKOn13maBLvpdc3GvzSjxCnpq30"  # Support bot, a demo key
    check = "/gateway/v1/authz/check"
    body = {"principal": {"type": "api_key", "value": secret}, "resource": "/r", "method": "GET"}
    assert call_api(server, "POST", check, json=body).json()["allowed"] is True
    denied = {**body, "required_permissions": ["admin"]}
    assert call_api(server, "POST", check, json=denied).json()["allowed"] is False
    tab.page.goto(f"{server.base_url}/__inspector#token={ADMIN_TOKEN}")
    rows = tab.page.locator("#requests tbody tr").filter(has_text=check)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("refused: permission_denied (permission_denied)")
    expect(rows.nth(1)).to_contain_text("allowed")
    rows.first.click()
    expect(tab.page.locator("#details")).to_contain_text("••••")
    assert secret not in tab.page.locator("body").inner_text()
    tab.screenshot("inspector_gateway_decisions", full_page=True)
    tab.assert_no_problems()


@pytest.fixture(scope="module")
def open_server() -> Iterator[RunningServer]:
    """A real mockserver with the admin API open to anyone who can reach it
    (no --admin-token), as most developers run it."""
    with run_server(["--workers", "1"]) as running:
        yield running


def test_a_page_on_another_origin_can_neither_read_the_journal_nor_reset(
    tab: Tab, playwright_api: ModuleType, open_server: RunningServer, frontend_origin: str
) -> None:
    expect = playwright_api.expect
    base_url = open_server.base_url
    made_before = {"app_slug": "made-before-the-page", "name": "Work", "key_prefix": "sk_live"}
    assert call_api(open_server, "POST", APPS, json=made_before).status_code == 200
    slug = "from-the-snooping-page"
    query = urlencode({"api": base_url, "key": DEV_KEY, "slug": slug})
    tab.page.goto(f"{frontend_origin}/snoop.html?{query}")

    tab.page.get_by_role("button", name="Try").click()
    expect(tab.page.locator("#done")).to_have_text("yes")
    # The page's own call to the Wacht API works, as for any frontend...
    expect(tab.page.locator("#api")).to_have_text(f"200 {slug}")
    # ...but the browser hands it nothing from the admin API,
    expect(tab.page.locator("#read")).to_contain_text("fetch failed")
    expect(tab.page.locator("#reset")).to_contain_text("fetch failed")
    # and a reset sent blind (no preflight, answer hidden) still reached the server:
    expect(tab.page.locator("#blind-reset")).to_have_text("sent, answer hidden")
    tab.screenshot("cross_origin_page_refused_by_the_admin_api")

    # Which refused it: nothing was reset. The app made before the page and the
    # page's own are both there, and the journal still holds the page's call.
    for kept in (made_before["app_slug"], slug):
        assert call_api(open_server, "GET", f"{APPS}/{kept}").status_code == 200
    journal = requests.get(
        f"{base_url}/__admin/requests", params={"method": "POST", "path": APPS}, timeout=10
    )
    origins = [entry["headers"].get("Origin") for entry in checked(journal).json()["requests"]]
    assert origins.count(frontend_origin) == 1 and len(origins) == 2
    tab.assert_no_problems()


def test_inspector_says_the_admin_api_is_off(tab: Tab, playwright_api: ModuleType) -> None:
    with run_server(["--workers", "1", "--no-admin"]) as no_admin:
        tab.page.goto(f"{no_admin.base_url}/__inspector")
        status = tab.page.locator("#status")
        playwright_api.expect(status).to_have_text(
            "The admin API is off (the server was started with --no-admin): nothing to show."
        )
        playwright_api.expect(status).to_have_class("problem")
