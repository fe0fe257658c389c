"""The tools the benchmark drives: wrk, PostgreSQL and Redis (apt) and Prism
(npm, pinned, into bench/.cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from bench.base import CACHE, PRISM_BIN, PRISM_PACKAGE, PRISM_VERSION, BenchError


def _apt_install(package: str, present: Callable[[], bool]) -> None:
    """``apt-get install -y package`` unless ``present()`` (as root only;
    otherwise a message saying the command): wrk, PostgreSQL and Redis alike."""
    if present():
        return
    if os.geteuid() != 0:
        raise BenchError(f"{package} is missing: `sudo apt-get install -y {package}`")
    print(f"{package} is missing: installing it with apt-get...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        try:
            done = subprocess.run(
                command, env=environment, capture_output=True, text=True, check=False
            )
        except OSError as error:
            raise BenchError(f"{package} is missing and apt-get cannot run: {error}") from None
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    if not present():
        raise BenchError(f"apt-get installed {package} but its programs are not found")


def ensure_wrk() -> str:
    """Path of wrk; installed with apt-get when missing and running as root."""
    _apt_install("wrk", lambda: shutil.which("wrk") is not None)
    found = shutil.which("wrk")
    assert found is not None  # _apt_install raised otherwise
    return found


def ensure_postgres() -> None:
    """Debian's PostgreSQL server programs, installed with apt-get when missing
    (as root), for the replicas part."""
    from mockserver.tooling.postgres_cluster import bin_dir

    _apt_install("postgresql", lambda: bin_dir() is not None)


def ensure_redis() -> None:
    """Debian's redis-server, installed with apt-get when missing (as root),
    for the replicas' counters (``--redis``)."""
    from mockserver.tooling.redis_server import program

    _apt_install("redis-server", lambda: program() is not None)


def _installed_prism_version() -> str | None:
    manifest = CACHE / "node_modules" / PRISM_PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_prism() -> Path:
    """Prism's command, installed quietly into bench/.cache (git-ignored) if needed.

    A cache of its own, rather than a global install, so that the benchmark
    always measures the pinned version and leaves nothing else behind.
    """
    if PRISM_BIN.exists() and _installed_prism_version() == PRISM_VERSION:
        return PRISM_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is missing (Prism is installed with it): apt-get install -y npm")
    print(f"installing {PRISM_PACKAGE}@{PRISM_VERSION} into {CACHE}...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    command = [
        npm,
        "install",
        "--prefix",
        str(CACHE),
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        f"{PRISM_PACKAGE}@{PRISM_VERSION}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not PRISM_BIN.exists():
        raise BenchError(f"npm install of Prism failed:\n{done.stdout}{done.stderr}")
    return PRISM_BIN
