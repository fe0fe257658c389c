"""The usage view (/__usage) in a real browser: real gateway checks of a demo
key, and the chart, the figures and the audit rows following them live;
what it says when there is nothing to show or the API refuses. Screenshots
go to test-output/screenshots/ (tests/browser_support.py has the browser).
"""

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
from browser_support import (
    APPS,
    Tab,
    call_api,
    checked,
    edit_yaml,
    figure,
    set_hidden,
    shown_count,
)

from mockserver.tooling.testing import RunningServer, run_server

GATEWAY_CHECK = "/gateway/v1/authz/check"
# A demo key of fixtures/apps.yaml: billing-sync's "Billing worker", under the
# standard-api scheme, whose tightest rule is 20 a second per key and IP.
BILLING_WORKER = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"
PER_SECOND = 20
# With the clock stopped, every check falls in the same second: the 21st is
# over the limit whatever the machine's speed.
FROZEN_AT = "2026-06-01T10:30:15Z"


def gateway_check(
    server: RunningServer, resource: str, method: str = "GET", required: tuple[str, ...] = ()
) -> dict[str, Any]:
    body = {
        "principal": {"type": "api_key", "value": BILLING_WORKER},
        "resource": resource,
        "method": method,
        "required_permissions": list(required),
    }
    response = checked(requests.post(server.base_url + GATEWAY_CHECK, json=body, timeout=10))
    assert response.status_code == 200
    return response.json()


def test_usage_view_shows_gateway_checks_as_they_come_in(
    tab: Tab, playwright_api: ModuleType
) -> None:
    expect = playwright_api.expect
    with run_server(["--workers", "1", "--freeze-time", FROZEN_AT]) as frozen:
        quiet = {"app_slug": "no-checks-yet", "name": "Nothing yet", "key_prefix": "sk_live"}
        assert call_api(frozen, "POST", APPS, json=quiet).status_code == 200
        tab.page.goto(f"{frozen.base_url}/__inspector")
        tab.page.get_by_role("link", name="Gateway usage").click()
        expect(tab.page).to_have_url(f"{frozen.base_url}/__usage")
        expect(tab.page.get_by_role("heading", name="Gateway usage")).to_be_visible()

        # A new app: its figures are zeros and it says so in words.
        tab.page.get_by_label("App", exact=True).select_option("no-checks-yet")
        expect(tab.page.locator("#no-rows")).to_have_text("No gateway checks yet for this app.")
        expect(tab.page.locator("#chart")).to_be_hidden()

        # A demo app, by day: the chart then spans the audit's 30 days, as the figures do.
        tab.page.get_by_label("App", exact=True).select_option("billing-sync")
        tab.page.get_by_label("Chart by", exact=True).select_option("day")
        expect(tab.page.locator("#checks caption")).to_contain_text("billing-sync")
        admitted, blocked = shown_count(tab, "Admitted"), shown_count(tab, "Blocked")

        # Checks come in: some admitted, some past the per-second limit, one denied.
        for _ in range(PER_SECOND):
            assert gateway_check(frozen, "/v1/invoices")["allowed"] is True
        for _ in range(2):
            over = gateway_check(frozen, "/v1/invoices")
            assert over["allowed"] is False and over["blocked_rule"] == f"{PER_SECOND}/1s"
        denied = gateway_check(frozen, "/v1/invoices", "DELETE", ("invoices:delete",))
        assert denied["blocked_rule"] == "permission_denied"

        # The page sees them without a reload: the chart and the rows change.
        expect(tab.page.locator("#chart")).to_have_attribute(
            "aria-label",
            re.compile(f"{admitted + PER_SECOND:,} admitted, {blocked + 3:,} blocked"),
        )
        expect(tab.page.locator("#no-rows")).to_be_hidden()
        expect(figure(tab, "Admitted")).to_have_text(f"{admitted + PER_SECOND:,}")
        expect(figure(tab, "Blocked")).to_have_text(f"{blocked + 3:,}")
        rows = tab.page.locator("#checks tbody tr")
        expect(rows.first).to_contain_text("DELETE /v1/invoices")
        expect(rows.first).to_contain_text("Permission denied")
        over_limit = rows.filter(has_text=f"Rate limit {PER_SECOND}/1s")
        expect(over_limit).to_have_count(2)
        expect(over_limit.first).to_contain_text("Billing worker")
        expect(rows.filter(has_text="GET /v1/invoices").filter(has_text="Admitted")).to_have_count(
            17  # the table shows the latest 20: the denial, the 2 over the limit, 17 admitted
        )
        # Its polling is left out of the journal: there, only the calls made here.
        journal = checked(requests.get(f"{frozen.base_url}/__admin/requests", timeout=10))
        assert {entry["path"] for entry in journal.json()["requests"]} == {APPS, GATEWAY_CHECK}
        # Hidden, it stops polling; shown again, it catches up at once.
        set_hidden(tab, True)
        expect(tab.page.locator("#status")).to_have_text("Paused while this tab is hidden")
        assert gateway_check(frozen, "/v1/exports", "POST")["allowed"] is True
        set_hidden(tab, False)
        expect(rows.first).to_contain_text("POST /v1/exports")
        expect(tab.page.locator("#status")).to_contain_text("billing-sync · updated")
        tab.page.get_by_label("Chart by", exact=True).select_option("hour")
        expect(tab.page.locator("#chart")).to_have_attribute("aria-label", re.compile("per hour"))
        tab.screenshot("usage_view_after_gateway_checks", full_page=True)
        assert tab.assert_api_answers_conform() > 10
    # The server has stopped: the page says so and keeps what it showed.
    expect(tab.page.locator("#status")).to_have_text("The server does not answer; trying again…")
    expect(tab.page.locator("#status")).to_have_class("problem")
    expect(rows.first).to_contain_text("POST /v1/exports")
    assert BILLING_WORKER not in tab.page.locator("body").inner_text()
    tab.assert_no_problems()


def test_usage_view_says_when_there_are_no_apps_and_when_the_api_refuses(
    tab: Tab, playwright_api: ModuleType, fixture_dir: Path
) -> None:
    expect = playwright_api.expect
    status = tab.page.locator("#status")
    edit_yaml(fixture_dir / "apps.yaml", lambda apps: apps.update(apps=[]))
    with run_server(["--workers", "1", "--fixtures", str(fixture_dir)]) as empty:
        tab.page.goto(f"{empty.base_url}/__usage")
        expect(tab.page.locator("#no-apps")).to_contain_text("no API auth app yet")
        expect(status).to_have_text("No apps to show")
        expect(tab.page.get_by_label("App", exact=True)).to_be_disabled()
        # An app made meanwhile shows up, without a reload.
        made = {"app_slug": "first-app", "name": "First app", "key_prefix": "sk_live"}
        assert call_api(empty, "POST", APPS, json=made).status_code == 200
        expect(tab.page.get_by_label("App", exact=True)).to_have_value("first-app")
        expect(tab.page.locator("#no-rows")).to_be_visible()
        expect(tab.page.locator("#no-apps")).to_be_hidden()
        assert tab.assert_api_answers_conform() > 0

    # The dev key is the deployment's first key: here, one past its expiry.
    def expired_first(deployment: dict[str, Any]) -> None:
        deployment["api_keys"].sort(key=lambda key: key["key"] != "sk_test_expired")

    edit_yaml(fixture_dir / "deployment.yaml", expired_first)
    with run_server(["--workers", "1", "--fixtures", str(fixture_dir)]) as refusing:
        tab.page.goto(f"{refusing.base_url}/__usage")
        expect(status).to_have_text(
            "The Wacht API refused: 401 Authentication failed: The bearer key has expired."
        )
        expect(status).to_have_class("problem")
        tab.screenshot("usage_view_refused_by_the_api")
        assert tab.assert_api_answers_conform() > 0
    tab.assert_no_problems()
