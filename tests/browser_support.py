"""What the browser tests need around them: Debian's Chromium, Playwright,
a second origin to call the API from, screenshots to look at, and the
figures of the usage view read as a person reads them.

No browser is ever downloaded: Playwright drives /usr/bin/chromium, which
comes from Debian's ``chromium`` package (installed here when missing and
running as root).
"""

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from contract import assert_conforms
from local_servers import serving

CHROMIUM = Path("/usr/bin/chromium")
# Background networking off, or Chromium floods a closed network with calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing; fails the run when it cannot be."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "Install it as root with: apt-get update && apt-get install -y chromium",
            pytrace=False,
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=1200
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed with exit code {done.returncode}:\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}",
                pytrace=False,
            )
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is still missing", pytrace=False)
    return CHROMIUM


def require_playwright() -> ModuleType:
    """playwright.sync_api, or a failure that says how to get it (never a skip)."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail(
            "the playwright package is missing: pip install -e '.[test]' "
            "(never `playwright install`: the tests use Debian's Chromium)",
            pytrace=False,
        )
    return sync_api


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port; yields its origin.

    Another port is another origin: a page served here that calls mockserver
    is a cross-origin caller, as a frontend dev server would be.
    """

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as origin:
        yield origin


@dataclass
class Tab:
    """A browser page, with what went wrong on it (script errors, blocked loads)
    and the answers of the Wacht API it got (its own calls, as the usage view's)."""

    page: Any  # playwright.sync_api.Page
    problems: list[str] = field(default_factory=list)
    api_answers: list[Any] = field(default_factory=list)  # playwright.sync_api.Response

    def watch(self) -> "Tab":
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        return self

    def _response(self, response: Any) -> None:
        if urlsplit(response.url).path.startswith("/api-auth/"):
            self.api_answers.append(response)

    def assert_api_answers_conform(self) -> int:
        """Validate every API answer the page got since the last call against
        openapi.yaml (before it navigates away); how many there were."""
        answers, self.api_answers = self.api_answers, []
        for response in answers:
            headers = {"Content-Type": response.headers.get("content-type", "")}
            body = response.json() if response.body() else None
            path = urlsplit(response.url).path
            assert_conforms(response.request.method, path, response.status, headers, body)
        return len(answers)

    def _console(self, message: Any) -> None:
        # A refused fetch is logged as an error by Chromium and may be what a test
        # wants; a Content-Security-Policy violation never is.
        if "Content Security Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_no_problems(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


# --- reading the usage view ----------------------------------------------------------


def figure(tab: Tab, name: str) -> Any:
    """The headline figure called ``name`` (its <dd>)."""
    term = tab.page.locator("dt").filter(has_text=re.compile(f"^{name}$"))
    return tab.page.locator("#figures-list div").filter(has=term).locator("dd")


def shown_count(tab: Tab, name: str) -> int:
    return int((figure(tab, name).text_content() or "").replace(",", ""))


def set_hidden(tab: Tab, hidden: bool) -> None:
    """What the browser does when the tab is switched away from, or back to
    (headless Chromium's tabs are never hidden on their own)."""
    tab.page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def edit_yaml(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(document)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


# A frontend as a developer would write it, served from another origin: it
# creates an app with fetch() (a POST with Authorization and a JSON body, so
# the browser sends a CORS preflight first) and shows what came back.
FRONTEND_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A frontend on another origin</title></head>
<body>
  <h1>Create an API auth app</h1>
  <p>This page: <code id="origin"></code></p>
  <button type="button" id="create">Create</button>
  <p>Status: <output id="status">not sent</output></p>
  <p>Created app: <output id="slug"></output></p>
  <pre id="response"></pre>
  <script>
    "use strict";
    const settings = new URLSearchParams(window.location.search);
    const show = (id, text) => { document.getElementById(id).textContent = text; };
    show("origin", window.location.origin);
    document.getElementById("create").addEventListener("click", async () => {
      show("status", "sending");
      try {
        const response = await fetch(settings.get("api") + "/api-auth/apps", {
          method: "POST",
          headers: {
            "Authorization": "Bearer " + settings.get("key"),
            "Content-Type": "application/json",
          },
          body: JSON.stringify({
            app_slug: settings.get("slug"),
            name: "Made from another origin",
            key_prefix: "sk_live",
          }),
        });
        const app = await response.json();
        show("status", String(response.status));
        show("slug", app.app_slug ?? "");
        show("response", JSON.stringify(app, null, 2));
      } catch (error) {
        show("status", "fetch failed: " + error);
      }
    });
  </script>
</body>
</html>
"""


# A page on another origin that tries what a malicious or merely curious page
# could: read the journal and reset the state of a server with no admin token,
# once with a readable fetch and once "blind" (no-cors, which needs no
# preflight and whose answer the page never sees), and, like any frontend,
# create an app through the Wacht API.
SNOOPING_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A page on another origin</title></head>
<body>
  <h1>Another origin tries the admin API</h1>
  <p>This page: <code id="origin"></code></p>
  <button type="button" id="try">Try</button>
  <ul>
    <li>Create an app (Wacht API): <output id="api">not sent</output></li>
    <li>Read GET /__admin/requests: <output id="read">not sent</output></li>
    <li>POST /__admin/reset: <output id="reset">not sent</output></li>
    <li>POST /__admin/reset, no-cors: <output id="blind-reset">not sent</output></li>
  </ul>
  <p>Finished: <output id="done">no</output></p>
  <script>
    "use strict";
    const settings = new URLSearchParams(window.location.search);
    const api = settings.get("api");
    const show = (id, text) => { document.getElementById(id).textContent = text; };
    show("origin", window.location.origin);
    const attempt = async (id, url, options, read) => {
      try {
        const response = await fetch(url, options);
        show(id, response.type === "opaque" ? "sent, answer hidden" : await read(response));
      } catch (error) {
        show(id, "fetch failed: " + error);
      }
    };
    document.getElementById("try").addEventListener("click", async () => {
      await attempt("api", api + "/api-auth/apps", {
        method: "POST",
        headers: {
          "Authorization": "Bearer " + settings.get("key"),
          "Content-Type": "application/json",
        },
        body: JSON.stringify({
          app_slug: settings.get("slug"), name: "Made by the snooping page", key_prefix: "sk_live",
        }),
      }, async (response) => response.status + " " + (await response.json()).app_slug);
      await attempt("read", api + "/__admin/requests", {}, async (response) =>
        response.status + " " + (await response.text()).slice(0, 200));
      await attempt("reset", api + "/__admin/reset", { method: "POST" },
        async (response) => String(response.status));
      await attempt("blind-reset", api + "/__admin/reset", { method: "POST", mode: "no-cors" },
        async (response) => String(response.status));
      show("done", "yes");
    });
  </script>
</body>
</html>
"""
