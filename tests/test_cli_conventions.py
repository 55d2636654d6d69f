"""Command-line conventions: -h everywhere, shell completion, one flag style (kebab-case long
options), a help text on every parameter, --format json on evaluate, --verbose and --log-file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO


def _commands():
    import typer

    from vcmctc.cli import app

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return out


COMMANDS = _commands()


def test_every_parameter_has_help_and_long_options_are_kebab_case():
    missing, style = [], []
    for path, cmd in COMMANDS:
        for p in cmd.params:
            if not getattr(p, "help", None):
                missing.append(f"vcmctc {' '.join(path)} {p.opts}")
            for opt in [*p.opts, *getattr(p, "secondary_opts", [])]:
                if opt.startswith("--") and not re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", opt):
                    style.append(f"vcmctc {' '.join(path)} {opt}")
        assert cmd.help or cmd.callback.__doc__, path
    assert not missing and not style, (missing, style)
    assert len(COMMANDS) > 15     # the walk did reach the subcommands


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "root")
def test_dash_h_shows_help(cli, path):
    r = cli(*path, "-h")
    assert r.code == 0 and r.out.startswith("Usage: vcmctc") and "-h, --help" in r.out


def test_shell_completion():
    env = {**os.environ, "_VCMCTC_COMPLETE": "complete_bash", "COMP_WORDS": "vcmctc cross",
           "COMP_CWORD": "1"}
    run = [sys.executable, "-m", "vcmctc"]
    out = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["crosscheck"]
    env.update(COMP_WORDS="vcmctc evaluate x --for", COMP_CWORD="3")
    out = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["--format"]
    env.update(_VCMCTC_COMPLETE="source_bash")
    out = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert "complete" in out.stdout and "_vcmctc_completion" in out.stdout
    r = subprocess.run([*run, "-h"], capture_output=True, text=True, timeout=60)
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout


def test_evaluate_format_json(cli, tmp_path):
    example = REPO / "examples" / "jbe2024" / "fcm-dcvc-fm"
    r = cli("evaluate", example, "--allow-incomplete", "--out", tmp_path / "out", "-f", "json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)                 # stdout is JSON only (progress on stderr)
    from vcmctc.results.model import load_results

    results = load_results(tmp_path / "out" / "results.json")
    assert summary["results"] == str(tmp_path / "out" / "results.json")
    assert summary["signature"] == results.signature["line"]
    assert [s["name"] for s in summary["sequences"]] == [s.name for s in results.sequences]
    assert [s["bd_rate"] for s in summary["sequences"]] == [s.bd_rate for s in results.sequences]
    assert summary["overall"]["status"] == results.overall.status
    assert summary["failed_points"] == [] and "evaluating" in r.err


def test_verbose_and_log_file(cli, tmp_path):
    fixture = REPO / "tests" / "golden" / "results_small.json"
    log = tmp_path / "vcmctc.log"
    r = cli("--log-file", log, "report", fixture, "-o", tmp_path / "r.md")
    assert r.code == 0 and "report" not in r.err.replace(str(tmp_path / "r.md"), "")
    text = log.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ DEBUG vcmctc: report .*r\.md "
                     r"written from .*results_small\.json$", text, re.M)
    assert "exit code 0" in text
    r = cli("-v", "report", fixture, "-o", tmp_path / "r.html")
    assert r.code == 0 and "vcmctc: report" in r.err and "written from" in r.err
    # errors go to the log file too (and, as always, one line on stderr)
    r = cli("--log-file", log, "report", tmp_path / "missing.json")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "ERROR vcmctc: error: " in log.read_text() and "exit code 2" in log.read_text()
    r = cli("--log-file", tmp_path / "no" / "such" / "dir.log", "report", fixture)
    assert r.code == 2 and "cannot write the log file" in r.err
