"""Requests to a live server in a session, each answer checked against its document."""

import json
import urllib.error
import urllib.request
from typing import Any

from contract import assert_conforms

KEY = "sk_test_mock"


def send(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    session: str | None = None,
    key: str = KEY,
) -> tuple[int, Any]:
    """One request, answered and checked against its document; a plain-text
    answer (the gateway's refusals) is given back as text."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    if not path.startswith("/gateway/"):
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if session is not None:
        request.add_header("X-Mockserver-Session", session)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    if not raw:
        parsed: Any = None
    elif headers.get_content_type() == "application/json":
        parsed = json.loads(raw)
    else:
        parsed = raw.decode("utf-8")
    assert_conforms(method, path, status, headers, parsed)
    return status, parsed
