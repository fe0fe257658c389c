"""One line per request on standard output: readable on a terminal, JSON for machines.

``text`` (the default) is coloured when standard output is a terminal and
``NO_COLOR`` is not set; ``json`` writes one object per line; ``off`` writes
nothing (for benchmarks and noisy CI logs; the journal still records).
A request of a named session (X-Mockserver-Session) says so: ``session``
in JSON (null for the default one), ``[name]`` after the time in text.
"""

import json
import os
import sys
from typing import Any, TextIO

from mockserver.http.printable import json_line, printable

LOG_FORMATS = ("text", "json", "off")
_RESET = "\033[0m"
_COLOURS = {2: "\033[32m", 3: "\033[36m", 4: "\033[33m", 5: "\033[31m"}


def _first_error(entry: dict[str, Any]) -> str:
    if not entry["errors"]:
        return ""
    error = entry["errors"][0]
    where = error.get("field") or error.get("parameter")
    more = len(entry["errors"]) - 1
    text = error.get("message", "")
    text += f" ({where})" if where else ""
    return text + (f" (+{more} more)" if more else "")


class RequestLog:
    def __init__(self, log_format: str = "text", stream: TextIO | None = None) -> None:
        self.format = log_format
        self.stream = stream or sys.stdout
        self.colour = log_format == "text" and self.stream.isatty() and "NO_COLOR" not in os.environ

    def write(self, entry: dict[str, Any]) -> None:
        if self.format == "off":
            return
        if self.format == "json":
            line = json_line(
                json.dumps(
                    {
                        "time": entry["time"],
                        "session": entry.get("session"),
                        "method": entry["method"],
                        "path": entry["path"],
                        "status": entry["status"],
                        "duration_ms": entry["duration_ms"],
                        "operation_id": entry["operation_id"],
                        "error": _first_error(entry) or None,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            status = str(entry["status"])
            if self.colour:
                status = f"{_COLOURS.get(entry['status'] // 100, '')}{status}{_RESET}"
            method, path = printable(entry["method"]), printable(entry["path"])
            session = entry.get("session")
            where = f" [{session}]" if session else ""  # a name is letters, digits, - _ .
            line = f"{entry['time'][11:23]}{where} {method} {path} {status} "
            line += f"{entry['duration_ms']:.1f}ms"
            if entry["status"] >= 400 and entry["errors"]:
                line += f"  {printable(_first_error(entry))}"
        print(line, file=self.stream, flush=True)
