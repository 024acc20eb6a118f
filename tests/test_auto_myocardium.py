"""The automatic frame-0 myocardium (issue 31) against the simulator's true mask, its refusals, and
``deeptag strain --auto``. Small simulated sequences with their TRUE fields, so that the test pins the
segmentation and not the network."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deeptag.auto_myocardium import NoMyocardium, find_myocardium
from deeptag.cli import main
from deeptag.phantom import simulate_sequence

SEED = 50_006  # a validation seed (never a training one)


@pytest.fixture(scope="module")
def simulated():
    return simulate_sequence(SEED, size=96)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def write_result(folder, images: np.ndarray, lagrangian: np.ndarray, spacing=(1.0, 1.0)):
    """A result folder as ``deeptag track`` writes it (summary.json, fields.npz), holding given fields."""
    folder.mkdir()
    np.savez(folder / "input.npz", images=images.astype(np.float32), spacing=np.asarray(spacing))
    fields = lagrangian.astype(np.float32)
    np.savez(folder / "fields.npz", inf_forward=fields, inf_backward=fields, lagrangian=fields)
    (folder / "summary.json").write_text(json.dumps({"input": str(folder / "input.npz")}))
    return folder


def test_found_myocardium_overlaps_the_true_one(simulated):
    found = find_myocardium(simulated.images, simulated.lagrangian[1:], simulated.spacing)
    assert dice(found.mask, simulated.myocardium_mask) > 0.75
    assert np.hypot(*np.subtract(found.centre, simulated.lv_centre)) < 3.0
    assert found.endo.shape == found.epi.shape == (120, 2)


def test_untagged_constant_sequence_is_refused():
    images = np.full((8, 64, 64), 0.5)
    with pytest.raises(NoMyocardium, match="no tag pattern"):
        find_myocardium(images, np.zeros((7, 2, 64, 64)))


def test_strain_auto_writes_strain_and_the_found_ring(simulated, tmp_path, capsys):
    result = write_result(tmp_path / "result", simulated.images, simulated.lagrangian[1:], simulated.spacing)
    assert main(["strain", str(result), "--auto", "--quiet"]) == 0
    written = np.load(result / "strain" / "auto_myocardium.npz")
    assert dice(written["mask"], simulated.myocardium_mask) > 0.75
    assert (result / "strain" / "auto_myocardium.png").stat().st_size > 0
    assert json.loads((result / "strain" / "strain.json").read_text())["myocardium"]["source"].startswith("automatic")


def test_strain_auto_refusal_is_one_line_and_writes_nothing(tmp_path, capsys):
    rows, cols = np.mgrid[0:64, 0:64]
    blob = np.exp(-((rows - 32) ** 2 + (cols - 32) ** 2) / 400.0)  # an untagged bright disc, with noise
    images = 0.2 + 0.6 * blob + np.random.default_rng(0).normal(0, 0.02, (8, 64, 64))
    result = write_result(tmp_path / "result", images, np.zeros((7, 2, 64, 64)))
    assert main(["strain", str(result), "--auto"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("deeptag: error: no LV ring found")
    assert not (result / "strain").exists()
