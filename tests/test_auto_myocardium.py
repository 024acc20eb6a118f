"""The automatic frame-0 myocardium (issue 31) against the simulator's true mask, its refusals, and
``deeptag strain --auto``. Small simulated sequences with their TRUE fields, so that the test pins the
segmentation and not the network."""
from __future__ import annotations

import json

import numpy as np
import pytest

from scipy import ndimage

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


def ring_sequence(endo: float = 16.0, epi: float = 26.0, centre=(48.3, 47.6), size: int = 96, frames: int = 12,
                  period: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """A tagged ring built by hand: frames (T, H, W) and their exact pull-back fields (T-1, 2, H, W).

    The frame-t pixel p comes from X0 = c + (p - c) g, g = 1 + a_t exp(-|p - c|^2 / 800), a_t up to
    0.3 at mid-cycle: the cavity (radius ``endo`` at frame 0) shrinks and the wall thickens. A grid of
    tags (``period`` px) moves with the tissue; in the cavity the tags are gone from frame 2 on and the
    blood brightens; the wall and its surroundings have the SAME intensity, so only the motion (the
    thickening wall) shows the epicardium."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    cx, cy = centre
    rho = np.hypot(cols - cx, rows - cy)
    images, fields = [], []
    for t in range(frames):
        g = 1 + 0.3 * np.sin(np.pi * t / (frames - 1)) * np.exp(-rho ** 2 / 800.0)
        x0, y0 = cx + (cols - cx) * g, cy + (rows - cy) * g
        tags = np.cos(np.pi * x0 / period) ** 2 * np.cos(np.pi * y0 / period) ** 2
        fade = max(0.0, 1 - t / 2)
        blood = (0.6 + 0.4 * t / (frames - 1)) * (1 - 0.7 * fade + 0.7 * fade * tags)
        tissue = 0.6 * (0.3 + 0.7 * tags)
        images.append(ndimage.gaussian_filter(np.where(np.hypot(x0 - cx, y0 - cy) < endo, blood, tissue), 0.7))
        if t:
            fields.append(np.stack([y0 - rows, x0 - cols]))
    return np.array(images), np.array(fields)


def test_hand_built_ring_radii_are_found_within_a_pixel():
    images, fields = ring_sequence(endo=16.0, epi=26.0, centre=(48.3, 47.6))
    found = find_myocardium(images, fields, (1.0, 1.0))
    centre = np.array((48.3, 47.6))
    assert np.hypot(*(np.asarray(found.centre) - centre)) < 1.0
    assert abs(np.hypot(*(found.endo - centre).T).mean() - 16.0) < 1.0
    assert abs(np.hypot(*(found.epi - centre).T).mean() - 26.0) < 1.0


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
