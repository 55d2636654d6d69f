from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _vcmctc_home(tmp_path_factory):
    """vcmctc's per-user folder (cache key, user anchors) lives in a temporary folder, so tests
    never touch the real one; subprocesses inherit it through the environment."""
    import os

    old = os.environ.get("VCMCTC_HOME")
    os.environ["VCMCTC_HOME"] = str(tmp_path_factory.mktemp("vcmctc-home"))
    yield
    if old is None:
        os.environ.pop("VCMCTC_HOME", None)
    else:
        os.environ["VCMCTC_HOME"] = old


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``vcmctc ARGS...`` in-process; returns exit code, stdout and stderr."""
    from vcmctc.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
