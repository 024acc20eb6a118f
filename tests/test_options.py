"""Options that mean the same everywhere: --quiet, a bare --adapt before the input, --model bundled,
and help that says what evaluate takes."""
from __future__ import annotations

from pathlib import Path

import pytest
from io_helpers import model_path, tagged_sequence, write_npz  # noqa: F401

from deeptag.cli import build_parser, main
from deeptag.commands.common import adapt_from_args

IMAGES = tagged_sequence(frames=4, height=64, width=64)  # tags of 7 px: 21 on the network grid, as scans show them


def test_quiet_commands_print_nothing_on_success(tmp_path, model_path, capsys):
    write_npz(tmp_path / "scan.npz", IMAGES)
    result = tmp_path / "result"
    commands = [
        ["track", str(tmp_path / "scan.npz"), "--adapt", "0", "--model", str(model_path), "--out", str(result)],
        ["strain", str(result), "--lv", "32,32,8,16"],
        ["report", str(result)],
        ["simulate", "--n", "1", "--size", "32", "--frames", "3", "--out", str(tmp_path / "sims")],
    ]
    for command in commands:
        assert main([*command, "--quiet"]) == 0
        assert capsys.readouterr() == ("", ""), command
    assert (result / "strain" / "strain.json").is_file() and (result / "report.html").is_file()
    assert main(["simulate", "--n", "1", "--size", "32", "--frames", "3", "--out", str(tmp_path / "more")]) == 0
    assert "wrote 1 simulated sequence" in capsys.readouterr().out  # and without --quiet, it says what it did


@pytest.mark.parametrize("command", ["track", "evaluate"])
def test_a_bare_adapt_does_not_swallow_the_input(command):
    args = build_parser().parse_args([command, "--adapt", "scan.npz"] + (["--out", "o"] if command == "track" else []))
    adapt = adapt_from_args(args)
    assert args.sequence == Path("scan.npz") and adapt is not None and adapt.steps > 0
    args = build_parser().parse_args([command, "scan.npz", "--adapt", "12"] + (["--out", "o"] if command == "track" else []))
    assert adapt_from_args(args).steps == 12 and args.sequence == Path("scan.npz")


def test_adapt_given_a_word_after_the_input_is_one_clear_error(tmp_path, capsys):
    assert main(["track", "scan.npz", "--adapt", "many", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "deeptag: error: --adapt takes a number of steps, got 'many'"


def test_track_takes_model_bundled_as_train_init_does(tmp_path, capsys):
    write_npz(tmp_path / "scan.npz", IMAGES)
    assert main(["track", str(tmp_path / "scan.npz"), "--adapt", "0", "--model", "bundled", "--out",
                 str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "fields.npz").is_file()


def test_evaluate_help_says_which_inputs_it_takes(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'landmarks' (T, K, 2)" in text and "deeptag simulate" in text
