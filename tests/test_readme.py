"""The README's walkthrough, run as a newcomer would paste it, against a live
server: every ```sh block between the walkthrough's HTML comments, in order,
in one shell, each block's output compared with the ```text block under it
(`...` matches anything within a line). A README that no longer works fails
here.

The server's clock is frozen, so the hour window the walkthrough fills and
then leaves by moving the clock is the same on every run (with a live clock a
run could straddle an hour boundary). The SDK block runs `npm install` in a
temporary folder; npm takes the tarballs from the test cache when they are
there (tests/sdk_support.py).
"""

import os
import re
from pathlib import Path

from local_servers import run_to_exit
from sdk_support import CACHE

from mockserver.tooling.testing import run_server

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
DEFAULT_URL = "http://127.0.0.1:4010"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_MARK = "@@walkthrough step {}@@"


def walkthrough() -> list[tuple[str, str | None]]:
    """(commands, expected output or None) for each ```sh block, in order."""
    text = README.read_text()
    assert text.count(START) == 1 and text.count(END) == 1, "one marked walkthrough"
    section = text.split(START)[1].split(END)[0]
    steps: list[tuple[str, str | None]] = []
    for language, body in _FENCE.findall(section):
        if language == "sh":
            steps.append((body, None))
        elif language == "text":
            assert steps and steps[-1][1] is None, "a ```text block follows its ```sh block"
            steps[-1] = (steps[-1][0], body)
    return steps


def printed_like(expected: str, printed: str) -> bool:
    """Whether ``printed`` has the lines of ``expected``, each ``...`` in it
    standing for any text within its line."""
    pattern = "[^\n]*".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, printed.strip()) is not None


def test_printed_like_takes_dots_within_a_line_only() -> None:
    assert printed_like('{"id":"...","ok":true}', '{"id":"123","ok":true}\n')
    assert not printed_like('{"id":"...","ok":true}', '{"id":"123","ok":false}')
    assert not printed_like("a...b", "a\nb")


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    steps = walkthrough()
    assert len(steps) >= 5 and all(expected for _, expected in steps)
    with run_server(["--freeze-time", "2026-06-28T10:15:30Z"]) as server:
        script = ["set -euo pipefail"]
        for number, (commands, _) in enumerate(steps):
            script += [f"echo '{_MARK.format(number)}'", commands]
        text = "\n".join(script).replace(DEFAULT_URL, server.base_url)
        environment = {**os.environ, "npm_config_cache": str(CACHE / "npm")}
        environment.update(npm_config_prefer_offline="true", npm_config_update_notifier="false")
        (tmp_path / "walkthrough.sh").write_text(text)
        done = run_to_exit(["bash", "walkthrough.sh"], cwd=tmp_path, env=environment, timeout=600)
    assert done.returncode == 0, f"the walkthrough failed:\n{done.stdout}\n{done.stderr}"
    printed = re.split(r"@@walkthrough step \d+@@\n", done.stdout)[1:]
    assert len(printed) == len(steps)
    for (commands, expected), output in zip(steps, printed, strict=True):
        assert expected is not None
        assert printed_like(expected, output), (
            f"the README says\n{commands}\nprints\n{expected}\nbut it printed\n{output}"
        )
