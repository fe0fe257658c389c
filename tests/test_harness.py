"""mockserver.tooling.testing, the harness behind the pytest plugin: it sees
the banner however the output arrives, and leaves no process behind."""

import os
import select
import sys

import pytest

from mockserver.tooling.testing import ServerDidNotStart, run_server

# A stand-in server: prints a start-up line, the banner and the key line in
# ONE write, starts a worker in its own process group, then waits forever.
FAKE_SERVER = """
import os, signal, subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
sys.stdout.write(f"worker {worker.pid}\\nlistening on http://127.0.0.1:9\\ndev key: k\\n")
sys.stdout.flush()
signal.pause()
"""


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_banner_that_arrives_with_other_lines_is_seen_and_the_group_is_stopped() -> None:
    with run_server(command=[sys.executable, "-c", FAKE_SERVER], timeout=10) as server:
        assert server.base_url == "http://127.0.0.1:9"
        worker = int(server.output[0].split()[1])
        assert is_running(worker)
        assert server.output[2] == "dev key: k"
        worker_exit = os.pidfd_open(worker)  # readable once the worker has ended
    try:
        # The whole process group went with the server.
        assert select.select([worker_exit], [], [], 10)[0], "the worker outlived the server"
    finally:
        os.close(worker_exit)


def test_a_server_that_dies_before_its_banner_is_reported_with_its_output() -> None:
    script = "import sys; print('mockserver: bad settings', flush=True); sys.exit(2)"
    with (
        pytest.raises(ServerDidNotStart, match="bad settings"),
        run_server(command=[sys.executable, "-c", script], timeout=30),
    ):
        pass


def test_a_server_that_never_announces_itself_is_stopped_after_the_timeout() -> None:
    script = "import os, signal; print(os.getpid(), flush=True); signal.pause()"
    with (
        pytest.raises(ServerDidNotStart) as refused,
        run_server(command=[sys.executable, "-c", script], timeout=1),
    ):
        pass
    pid = int(str(refused.value).splitlines()[1])
    assert not is_running(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
