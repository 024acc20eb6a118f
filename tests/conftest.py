"""Shared fixtures: paths to the reference data and small models that run fast."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deeptag.checkpoint import save_checkpoint
from deeptag.model import DeepTagNet

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real"
REAL_SEQUENCE = REAL / "sax_45_23.npz"
OFFICIAL_WEIGHTS = REAL / "deeptag_official_weights.pth"

torch.set_num_threads(min(2, torch.get_num_threads()))


def needs_real_data():
    return pytest.mark.skipif(not (REAL_SEQUENCE.is_file() and OFFICIAL_WEIGHTS.is_file()),
                              reason=f"reference data not found at {REAL} (it is not part of the repository)")


@pytest.fixture
def random_model() -> DeepTagNet:
    """An untrained network whose mean head gives small non-zero velocities (fixed seed)."""
    torch.manual_seed(0)
    model = DeepTagNet()
    with torch.no_grad():
        model.flow_mean.weight.normal_(0.0, 0.05)
    return model.eval()


@pytest.fixture
def model_file(tmp_path, random_model) -> Path:
    path = tmp_path / "model.pt"
    save_checkpoint(path, random_model)
    return path
