"""What the container test needs: podman (installed with apt-get when missing),
a Debian base image made with mmdebstrap, the image built from the
Containerfile, and containers that are always removed.

Measured on these machines: podman needs the vfs storage driver, runc,
cgroupfs, the host's network and explicit ulimits (the sandbox refuses to
raise them); the build reaches the package registry through a proxy whose
certificate only the host's CA bundle knows.
"""

import contextlib
import hashlib
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mockserver-test"
PACKAGES = ["podman", "runc", "mmdebstrap", "uidmap", "fuse-overlayfs", "slirp4netns"]
SUITE = "bookworm"
MMDEBSTRAP = ["--variant=minbase", "--include=python3,python3-venv,ca-certificates", SUITE]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
_LISTENING = re.compile(r"listening on http://")


def podman_command() -> list[str]:
    store = CACHE / "podman"
    return [
        "podman",
        *("--root", str(store / "storage"), "--runroot", str(store / "run")),
        *("--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"),
    ]


def run(command: Sequence[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run a set-up step; a failure fails the test with its output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(command[:6])} ... failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
            pytrace=False,
        )
    return done


def ensure_packages() -> None:
    """podman, runc and mmdebstrap from Debian, installed when missing (as root)."""
    if all(shutil.which(tool) for tool in ("podman", "runc", "mmdebstrap")):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            "the container test needs podman, runc and mmdebstrap; as root: "
            f"apt-get update && apt-get install -y {' '.join(PACKAGES)}",
            pytrace=False,
        )
    os.environ.setdefault("DEBIAN_FRONTEND", "noninteractive")
    run(["apt-get", "update", "-q"])
    run(["apt-get", "install", "-y", "-q", *PACKAGES])


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (not its security archive)."""
    sources = Path("/etc/apt")
    texts = [p.read_text() for p in [sources / "sources.list"] if p.exists()]
    texts += [p.read_text() for p in sorted((sources / "sources.list.d").glob("*.sources"))]
    texts += [p.read_text() for p in sorted((sources / "sources.list.d").glob("*.list"))]
    for text in texts:
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for url in re.findall(r"https?://\S+/debian/?(?=\s|$)", line):
                return url
    return "http://deb.debian.org/debian"


def base_image() -> str:
    """A Debian image made with mmdebstrap, imported once and kept in the cache."""
    mirror = debian_mirror()
    key = hashlib.sha256(" ".join([*MMDEBSTRAP, mirror]).encode()).hexdigest()[:12]
    tag = f"localhost/mockserver-test-base:{key}"
    if subprocess.run([*podman_command(), "image", "exists", tag]).returncode == 0:
        return tag
    tarball = CACHE / f"debian-{SUITE}-{key}.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tar")
        run(["mmdebstrap", *MMDEBSTRAP, str(partial), mirror])
        partial.rename(tarball)
    run([*podman_command(), "import", str(tarball), tag])
    return tag


def _index_url() -> str | None:
    """The host's package index, if it is a URL the build can reach too."""
    url = os.environ.get("PIP_INDEX_URL")
    if url is None:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
        )
        url = done.stdout.strip() if done.returncode == 0 else None
    return url if url and url.startswith(("http://", "https://")) else None


def build_image(repository: Path) -> str:
    """The Containerfile built on the Debian base; podman's layer cache makes
    an unchanged rebuild take seconds."""
    ensure_packages()
    base = base_image()
    tag = "localhost/mockserver-test:latest"
    command = [*podman_command(), "build", "--format", "docker", "--network", "host", *LIMITS]
    command += ["--build-arg", f"BASE={base}", "-t", tag, "-f", "Containerfile"]
    if CA_BUNDLE.exists():
        command += ["--secret", f"id=pip_cert,src={CA_BUNDLE}"]
    if index := _index_url():
        command += ["--build-arg", f"PIP_INDEX_URL={index}"]
    run([*command, str(repository)])
    return tag


@dataclass
class Container:
    name: str
    base_url: str
    process: subprocess.Popen[str]  # `podman run`, attached: its exit code is the server's
    output: list[str]

    def podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*podman_command(), *args], capture_output=True, text=True, timeout=120
        )

    def stop(self) -> None:
        """SIGTERM to PID 1, as `docker stop` and Kubernetes send."""
        assert self.podman("kill", "--signal", "TERM", self.name).returncode == 0


@contextlib.contextmanager
def running_container(
    image: str, port: int, args: Sequence[str], volumes: Sequence[str], timeout: float = 120
) -> Iterator[Container]:
    """``podman run IMAGE ARGS`` on ``port``, until it says it listens; always removed."""
    name = f"mockserver-test-{uuid.uuid4().hex[:12]}"
    command = [*podman_command(), "run", "--name", name, "--network", "host", *LIMITS]
    # No systemd here for podman's health-check timers: the test runs the check itself.
    command += ["--health-interval", "disable", "-e", f"MOCKSERVER_PORT={port}"]
    command += [item for volume in volumes for item in ("-v", volume)]
    process = subprocess.Popen(
        [*command, image, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    container = Container(name, f"http://127.0.0.1:{port}", process, output)
    try:
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail("the container did not start:\n" + "\n".join(output), pytrace=False)
            if _LISTENING.search(line):
                break
        yield container
    finally:
        subprocess.run([*podman_command(), "rm", "-f", "-t", "0", name], capture_output=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
            process.wait()
