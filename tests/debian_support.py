"""Debian packages a test needs, installed with apt-get when missing (as
root, as CI runs), or a failure that says how: shared by the tests that start
real servers (PostgreSQL, Redis), as the browser tests install Chromium."""

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

import pytest


def ensure_packages(packages: Sequence[str], present: Callable[[], bool]) -> None:
    """Install ``packages`` unless ``present()`` already says they are there."""
    if present():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"this test needs {', '.join(packages)}; as root: "
            f"apt-get update && apt-get install -y {' '.join(packages)}",
            pytrace=False,
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=1200
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}",
                pytrace=False,
            )
    if not present():
        pytest.fail(f"apt-get installed {', '.join(packages)}, still not found", pytrace=False)


def ensure_program(program: str, package: str) -> str:
    """The path of ``program``, after ``apt-get install -y package`` if it is missing."""
    ensure_packages([package], lambda: shutil.which(program) is not None)
    found = shutil.which(program)
    assert found is not None  # ensure_packages failed the run otherwise
    return found
