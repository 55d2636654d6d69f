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
