"""``mockserver check`` and ``mockserver verify``: the contract checks as commands.

``check`` validates a spec and a fixture directory without serving them, so
CI can run it on a change of the contract. ``verify`` runs this project's
schemathesis checks (every phase, every check, the settings in
``schemathesis.toml``) against any server that claims to implement the spec:
the team's own backend, a staging deployment, or mockserver itself.
"""

import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mockserver.backend.fixtures import FixtureError, load_fixtures
from mockserver.backend.operations import OPERATIONS
from mockserver.contract.spec import Spec, SpecError, escape_pointer_token, load_document

CONTRACT_CHECKS_CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


def standard_problems(spec_path: Path, document: Any) -> list[str]:
    """What the standard validator (openapi-spec-validator) finds, each named
    by its JSON pointer. It runs before anything of mockserver's own reads the
    document, so a document it refuses is reported, never a traceback."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    def pointer(path: Iterable[Any]) -> str:
        return "#" + "".join("/" + escape_pointer_token(str(part)) for part in path)

    try:
        return [
            f"{spec_path}: {pointer(error.absolute_path)}: {error.message.splitlines()[0]}"
            for error in OpenAPIV31SpecValidator(document).iter_errors()
        ]
    except Exception as error:  # the validator itself stumbled: say so, don't crash
        return [f"{spec_path}: the OpenAPI validator could not read it: {error}"]


def check(spec_path: Path, fixtures_dir: Path) -> list[str]:
    """Every problem of the spec and the fixtures; an empty list means servable."""
    try:
        document = load_document(spec_path)
    except SpecError as error:
        return [str(error)]
    problems = standard_problems(spec_path, document)
    try:
        spec = Spec(document, source=str(spec_path))
    except SpecError as error:
        return [*problems, str(error)]
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
    # Hypothesis writes its Unicode tables under .hypothesis/ in the working
    # directory; verify leaves nothing in the project it is run from.
    hypothesis_home = tempfile.TemporaryDirectory(prefix="mockserver-verify-")
    command = [
        sys.executable, "-c",
        "import sys; from hypothesis.configuration import set_hypothesis_home_dir; "
        "set_hypothesis_home_dir(sys.argv.pop(1)); "
        "from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
        hypothesis_home.name,
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
    with hypothesis_home:
        return subprocess.run(command, check=False).returncode
