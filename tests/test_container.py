"""The container image, built from the Containerfile and run with podman.

Base images cannot be pulled here, so the test builds its own Debian base
with mmdebstrap (container_support.py). The base, its tarball and podman's
storage (with the build's layer cache) live under ~/.cache/mockserver-test,
so a rerun builds nothing that has not changed.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_support import Container, build_image, running_container
from postgres_support import PostgresServer
from redis_support import RedisServer
from test_cli import call

from mockserver.tooling.testing import free_port

CREATE = {"app_slug": "in-a-container", "name": "Containerised", "key_prefix": "sk_live"}
# Longer than the server's own grace for in-flight requests (10 s, cli.py):
# an idle server stops at once, a hung one would show here.
STOP_TIMEOUT = 30


@pytest.fixture(scope="module")
def image() -> str:
    return build_image(Path(__file__).resolve().parents[1])


@pytest.fixture
def fixtures_with_own_key(fixture_dir: Path) -> Iterator[Path]:
    deployment = fixture_dir / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("sk_test_mock", "sk_test_container"))
    fixture_dir.chmod(0o755)  # readable by the container's unprivileged user
    yield fixture_dir


def test_the_image_is_healthy_serves_mounted_fixtures_and_is_not_root(
    image: str, fixtures_with_own_key: Path
) -> None:
    port = free_port()
    volumes = [f"{fixtures_with_own_key}:/fixtures:ro"]
    with running_container(image, port, ["--fixtures", "/fixtures"], volumes) as container:
        assert container.podman("healthcheck", "run", container.name).returncode == 0
        status, raw = call(container.base_url, "/api-auth/apps", CREATE, key="sk_test_container")
        assert status == 200 and json.loads(raw)["app_slug"] == CREATE["app_slug"]
        # The bundled dev key is gone: the mounted fixtures are the ones served.
        assert call(container.base_url, "/api-auth/apps", method="GET")[0] == 401
        uid_line = next(line for line in pid_1_status(container) if line.startswith("Uid:"))
        assert "0" not in uid_line.split()[1:], uid_line  # real, effective, saved, fs
        container.stop()
        assert container.process.wait(timeout=STOP_TIMEOUT) == 0


def test_a_state_in_the_mounted_folder_survives_a_new_container(image: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    # :U hands the folder to the container's user, as the README says.
    volumes, args = [f"{state}:/state:U"], ["--state", "/state/mock.sqlite3"]
    with running_container(image, free_port(), args, volumes) as first:
        assert call(first.base_url, "/api-auth/apps", CREATE)[0] == 200
        first.stop()
        assert first.process.wait(timeout=STOP_TIMEOUT) == 0
    with running_container(image, free_port(), args, volumes) as second:
        path = f"/api-auth/apps/{CREATE['app_slug']}"
        status, raw = call(second.base_url, path, method="GET")
        assert status == 200 and json.loads(raw)["name"] == CREATE["name"]


def test_two_containers_are_replicas_of_one_postgresql_state_and_redis(
    image: str, postgres: PostgresServer, redis_server: RedisServer
) -> None:
    """The image carries the replicas extra: two containers on one database
    and one Redis serve one world (host networking reaches the tests' servers)."""
    args = ["--state", postgres.new_database(), "--redis", redis_server.url]
    with (
        running_container(image, free_port(), args, []) as first,
        running_container(image, free_port(), args, []) as second,
    ):
        assert call(first.base_url, "/api-auth/apps", CREATE)[0] == 200
        status, raw = call(second.base_url, f"/api-auth/apps/{CREATE['app_slug']}", method="GET")
        assert status == 200 and json.loads(raw)["name"] == CREATE["name"]
        assert call(second.base_url, "/api-auth/apps", CREATE)[0] == 409  # one world
        for container in (first, second):
            assert container.podman("healthcheck", "run", container.name).returncode == 0


def pid_1_status(container: Container) -> list[str]:
    """/proc/1/status inside the container: PID 1 is mockserver (exec form)."""
    done = container.podman("exec", container.name, "cat", "/proc/1/status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split() == ["Name:", "mockserver"] for line in lines), lines[:2]
    return lines
