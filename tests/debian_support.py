"""A program the tests need from a Debian package, installed when missing
(as root, the way CI runs), as the browser tests install Chromium."""

import os
import shutil
import subprocess

import pytest


def ensure_program(program: str, package: str) -> str:
    """The path of ``program``, after ``apt-get install -y package`` if it is
    missing; fails the run, saying how to install it, when it cannot be."""
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{program} is missing; as root: apt-get update && apt-get install -y {package}",
            pytrace=False,
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=1200
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}",
                pytrace=False,
            )
    found = shutil.which(program)
    if found is None:
        pytest.fail(f"apt-get installed {package} but {program} is still missing", pytrace=False)
    return found
