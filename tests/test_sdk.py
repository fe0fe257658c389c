"""Wacht's own JS backend SDK (`@wacht/backend`, pinned in tests/sdk/) against
a live mockserver: every api-auth function it has, called once by
tests/sdk/api_auth.mjs in one story on one server, and what the SDK returned
asserted here, beside the raw answers, each checked against its contract.

Where the SDK disagrees with the backend, mockserver follows the backend and
the test says so: the SDK reads app lists from `.apps` (the backend sends
`data`), types create and rotate as `{key, secret}` (the backend sends the
flat key with its `secret`), and takes error messages from a top-level
`message` that the backend's envelope does not have. /work/notes/sdk-survey.md
in the project notes has the whole survey.

The server's clock is frozen, and moved only by the script (POST
/__admin/clock), so the windows of rate limits are the same on every run.
"""

from pathlib import Path

import pytest
from sdk_support import UNDEFINED, SdkRun, install_sdk, run_script

from mockserver.tooling.testing import run_server

FROZEN = "2026-06-28T10:15:30Z"
MOVED = "2026-06-28T10:16:30Z"  # after {"advance_seconds": 60}
# The SDK's error for an envelope: its message is read from a top-level
# `message`, which the backend's {"errors": [{message, code}]} has not.
ENVELOPE_LOST = "An error occurred"
# The SDK's error for a plain-text refusal (the gateway's 401 "Invalid API
# key"): response.json() fails and uses the body up, response.text() then
# throws, and parseApiError(status, null) dies on null.message; the SDK wraps
# that TypeError, and the status is lost with it.
PLAIN_TEXT_LOST = "Cannot read properties of null (reading 'message')"
RULE = {"unit": "minute", "duration": 1, "max_requests": 2, "mode": "per_key"}
# As answered: the defaults of `endpoints` and `priority` filled in (README).
STORED_RULE = {**RULE, "endpoints": ["*"], "priority": 0}


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> SdkRun:
    """The one run of the script every test here reads."""
    script = install_sdk(Path(tmp_path_factory.mktemp("wacht-sdk")))
    with run_server(["--freeze-time", FROZEN]) as server:
        return run_script(script, server.base_url)


def test_every_api_auth_function_of_the_sdk_is_called(sdk: SdkRun) -> None:
    exported = {name for names in sdk.exports.values() for name in names}
    assert exported == set(sdk.called)
    assert "checkAuthz" in sdk.exports["gateway"] and sdk.exports["health"] == ["healthCheck"]


# --- rate-limit schemes, apps, the audit's calls ---


def test_schemes_through_the_sdk(sdk: SdkRun) -> None:
    created = sdk.value("createRateLimitScheme")
    assert created == sdk.answer("createRateLimitScheme").body
    assert (created["slug"], created["name"], created["description"]) == (
        "sdk-tight",
        "SDK tight",
        None,
    )
    assert created["rules"] == [STORED_RULE]
    assert sdk.value("getRateLimitScheme") == created
    updated = sdk.value("updateRateLimitScheme")
    assert updated == {**created, "description": "Two a minute per key and path"}
    schemes = sdk.value("listRateLimitSchemes")
    # The SDK returns `.schemes` and drops the backend's `total`.
    assert schemes[0] == updated, "newest updated first"
    assert sdk.answer("listRateLimitSchemes").body["total"] == len(schemes)

    assert sdk.error("deleteRateLimitScheme.inUse") == {
        "name": "ValidationError",
        "statusCode": 400,
        "message": ENVELOPE_LOST,
    }
    in_use = sdk.answer("deleteRateLimitScheme.inUse")
    assert in_use.message == "Cannot delete rate limit scheme while it is assigned to API auth apps"
    assert sdk.value("deleteRateLimitScheme") == UNDEFINED
    assert sdk.answer("deleteRateLimitScheme").status == 204


def test_apps_through_the_sdk(sdk: SdkRun) -> None:
    created = sdk.value("createApiAuthApp")
    assert created == sdk.answer("createApiAuthApp").body
    assert (created["app_slug"], created["key_prefix"], created["is_active"]) == (
        "sdk-app",
        "sk_sdk",
        True,
    )
    assert created["rate_limits"] == [STORED_RULE], "the scheme's rules"
    assert sdk.value("getApiAuthApp") == created
    assert sdk.value("updateApiAuthApp") == {**created, "description": "Made by the SDK test"}

    duplicate = sdk.error("createApiAuthApp.duplicate")
    assert (duplicate["name"], duplicate["statusCode"]) == ("ConflictError", 409)
    assert duplicate["message"] == ENVELOPE_LOST
    assert sdk.answer("createApiAuthApp.duplicate").message == "Resource already exists"
    assert sdk.error("getApiAuthApp.missing")["name"] == "NotFoundError"
    assert sdk.answer("getApiAuthApp.missing").message == "API key app not found"

    # The SDK returns `response.apps`; the backend (and mockserver) answers
    # {data, has_more, limit, offset}, so an SDK user gets undefined.
    assert sdk.value("listApiAuthApps") == UNDEFINED
    listed = sdk.answer("listApiAuthApps").body
    assert listed["data"][0]["app_slug"] == "sdk-app", "newest first"
    assert "billing-sync" in {app["app_slug"] for app in listed["data"]}
    assert sdk.value("listApiAuthApps.inactive") == UNDEFINED
    assert sdk.answer("listApiAuthApps.inactive").path == "/api-auth/apps?include_inactive=true"

    assert sdk.value("deleteApiAuthApp") == {}, "the SDK types it void; the backend sends {}"
    assert sdk.error("getApiAuthApp.deleted")["statusCode"] == 404


def test_audit_calls_return_the_backends_answers(sdk: SdkRun) -> None:
    labels = ["getApiAuditLogs.demo", "getApiAuditLogs.demo.next"]
    labels += ["getApiAuditAnalytics.demo", "getApiAuditTimeseries.demo"]
    for label in labels:
        assert sdk.value(label) == sdk.answer(label).body
    analytics_path = sdk.answer("getApiAuditAnalytics.demo").path
    assert analytics_path.endswith(
        "?include_top_keys=true&include_top_paths=true&include_blocked_reasons=true"
        "&include_rate_limits=true&top_limit=3"
    )
    first, second = sdk.value("getApiAuditLogs.demo"), sdk.value("getApiAuditLogs.demo.next")
    first_ids = {row["request_id"] for row in first["data"]}
    assert first_ids.isdisjoint(row["request_id"] for row in second["data"])
    analytics = sdk.value("getApiAuditAnalytics.demo")
    assert (
        analytics["total_requests"] == analytics["allowed_requests"] + analytics["blocked_requests"]
    )
    assert len(analytics["top_keys"]) <= 3
    buckets = sdk.value("getApiAuditTimeseries.demo")
    assert buckets["interval"] == "day"
    # Both cover the last 30 days by default: the buckets add up to the total.
    assert (
        sum(bucket["total_requests"] for bucket in buckets["data"]) == analytics["total_requests"]
    )


# --- keys, the gateway, the clock, the audit of checks, health, the API's own limit ---


def test_keys_through_the_sdk(sdk: SdkRun) -> None:
    created = sdk.value("createApiKey")
    # The SDK's type says {key, secret}; the backend sends the key flat, with
    # its secret beside the fields. mockserver follows the backend.
    assert "key" not in created and created == sdk.answer("createApiKey").body
    secret = created["secret"]
    assert secret.startswith("sk_sdk_") and len(secret) == len("sk_sdk_") + 43
    assert created["key_suffix"] == secret[-8:]
    assert (created["name"], created["permissions"]) == ("SDK key", ["invoices:read"])
    assert created["metadata"] == {"team": "sdk", "tier": 2}
    assert (created["rate_limits"], created["rate_limit_scheme_slug"]) == ([], "sdk-tight")
    (listed,) = sdk.value("listApiKeys")
    assert "secret" not in listed and listed["id"] == created["id"]
    assert listed["rate_limits"] == [STORED_RULE], "the list shows the scheme's rules"

    rotated = sdk.value("rotateApiKey")
    assert "key" not in rotated and rotated["secret"].startswith("sk_sdk_")
    assert rotated["id"] != created["id"] and rotated["secret"] != secret
    assert (rotated["name"], rotated["metadata"]) == ("SDK key", created["metadata"])
    new, old = sdk.value("listApiKeys.inactive")
    assert (new["id"], old["id"]) == (rotated["id"], created["id"]), "newest first"
    assert (old["is_active"], old["revoked_reason"]) == (False, "Rotated")
    assert old["revoked_at"] == new["created_at"]

    assert sdk.value("revokeApiKey") == {}, "the SDK types it void; the backend sends {}"
    assert sdk.error("revokeApiKey.again")["statusCode"] == 404
    assert sdk.answer("revokeApiKey.again").message == "API key not found or already revoked"
    assert sdk.value("listApiKeys.afterRevoke") == []


def test_gateway_checks_through_the_sdk(sdk: SdkRun) -> None:
    key = sdk.value("createApiKey")
    first = sdk.value("checkAuthz.first")
    assert first == sdk.answer("checkAuthz.first").body
    assert first["request_id"].startswith("req_")
    assert (first["allowed"], first["reason"], first["retry_after"]) == (True, None, None)
    assert first["rate_limits"] == [{"rule": "2/60s", "remaining": 1, "limit": 2}]
    assert first["identity"]["key_id"] == key["id"]
    assert (first["identity"]["app_slug"], first["identity"]["key_name"]) == ("sdk-app", "SDK key")
    assert (first["permissions"], first["metadata"]) == (["invoices:read"], key["metadata"])
    headers = first["headers"]
    assert (headers["x-wacht-key-id"], headers["x-wacht-permissions"]) == (
        key["id"],
        "invoices:read",
    )
    assert headers["x-wacht-metadata"] == "team=sdk", "string values only"
    assert sdk.value("checkAuthz.second")["rate_limits"][0]["remaining"] == 0

    over = sdk.value("checkAuthz.over")
    assert (over["allowed"], over["reason"], over["blocked_rule"]) == (
        False,
        "rate_limited",
        "2/60s",
    )
    # Frozen at 10:15:30: the minute's window resets in 30 s.
    assert over["retry_after"] == 30_000 and over["headers"]["x-ratelimit-60s-reset"] == "30000"
    denied = sdk.value("checkPrincipalAuthz.denied")
    assert (denied["allowed"], denied["reason"]) == (False, "permission_denied")
    assert denied["headers"]["x-wacht-permission-denied"] == "true"

    assert sdk.value("resolveAuthzIdentity") == {**first["identity"], "principal_type": "api_key"}
    context = sdk.value("resolveGatewayPrincipalContext")
    assert (context["tokenType"], context["permissions"]) == ("api_key", ["invoices:read"])
    assert context["identity"]["key_id"] == key["id"] and context["ownerUserId"] is None

    malformed = sdk.error("checkAuthz.malformed")
    assert (malformed["name"], malformed["statusCode"]) == ("AuthenticationError", 401)
    assert sdk.answer("checkAuthz.malformed").body["allowed"] is False
    for label in ("checkAuthz.unknown", "checkAuthz.oldSecret", "checkAuthz.revoked"):
        assert sdk.error(label) == {
            "name": "WachtError",
            "statusCode": None,
            "message": PLAIN_TEXT_LOST,
        }
        refused = sdk.answer(label)
        assert (refused.status, refused.body) == (401, "Invalid API key")
    fresh = sdk.value("checkAuthz.newSecret")
    assert fresh["allowed"] and fresh["rate_limits"][0]["remaining"] == 1, "a new key, new counters"


def test_the_moved_clock_opens_the_next_window(sdk: SdkRun) -> None:
    assert sdk.value("advanceClock") == {"now": MOVED}
    assert sdk.answer("advanceClock").status == 200
    again = sdk.value("checkAuthz.nextWindow")
    assert again["allowed"] and again["rate_limits"][0]["remaining"] == 1


def test_audit_of_the_sdks_checks(sdk: SdkRun) -> None:
    checks = ["checkAuthz.first", "checkAuthz.second", "checkAuthz.over"]
    checks += ["checkPrincipalAuthz.denied", "checkAuthz.nextWindow"]
    request_ids = {sdk.value(label)["request_id"] for label in checks}
    page, rest = sdk.value("getApiAuditLogs"), sdk.value("getApiAuditLogs.next")
    assert (len(page["data"]), page["has_more"], len(rest["data"]), rest["has_more"]) == (
        3,
        True,
        2,
        False,
    )
    rows = page["data"] + rest["data"]
    assert {row["request_id"] for row in rows} == request_ids, "pages neither skip nor repeat"
    assert rows[0]["timestamp"] == MOVED, "newest first"
    blocked = sdk.value("getApiAuditLogs.blocked")["data"]
    assert {row["blocked_by_rule"] for row in blocked} == {"2/60s", "permission_denied"}
    (denied,) = [row for row in blocked if row["blocked_by_rule"] == "permission_denied"]
    assert (denied["path"], denied["client_ip"], denied["user_agent"]) == (
        "POST /v1/invoices",
        "203.0.113.7",
        "sdk-test",
    )

    analytics = sdk.value("getApiAuditAnalytics")
    key = sdk.value("createApiKey")
    assert (analytics["total_requests"], analytics["allowed_requests"]) == (5, 3)
    assert (analytics["success_rate"], analytics["keys_used_24h"]) == (60, 1)
    assert analytics["top_keys"] == [
        {"key_id": key["id"], "key_name": "SDK key", "total_requests": 5}
    ]
    assert analytics["top_paths"] == [
        {"path": "GET /v1/invoices", "total_requests": 4},
        {"path": "POST /v1/invoices", "total_requests": 1},
    ]
    reasons = {
        (r["blocked_by_rule"], r["count"], r["percentage"]) for r in analytics["blocked_reasons"]
    }
    assert reasons == {("2/60s", 1, 50), ("permission_denied", 1, 50)}
    stats = analytics["rate_limit_stats"]
    assert (stats["total_hits"], stats["percentage_of_blocked"]) == (1, 50)
    assert [(r["rule"], r["hit_count"]) for r in stats["top_rules"]] == [("2/60s", 1)]

    series = sdk.value("getApiAuditTimeseries")
    assert series["interval"] == "minute"
    assert [
        (b["timestamp"], b["total_requests"], b["allowed_requests"], b["blocked_requests"])
        for b in series["data"]
    ] == [("2026-06-28T10:15:00Z", 4, 2, 2), ("2026-06-28T10:16:00Z", 1, 1, 0)]


def test_demo_audit_history_reaches_the_sdk(sdk: SdkRun) -> None:
    analytics = sdk.value("getApiAuditAnalytics.demo")
    assert analytics["total_requests"] > 0 and analytics["blocked_requests"] > 0
    assert sdk.value("getApiAuditLogs.demo")["has_more"] is True


def test_health_through_the_sdk(sdk: SdkRun) -> None:
    # Typed {status}; the backend adds the time, here the frozen clock's.
    assert sdk.value("healthCheck") == {"status": "healthy", "timestamp": FROZEN}
    assert sdk.value("healthCheck") == sdk.answer("healthCheck").body


def test_the_management_apis_rate_limit_through_the_sdk(sdk: SdkRun) -> None:
    for n in range(1, 6):
        assert sdk.value(f"limited.{n}")[0]["slug"]
    assert sdk.error("limited.6") == {
        "name": "RateLimitError",
        "statusCode": 429,
        "message": ENVELOPE_LOST,
    }
    refused = sdk.answer("limited.6")
    # Five a minute per key and path; the clock stands at 10:16:30.
    assert refused.message == "Rate limit exceeded. Retry after 30 seconds"
    assert refused.headers["Retry-After"] == "30"
