import sys

import pytest

from vcmctc.errors import UserError
from vcmctc.registry import Registry


def test_registry_lazy_duplicates_and_suggestions():
    reg = Registry("metric")
    reg.register("json-dumps", "json:dumps")
    reg.register("path-join", "os.path:join")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("json-dumps", "json:loads")
    with pytest.raises(UserError, match="unknown metric 'json-dump'; did you mean json-dumps"):
        reg.get("json-dump")
    import json, os
    assert reg.get("json-dumps") is json.dumps and reg.get("path-join") is os.path.join
    assert reg.names() == ["json-dumps", "path-join"]


def test_import_vcmctc_is_light():
    import subprocess
    code = ("import sys, vcmctc, vcmctc.ctc.editions, vcmctc.rate; "
            "print(','.join(m for m in ('pandas','pycocotools','torch','scipy','matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_imports_no_numeric_library():
    """``vcmctc --help`` loads the command line only: no numpy, pandas, scipy or
    importlib.metadata (each command imports what it needs when it runs)."""
    import subprocess
    code = ("import sys\nfrom vcmctc.cli import main\ncode = main(['--help'])\n"
            "heavy = ('numpy', 'pandas', 'scipy', 'pycocotools', 'importlib.metadata')\n"
            "print(code, ','.join(m for m in heavy if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
    assert out.stderr.strip() == "0"


def test_kept_root_help_is_the_cli_rendering():
    """``vcmctc --help`` prints cli/help.txt without importing the command line: that file
    must be what Typer renders now (after changing a command: ``python -c "from
    vcmctc.console import write_help; write_help()"``)."""
    from vcmctc import console

    with open(console.HELP_FILE, encoding="utf-8") as fh:
        kept = fh.read()
    assert kept == console.rendered_help()
    assert kept.startswith("Usage: vcmctc [OPTIONS] COMMAND")


@pytest.mark.parametrize("columns, kept", [("80", True), ("200", True), ("60", False)])
def test_console_help_without_the_cli_on_wide_terminals(columns, kept):
    """On a terminal of 80 columns or more the console script prints the kept help and loads
    no Typer; a narrower one gets Typer's own (re-wrapped) rendering."""
    import os
    import subprocess

    code = ("import sys\nsys.argv = ['vcmctc', '--help']\nfrom vcmctc.console import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, 'typer' in sys.modules, file=sys.stderr)")
    env = {**os.environ, "COLUMNS": columns}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    from vcmctc import console

    with open(console.HELP_FILE, encoding="utf-8") as fh:
        text = fh.read()
    assert out.stderr.split() == ["0", str(not kept)]
    assert (out.stdout == text) is kept
    assert out.stdout.startswith("Usage: vcmctc [OPTIONS] COMMAND")
