"""`python bench/run.py`: the benchmark's command (see bench/README.md and bench/cli.py)."""

import sys
from pathlib import Path

if not __package__:
    # Run as a file, Python puts bench/ itself first on sys.path; the package
    # `bench` is found from the top of the repository.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.cli import main, run_in_dev_venv

if __name__ == "__main__":
    run_in_dev_venv()
    sys.exit(main())
