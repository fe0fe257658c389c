"""What tests/test_sdk.py needs: Wacht's JS backend SDK installed from npm into
a temporary folder, one run of tests/sdk/api_auth.mjs against a live server,
and its results read back, each raw answer checked against its contract.

The version is pinned by tests/sdk/package-lock.json (with every tarball's
integrity); `npm ci` installs exactly it, per run, into the temporary folder.
npm keeps the tarballs it fetched in ~/.cache/mockserver-test/npm (the
container test's cache), so a machine downloads them once; --prefer-offline
makes later runs take them from there without asking the registry.
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from local_servers import run_to_exit
from werkzeug.datastructures import Headers

SDK_DIR = Path(__file__).parent / "sdk"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mockserver-test"
NODE_MAJOR = 20  # @wacht/backend says node >= 20 (and @noble/curves >= 20.19)
UNDEFINED = "<undefined>"  # how the script writes a call that returned undefined


def _require_node() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(f"the SDK test needs Node.js >= {NODE_MAJOR} and npm on PATH", pytrace=False)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < NODE_MAJOR:
        pytest.fail(f"the SDK needs Node.js >= {NODE_MAJOR}, found {version!r}", pytrace=False)


def install_sdk(folder: Path) -> Path:
    """The pinned SDK in ``folder``/node_modules, beside a copy of the script."""
    _require_node()
    for name in ("package.json", "package-lock.json", "api_auth.mjs"):
        shutil.copy(SDK_DIR / name, folder / name)
    command = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"]
    command += ["--cache", str(CACHE / "npm")]
    done = run_to_exit(command, cwd=folder, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"npm ci failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}", pytrace=False)
    return folder / "api_auth.mjs"


@dataclass
class SdkRun:
    """One run of api_auth.mjs: each labelled call's value or error, and the
    raw exchanges underneath, in order."""

    calls: dict[str, dict[str, Any]]
    exchanges: list[dict[str, Any]]
    exports: dict[str, list[str]]
    called: list[str]

    def value(self, label: str) -> Any:
        """What the SDK returned for ``label`` (it must not have thrown); the
        raw answers underneath are checked against their contract."""
        self._conforming(label)
        outcome = self.calls[label]
        assert outcome["ok"], f"{label}: the SDK threw {outcome.get('error')}"
        return outcome["value"]

    def error(self, label: str) -> dict[str, Any]:
        """What the SDK threw for ``label``: name, statusCode, message."""
        self._conforming(label)
        outcome = self.calls[label]
        assert not outcome["ok"], f"{label}: the SDK returned {outcome.get('value')!r}"
        return outcome["error"]

    def _conforming(self, label: str) -> list["Answer"]:
        """The raw answers to ``label``'s requests (none for the SDK's pure
        helpers), each checked against its contract: openapi.yaml, or the
        gateway's or the admin API's own document."""
        found = [Answer.of(exchange) for exchange in self.exchanges if exchange["label"] == label]
        for answer in found:
            assert_conforms(answer.method, answer.path, answer.status, answer.headers, answer.body)
        return found

    def answers(self, label: str) -> list["Answer"]:
        found = self._conforming(label)
        assert found, f"{label}: no HTTP exchange was recorded"
        return found

    def answer(self, label: str) -> "Answer":
        (only,) = self.answers(label)
        return only


@dataclass
class Answer:
    method: str
    path: str  # with its query
    status: int
    headers: Headers
    body: Any  # parsed JSON, text, or None when empty

    @classmethod
    def of(cls, exchange: dict[str, Any]) -> "Answer":
        headers = Headers(list(exchange["headers"].items()))
        text = exchange["body"]
        body: Any = text or None
        if text and headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(text)
        return cls(exchange["method"], exchange["path"], exchange["status"], headers, body)

    @property
    def message(self) -> str:
        """The single message of an error envelope."""
        (entry,) = self.body["errors"]
        return str(entry["message"])


def run_script(script: Path, base_url: str) -> SdkRun:
    done = run_to_exit(["node", str(script), base_url], cwd=script.parent, timeout=300)
    assert done.returncode == 0, f"api_auth.mjs failed ({done.returncode}):\n{done.stderr}"
    return SdkRun(**json.loads(done.stdout))
