"""Schemathesis fuzzes the served contract: every phase, every check.

The schema is the repository's openapi.yaml; the app is built in-process, so
a failure shows the offending request and the server's traceback together.
The seed is fixed when CI is set; elsewhere each run explores new inputs, and
a failure prints the seed that reproduces it.
"""

import os
from pathlib import Path

import schemathesis

from mockserver import create_app
from mockserver.resources import default_spec_path

HERE = Path(__file__).resolve().parent
CI_SEED = 20261128

config = schemathesis.Config.from_path(HERE / "schemathesis.toml")
schema = schemathesis.openapi.from_path(default_spec_path(), config=config)
schema.app = create_app()
if os.environ.get("CI"):
    schema.config.seed = CI_SEED


@schema.parametrize()
def test_api_conforms_to_openapi_yaml(case: schemathesis.Case) -> None:
    case.call_and_validate()
