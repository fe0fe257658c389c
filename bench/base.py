"""Paths, pins and names shared by every part of the benchmark."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CACHE = BENCH / ".cache"
SPEC = REPO / "openapi.yaml"
# Pinned, so that a rerun next month measures the same Prism.
PRISM_PACKAGE = "@stoplight/prism-cli"
PRISM_VERSION = "5.14.2"
PRISM_BIN = CACHE / "node_modules" / ".bin" / "prism"

API_KEY = "sk_test_mock"
HOST = "127.0.0.1"
MIB = 1024 * 1024

MOCKSERVER = "mockserver"
PRISM = "prism"
SERVERS = (MOCKSERVER, PRISM)
# Workload name -> wrk script.
WORKLOADS = {"create": BENCH / "create.lua", "mix": BENCH / "mix.lua"}


class BenchError(RuntimeError):
    """The benchmark itself cannot go on (a tool is missing, a server did not start)."""
