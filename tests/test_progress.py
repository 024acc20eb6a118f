"""Progress of the adaptation (issue 24): ``adapt_model`` reports each step to a callback, and ``track``
and ``evaluate`` show a bar with steps and time left on a terminal's stderr, none with ``--quiet`` or
when stderr is not a terminal."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from io_helpers import model_path, tagged_sequence, write_npz  # noqa: F401

from deeptag.adapt import AdaptConfig, adapt_model
from deeptag.cli import main

IMAGES = tagged_sequence(frames=3, height=32, width=32)


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, and keeps what was written."""

    def isatty(self) -> bool:
        return True


def test_adapt_model_reports_every_step(random_model):
    frames = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    calls = []
    _, record = adapt_model(random_model, frames, AdaptConfig(steps=4), progress=calls.append)
    assert calls == [1, 1, 1, 1] and record["steps"] == 4


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.npz"
    landmarks = np.tile(np.array([[[12.0, 14.0], [20.0, 16.0]]]), (len(IMAGES), 1, 1))
    np.savez(path, images=IMAGES.astype(np.float32), landmarks=landmarks)
    return path


def command(name: str, scan, model_path, *extra: str) -> list[str]:  # noqa: F811
    out = [] if name == "evaluate" else ["--out", str(scan.parent / "result")]
    return [name, str(scan), "--model", str(model_path), "--adapt", "3", *out, *extra]


@pytest.mark.parametrize("name", ["track", "evaluate"])
def test_a_terminal_shows_a_bar_of_the_adaptation_steps(name, scan, model_path, monkeypatch):  # noqa: F811
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(command(name, scan, model_path)) == 0
    shown = terminal.getvalue()
    # the bar counts the 3 steps (tqdm may skip redrawing fast steps, so the last count need not show)
    assert "adapting" in shown and "0/3" in shown and "step" in shown
    assert "<" in shown  # tqdm's elapsed<remaining time


@pytest.mark.parametrize("name", ["track", "evaluate"])
def test_no_bar_with_quiet_or_without_a_terminal(name, scan, model_path, monkeypatch, capsys):  # noqa: F811
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(command(name, scan, model_path, "--quiet")) == 0
    assert "adapting" not in terminal.getvalue()
    monkeypatch.undo()
    assert main(command(name, scan, model_path, "--force") if name == "track" else command(name, scan, model_path)) == 0
    assert "adapting" not in capsys.readouterr().err  # captured: not a terminal
