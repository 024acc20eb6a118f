"""The command line starts without PyTorch where it needs no network: ``--help``, ``--version`` and
the ``report`` and ``strain`` commands, their parsing and whole runs (issue 26). Each case runs in a fresh
interpreter, since this test process has imported PyTorch long ago. No timing is asserted."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

# Runs the command line's main() on the given arguments, then prints which heavy modules were imported.
PROBE = """
import json, sys
from deeptag.cli import build_parser, main, requested_command
argv = json.loads(sys.argv[1])
parse_only = json.loads(sys.argv[2])
try:
    if parse_only:  # parse as main() does, without running the command
        build_parser([requested_command(argv)]).parse_args(argv)
    else:
        main(argv)
except SystemExit:
    pass
print(json.dumps({name: name in sys.modules for name in ("torch", "matplotlib", "deeptag.commands.track")}),
      file=sys.stderr)
"""


def imported(argv: list[str], parse_only: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(parse_only)],
                          capture_output=True, text=True, timeout=300)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["nonsense"], ["report", "--help"],
                                  ["strain", "--help"]])
def test_help_and_version_do_not_import_torch(argv):
    modules = imported(argv)
    assert not modules["torch"]
    assert not modules["deeptag.commands.track"]


@pytest.mark.parametrize("argv", [["report", "RESULT", "--lv", "60,60,10,20", "--force"],
                                  ["strain", "RESULT", "--mask", "m.nii.gz", "--level", "basal"]])
def test_report_and_strain_parse_without_torch(argv):
    assert not imported(argv, parse_only=True)["torch"]


@pytest.mark.parametrize("command", [["strain", "--lv"], ["report"], ["report", "--lv"]])
def test_strain_and_report_runs_do_not_import_torch(tmp_path, command):
    """Whole runs on a result folder with an error map: strain tables, the report's pictures and strain."""
    from test_strain import RING, make_result_folder, pullback, scaling

    folder = make_result_folder(tmp_path / "result", pullback(scaling(0.95))[None])
    with np.load(folder / "fields.npz") as stored:
        arrays = dict(stored)
    np.savez(folder / "fields.npz", **(arrays | {"uncertainty": np.full((1, 64, 64), 0.5, np.float32)}))
    argv = [command[0], str(folder)] + (["--lv", RING] if "--lv" in command else [])
    modules = imported(argv)
    assert (folder / ("strain/strain.json" if command[0] == "strain" else "report.html")).is_file()
    assert not modules["torch"]


def test_import_deeptag_is_light_and_its_names_still_work():
    code = ("import sys, deeptag; light = 'torch' not in sys.modules; "
            "from deeptag import track_sequence, load_model, read_sequence, Sequence, TrackResult; "
            "import deeptag.fields; print(light, callable(deeptag.track_sequence), deeptag.track.track_sequence "
            "is track_sequence, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == ["True", "True", "True", "True"]


def test_version_and_help_output():
    version = subprocess.run([sys.executable, "-m", "deeptag", "--version"], capture_output=True, text=True,
                             timeout=300)
    import deeptag
    assert version.returncode == 0 and version.stdout.strip() == f"deeptag {deeptag.__version__}"
    listing = subprocess.run([sys.executable, "-m", "deeptag", "--help"], capture_output=True, text=True,
                             timeout=300).stdout
    listing = " ".join(listing.split())  # argparse wraps the lines to the terminal's width
    from deeptag.commands import SUMMARIES
    for name, summary in SUMMARIES.items():
        assert name in listing and summary in listing


def test_the_summaries_are_the_commands_own_help():
    """``deeptag --help`` lists SUMMARIES without importing the commands; they match each command's
    registered help, and every command still registers in full."""
    import argparse

    from deeptag.cli import build_parser
    from deeptag.commands import SUMMARIES

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert helps == SUMMARIES
    for name, sub in action.choices.items():
        assert any(a.dest != "help" for a in sub._actions), name  # registered with its arguments


def test_requested_command():
    from deeptag.cli import requested_command
    assert requested_command(["track", "x.npz", "--out", "o"]) == "track"
    assert requested_command(["--version"]) is None
    assert requested_command(["-h", "strain"]) == "strain"
    assert requested_command(["tarck"]) is None
    assert requested_command([]) is None


def test_default_threads_leave_out_busy_cores(monkeypatch):
    from deeptag import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    for busy, expected in ((0.0, 4), (1.0, 3), (3.0, 1), (9.0, 1), (None, 4)):
        monkeypatch.setattr(threads, "busy_cores", lambda busy=busy: busy)
        assert threads.default_threads() == expected
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)  # 4 of a 64-core machine: its share of the load
    monkeypatch.setattr(threads, "busy_cores", lambda: 32.0)
    assert threads.default_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


def test_busy_cores_reads_this_machine():
    from deeptag import threads

    busy = threads.busy_cores()
    assert busy is None or busy >= 0
    assert 1 <= threads.default_threads() <= max(threads.usable_cores(), int(__import__("os").environ.get(
        "OMP_NUM_THREADS", "0") or 0))
