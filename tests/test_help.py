"""Every subcommand's help shows its defaults, and the options shared by several commands (``--device``,
``--quiet``) are the same everywhere (issue 24)."""
from __future__ import annotations

import argparse
import re

import pytest

from deeptag.cli import build_parser, main
from deeptag.commands import COMMANDS

NETWORK_COMMANDS = ("track", "evaluate", "train", "benchmark", "batch")


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser([command])
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return choices[command]


def option(parser: argparse.ArgumentParser, name: str) -> argparse.Action:
    return next(a for a in parser._actions if name in a.option_strings)


def help_entry(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The lines that ``--help`` prints for ``action``."""
    return parser._get_formatter()._format_action(action)


def needs_default(action: argparse.Action) -> bool:
    """An option that takes a value and may be left out (not a flag, not required, not positional)."""
    return bool(action.option_strings) and not action.required and action.nargs != 0


@pytest.mark.parametrize("command", COMMANDS)
def test_every_optional_value_shows_its_default(command):
    parser = subparser(command)
    missing = [a.option_strings[0] for a in parser._actions
               if needs_default(a) and not re.search(r"\bdefault\b", help_entry(parser, a))]
    assert not missing, f"deeptag {command} --help shows no default for {missing}"


@pytest.mark.parametrize("command, name, shown", [("train", "--lr", "(default: 0.0005)"),
                                                  ("train", "--sequences-per-step", "(default: 1)"),
                                                  ("benchmark", "--train-steps", "(default: 20000)"),
                                                  ("simulate", "--size", "(default 192)"),
                                                  ("report", "--fps", "(default 4)"),
                                                  ("track", "--device", "(default: cpu)")])
def test_help_shows_the_default_value(capsys, command, name, shown):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    text = " ".join(out[out.index("options:"):].split())  # after the usage; argparse wraps lines
    entry = text[text.index(name + " "):]
    assert shown in entry[:400]


def test_flags_show_no_default_of_false():
    text = " ".join(help_entry(subparser("track"), option(subparser("track"), "--force")).split())
    assert "default" not in text


@pytest.mark.parametrize("command", NETWORK_COMMANDS)
def test_device_is_the_same_on_every_network_command(command):
    reference = option(subparser("track"), "--device")
    device = option(subparser(command), "--device")
    assert (device.default, device.help, device.choices) == ("cpu", reference.help, None)


@pytest.mark.parametrize("command", COMMANDS)
def test_quiet_on_every_command(command):
    assert option(subparser(command), "--quiet").nargs == 0


@pytest.mark.parametrize("command, device, message", [
    ("train", "tpu", "--device: 'tpu' is not a device"), ("benchmark", "auto", "--device: 'auto' is not a device"),
    ("train", "cuda:7", "--device cuda:7"), ("benchmark", "cuda", "--device cuda")])
def test_train_and_benchmark_check_the_device_as_track_does(tmp_path, capsys, command, device, message):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    data = tmp_path / "data.npz"
    data.write_bytes(b"")  # never read: the device is checked first
    out = tmp_path / "out"
    assert main([command, str(data), "--out", str(out), "--device", device]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()
