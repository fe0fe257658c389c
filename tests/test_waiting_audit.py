"""A SQLite state's audit rows wait in a file shared by its workers and go to
the database in batches (state/waiting_rows.py): every answered check is in
the audit at once, for every worker and server, and stays there when the
server is killed.
"""

import json
import os
import signal
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from conftest import ContractClient
from test_gateway_workers import AUTH, new_key_and_check, send

from mockserver.state.audit import BATCH, AuditLog
from mockserver.state.counters import Outcome, Tally
from mockserver.state.store import Store
from mockserver.state.waiting_rows import WaitingRows
from mockserver.tooling.testing import run_server

CHECK = "/gateway/v1/authz/check"
LOGS = "/api-auth/apps/{slug}/audit/logs?limit=1000&start_date=2026-01-01T00:00:00Z"


def audited(base_url: str, slug: str) -> list[str]:
    """The request ids of the app's audit rows, as a client reads them."""
    request = urllib.request.Request(base_url + LOGS.format(slug=slug), headers=AUTH)
    with urllib.request.urlopen(request, timeout=60) as response:
        return [row["request_id"] for row in json.loads(response.read())["data"]]


def check(base_url: str, body: dict[str, Any]) -> str:
    answer = send(base_url, "POST", CHECK, body, {"Content-Type": "application/json"})
    assert answer["allowed"] is True
    return str(answer["request_id"])


def test_a_check_is_in_the_audit_of_every_server_at_once(tmp_path: Path) -> None:
    """Three servers on one state: each check, answered by one, is read at
    once through the next, across more checks than a batch holds."""
    state = tmp_path / "state.sqlite3"
    with ExitStack() as stack:
        bases = [
            stack.enter_context(run_server(["--state", str(state)])).base_url for _ in range(3)
        ]
        _key, body = new_key_and_check(bases[0], "seen", "none")
        answered: list[str] = []
        for number in range(BATCH + 10):
            answered.append(check(bases[number % 3], body))
            assert audited(bases[(number + 1) % 3], "seen")[0] == answered[-1]
        assert sorted(audited(bases[2], "seen")) == sorted(answered)


def test_an_answered_check_stays_in_the_audit_when_the_server_is_killed(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    with run_server(["--state", str(state), "--workers", "2"]) as server:
        _key, body = new_key_and_check(server.base_url, "killed", "none")
        answered = [check(server.base_url, body) for _ in range(5)]
        # Fewer than a batch: every row still waits in the shared file.
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
    with run_server(["--state", str(state)]) as again:
        assert sorted(audited(again.base_url, "killed")) == sorted(answered)


class _Died(Exception):
    """The worker dies here."""


def test_a_batch_added_by_a_worker_that_died_before_emptying_the_file_is_added_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "state.sqlite3")
    audit = AuditLog(store.database, 1000)
    for number in range(3):
        audit.add(row(f"req_{number}"), at_us=1_780_000_000_000_000 + number)

    def died(self: WaitingRows) -> None:
        raise _Died

    # Dies after the batch's transaction committed, before the file was emptied.
    monkeypatch.setattr(WaitingRows, "forget", died)
    with pytest.raises(_Died):
        audit.settle()
    monkeypatch.undo()
    # A check answered next writes its row after the batch's, in the same file.
    audit.add(row("req_next"), at_us=1_780_000_000_000_009)
    # Another worker reads: the batch was added already, the row after it was not.
    other = AuditLog(store.database, 1000)
    assert other.count() == 4
    assert other.position_of("app", "req_next") == 1_780_000_000_000_009
    store.close()


def row(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "deployment_id": "1",
        "app_slug": "app",
        "key_id": "2",
        "key_name": "k",
        "outcome": "VALID",
        "blocked_by_rule": None,
        "client_ip": "203.0.113.7",
        "path": "GET /v1/things",
        "user_agent": "pytest",
        "rate_limits": [],
        "timestamp": "2026-05-28T20:26:40Z",
    }


def test_a_snapshot_holds_the_waiting_rows_and_a_restore_drops_the_later_ones(
    client: ContractClient,
) -> None:
    secret = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"  # a demo key of billing-sync
    body = {"principal": {"type": "api_key", "value": secret}, "resource": "/v1/x", "method": "GET"}

    def checked() -> str:
        answer = client.post(CHECK, json=body)
        assert answer.status_code == 200
        return str(answer.get_json()["request_id"])

    def ids() -> set[str]:
        found = client.get(LOGS.format(slug="billing-sync"), headers=AUTH)
        return {row["request_id"] for row in found.get_json()["data"]}

    before = checked()
    assert client.post("/__admin/snapshots", json={"name": "one"}).status_code == 201
    later = checked()  # waits, unread, as the snapshot is put back
    assert client.post("/__admin/snapshots/one/restore").status_code == 204
    assert before in ids()
    assert later not in ids()


def test_a_row_too_large_to_wait_goes_to_the_database_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    audit = AuditLog(store.database, 1000)
    audit.add(row("req_small"), at_us=1)
    large = {**row("req_large"), "path": "GET /" + "x" * (2 << 20)}
    audit.add(large, at_us=2)
    assert audit.count() == 2
    store.close()


def test_files_left_beside_a_deleted_state_hold_nothing_of_the_new_one(tmp_path: Path) -> None:
    """The state file deleted alone, its counters' and waiting rows' files
    left beside it: the state made anew there starts with neither."""
    path = tmp_path / "state.sqlite3"
    store = Store(path)
    audit = AuditLog(store.database, 1000)
    tally = Tally("key", 0, 5, 60_000)
    store.counters.take([tally])
    store.counters.take([tally])
    audit.add(row("req_old"), at_us=1)  # waits
    store.close()
    for side in ("", "-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    assert Path(f"{path}.counters").exists() and Path(f"{path}.audit").exists()
    store = Store(path)
    audit = AuditLog(store.database, 1000)
    assert store.counters.take([tally]) == [Outcome(True, 1)]
    assert audit.count() == 0
    store.close()
