"""The admin API: health, the request journal, reset, and its protections."""

import pytest
import yaml
from conftest import ContractClient
from test_create_app import only_error

APPS = "/api-auth/apps"
ADMIN = "/__admin"


def journal(client: ContractClient, query: str = "") -> list[dict]:
    return client.get(f"{ADMIN}/requests{query}", auth=None).get_json()["requests"]


def test_health_answers_without_a_wacht_key(client: ContractClient) -> None:
    response = client.get(f"{ADMIN}/health", auth=None)
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_the_admin_api_serves_its_own_openapi_document(client: ContractClient) -> None:
    response = client.get(f"{ADMIN}/openapi.yaml", auth=None)
    document = yaml.safe_load(response.get_data(as_text=True))
    assert "/__admin/requests" in document["paths"]
    wacht = client.app.extensions["mockserver.contract.spec"].document
    assert not any(path.startswith("/__admin") for path in wacht["paths"])


def test_the_journal_records_what_was_sent_and_answered(client: ContractClient) -> None:
    client.create(app_slug="journalled", permissions=["x"])
    client.post(APPS, json={"app_slug": 1}, headers={"X-Trace": "abc"})
    newest, oldest = journal(client)
    assert oldest["method"] == "POST" and oldest["path"] == APPS
    assert oldest["status"] == 200 and oldest["operation_id"] == "createApiAuthApp"
    assert oldest["body"]["app_slug"] == "journalled"
    assert oldest["errors"] == []
    assert newest["id"] > oldest["id"]
    assert newest["status"] == 422 and newest["headers"]["X-Trace"] == "abc"
    assert {e["field"] for e in newest["errors"]} == {"/app_slug", "/name", "/key_prefix"}
    assert newest["duration_ms"] >= 0


def test_the_bearer_key_is_masked(client: ContractClient) -> None:
    client.create()
    (entry,) = journal(client)
    assert entry["headers"]["Authorization"] == "Bearer ••••mock"
    assert "sk_test_mock" not in str(entry)


def test_secret_query_parameters_and_headers_are_masked_by_name(client: ContractClient) -> None:
    secrets = {
        "key": "query-secret-one",
        "API_KEY": "query-secret-two",
        "accessToken": "query-secret-three",
        "client-secret": "query-secret-four",
        "password": "hunter2",
    }
    query = "&".join(f"{name}={value}" for name, value in secrets.items())
    client.get(
        f"{APPS}?{query}&monkey=banana&keyword=kept&key_id=7001&token_type=bearer",
        headers={"X-Auth-Token": "hdr-1234567"},
    )
    (entry,) = journal(client)
    assert entry["query"]["key"] == "••••-one"  # the last four, as for the bearer key
    assert entry["query"]["password"] == "••••"  # a short secret shows nothing
    assert entry["headers"]["X-Auth-Token"] == "••••4567"
    # Words that merely contain a secret word are not secrets.
    assert entry["query"]["monkey"] == "banana" and entry["query"]["keyword"] == "kept"
    # Nor are names of something about a secret: its id, its type, a key's prefix.
    assert (entry["query"]["key_id"], entry["query"]["token_type"]) == ("7001", "bearer")
    for value in [*secrets.values(), "hdr-1234567"]:
        assert value not in str(entry)


def test_unrouted_and_refused_requests_are_journalled(client: ContractClient) -> None:
    client.get("/nowhere")
    client.post(APPS, data="{", headers={"Content-Type": "application/json"})
    refused, unrouted = journal(client)
    assert unrouted["status"] == 404 and unrouted["operation_id"] is None
    assert refused["status"] == 400 and refused["body"] == "{"


def test_admin_calls_are_not_journalled(client: ContractClient) -> None:
    client.get(f"{ADMIN}/health", auth=None)
    assert journal(client) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?method=GET", 2),
        ("?status=200", 3),
        ("?status=422", 1),
        ("?operation_id=createApiAuthApp", 2),
        ("?path=/api-auth/apps", 3),
        ("?path=/api-auth/apps&method=POST&status=200", 1),
        ("?limit=2", 2),
    ],
)
def test_filters_and_count_agree(client: ContractClient, query: str, expected: int) -> None:
    client.create()
    client.post(APPS, json={})
    client.get(APPS)
    client.get(f"{APPS}/my-integration")
    assert len(journal(client, query)) == expected
    if "limit" not in query:
        count = client.get(f"{ADMIN}/requests/count{query}", auth=None).get_json()["count"]
        assert count == expected


def test_a_bad_filter_is_400_naming_it(client: ContractClient) -> None:
    error = only_error(client.get(f"{ADMIN}/requests?status=teapot", auth=None), 400)
    assert error["parameter"] == "status"


def test_clearing_the_journal(client: ContractClient) -> None:
    client.create()
    assert client.delete(f"{ADMIN}/requests", auth=None).status_code == 204
    assert journal(client) == []


def test_the_journal_is_bounded(make_client) -> None:
    client = make_client(journal_size=5)
    for n in range(150):
        client.get(f"{APPS}/app-{n}")
    entries = journal(client)
    assert len(entries) == 5
    assert entries[0]["path"] == f"{APPS}/app-149"
    for query in ("", "?method=GET", "?status=404"):
        assert client.get(f"{ADMIN}/requests/count{query}", auth=None).get_json()["count"] == 5
        assert len(journal(client, query)) == 5
    # An old request is gone at once, not only when the journal is next trimmed.
    assert journal(client, f"?path={APPS}/app-140") == []
    assert client.get(f"{ADMIN}/requests/count?path={APPS}/app-140", auth=None).get_json() == {
        "count": 0
    }


def test_a_journal_of_size_0_is_off(make_client) -> None:
    client = make_client(journal_size=0)
    client.create()
    assert journal(client) == []


def test_reset_restores_the_fixtures_and_clears_the_journal(client: ContractClient) -> None:
    fresh = client.get(f"{APPS}?include_inactive=true").get_json()
    client.create()
    client.delete(f"{APPS}/billing-sync")
    client.post(
        "/api-auth/rate-limit-schemes",
        json={
            "slug": "s",
            "name": "S",
            "rules": [{"unit": "minute", "duration": 1, "max_requests": 1}],
        },
    )
    assert client.post(f"{ADMIN}/reset", auth=None).status_code == 204
    assert journal(client) == []
    assert client.get(f"{APPS}?include_inactive=true").get_json() == fresh
    only_error(client.get("/api-auth/rate-limit-schemes/s"), 404)


def test_ids_stay_unique_after_a_reset(client: ContractClient) -> None:
    first = client.create().get_json()["id"]
    client.post(f"{ADMIN}/reset", auth=None)
    assert client.create().get_json()["id"] != first


def test_a_reset_keeps_the_machine_id_claims(client: ContractClient) -> None:
    """Ids after a reset never repeat earlier ones because the claims of
    machine ids survive it: a process claiming after the reset gets another."""
    store = client.app.extensions["mockserver"].store
    before = store.claim_machine_id(7)
    assert client.post(f"{ADMIN}/reset", auth=None).status_code == 204
    after = store.claim_machine_id(before)
    assert after != before


def test_an_admin_token_protects_the_admin_api(make_client) -> None:
    client = make_client(admin_token="s3cret")
    error = only_error(client.get(f"{ADMIN}/health", auth=None), 401)
    assert error["message"] == "Admin token required"
    only_error(client.get(f"{ADMIN}/health", auth="Bearer sk_test_mock"), 401)
    assert client.get(f"{ADMIN}/health", auth="Bearer s3cret").status_code == 200
    assert client.create().status_code == 200  # the Wacht API still takes Wacht keys


def test_no_admin_removes_it(make_client) -> None:
    client = make_client(admin_enabled=False)
    only_error(client.get(f"{ADMIN}/health", auth=None), 404)
    only_error(client.post(f"{ADMIN}/reset", auth=None), 404)
