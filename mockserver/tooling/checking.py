"""``mockserver check`` and ``mockserver verify``: the contract checks as commands.

``check`` validates a spec and a fixture directory without serving them, so
CI can run it on a change of the contract. ``verify`` runs this project's
schemathesis checks (every phase, every check, the settings in
``schemathesis.toml``) against any server that claims to implement the spec:
the team's own backend, a staging deployment, or mockserver itself.
"""

import subprocess
import sys
from pathlib import Path

from mockserver.backend.fixtures import FixtureError, load_fixtures
from mockserver.backend.operations import OPERATIONS
from mockserver.contract.spec import SpecError, load_spec

CONTRACT_CHECKS_CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


def check(spec_path: Path, fixtures_dir: Path) -> list[str]:
    """Every problem of the spec and the fixtures; an empty list means servable."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    try:
        spec = load_spec(spec_path)
    except SpecError as error:
        return [str(error)]
    problems = [
        f"{spec_path}: {' > '.join(map(str, error.absolute_path)) or 'document'}: "
        f"{error.message.splitlines()[0]}"
        for error in OpenAPIV31SpecValidator(spec.document).iter_errors()
    ]
    problems += [
        f"{spec_path}: {operation.method} {operation.path}: mockserver has no handler for "
        f"operationId {operation.operation_id!r}"
        for operation in spec.operations
        if operation.operation_id not in OPERATIONS
    ]
    if problems:  # fixtures are checked against the spec: only against a sound one
        return problems
    try:
        load_fixtures(fixtures_dir, spec)
    except FixtureError as error:
        problems += error.problems
    return problems


def verify(
    base_url: str,
    spec_path: Path,
    key: str,
    *,
    junit: Path | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
) -> int:
    """Run schemathesis against ``base_url``; its exit code (0 when it conforms)."""
    try:
        import schemathesis  # noqa: F401 - only to say clearly when it is missing
    except ImportError:
        print(
            "mockserver verify needs schemathesis: pip install 'mockserver[verify]'",
            file=sys.stderr,
        )
        return 2
    command = [
        sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; "
        "sys.exit(schemathesis())",
        "--config-file", str(CONTRACT_CHECKS_CONFIG),
        "run", str(spec_path),
        "--url", base_url.rstrip("/"),
        "--header", f"Authorization: Bearer {key}",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", "all",
        "--mode", "all",
    ]  # fmt: skip
    if max_examples is not None:
        command += ["--max-examples", str(max_examples)]
    if seed is not None:
        command += ["--seed", str(seed)]
    if junit is not None:
        command += ["--report", "junit", "--report-junit-path", str(junit)]
    return subprocess.run(command, check=False).returncode
