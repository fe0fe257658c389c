"""The package's layers, declared in pyproject.toml, hold: every import runs
from serving down to the contract, never back up."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        # The package is found where it lies in ``root``, not where pip put it.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


def test_the_package_keeps_its_layers() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_back_up_breaks_the_contract(tmp_path: Path) -> None:
    """The contract names every layer: the store importing the pipeline is caught."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "mockserver", tmp_path / "mockserver")
    store = tmp_path / "mockserver" / "state" / "store.py"
    store.write_text(store.read_text() + "\nimport mockserver.http.pipeline  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "mockserver.state.store -> mockserver.http.pipeline" in result.stdout
