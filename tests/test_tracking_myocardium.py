"""The frame-0 myocardium reaches the adaptation from the command line (issue 30): ``deeptag track --lv``
and ``deeptag batch`` rows with a ring track as ``deeptag.track.track_sequence(..., myocardium=...)`` does
with a ring built by hand, an .npz input's stored myocardium is used when none is given, and summary.json
says which one the tracking used."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deeptag.adapt import AdaptConfig
from deeptag.checkpoint import load_model, save_checkpoint
from deeptag.cli import main
from deeptag.io import read_sequence
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.myocardium import Myocardium
from deeptag.phantom import simulate_sequence
from deeptag.track import track_sequence

STEPS = 4
CENTRE, R_ENDO, R_EPI = (50.3, 52.6), 6.5, 11.5  # about the simulated LV (seed 0, 96 px: 6.8-11.0 px)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small simulated sequence as .npz without and with its myocardium_mask, and a small model."""
    folder = tmp_path_factory.mktemp("myocardium")
    sim = simulate_sequence(0, size=96, frames=5)
    arrays = {"images": sim.images.astype(np.float32), "roi": np.asarray(sim.roi), "spacing": np.array([1.0, 1.0])}
    np.savez(folder / "plain.npz", **arrays)
    np.savez(folder / "stored.npz", **arrays, myocardium_mask=sim.myocardium_mask)
    torch.manual_seed(0)
    save_checkpoint(folder / "model.pt", DeepTagNet(ModelConfig(image_size=64)))
    return {"folder": folder, "mask": sim.myocardium_mask}


def hand_ring(shape) -> np.ndarray:
    rows, cols = np.indices(shape)
    distance = np.sqrt((cols - CENTRE[0]) ** 2 + (rows - CENTRE[1]) ** 2)
    return (distance >= R_ENDO) & (distance <= R_EPI)


def tracked(inputs, name: str, *options: str) -> tuple[np.ndarray, dict]:
    """Track ``name``.npz with the command line; its Lagrangian fields and summary.json."""
    out = inputs["folder"] / f"out_{name}_{len(list(inputs['folder'].iterdir()))}"
    assert main(["track", str(inputs["folder"] / f"{name}.npz"), "--model", str(inputs["folder"] / "model.pt"),
                 "--out", str(out), "--quiet", *options]) == 0
    return np.load(out / "fields.npz")["lagrangian"], json.loads((out / "summary.json").read_text())


def library(inputs, name: str, myocardium: Myocardium | None) -> np.ndarray:
    model, _ = load_model(inputs["folder"] / "model.pt")
    sequence = read_sequence(inputs["folder"] / f"{name}.npz")
    return track_sequence(sequence, model, adapt=AdaptConfig(steps=STEPS), myocardium=myocardium).lagrangian


def test_the_ring_of_lv_reaches_the_adaptation(inputs):
    ring = ",".join(f"{v:g}" for v in (*CENTRE, R_ENDO, R_EPI))
    with_ring, summary = tracked(inputs, "plain", "--adapt", str(STEPS), "--lv", ring)
    without, plain_summary = tracked(inputs, "plain", "--adapt", str(STEPS))
    assert summary["tracking_myocardium"] == "given" and plain_summary["tracking_myocardium"] == "none"
    mask = hand_ring(with_ring.shape[-2:])
    expected = library(inputs, "plain", Myocardium(mask=mask, centre=CENTRE))
    np.testing.assert_allclose(with_ring, expected, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(without, library(inputs, "plain", None), atol=1e-6, equal_nan=True)
    assert np.nanmax(np.abs(with_ring - without)) > 0.01  # the ring changes what the adaptation does


def test_the_stored_myocardium_is_used_when_none_is_given(inputs):
    stored, summary = tracked(inputs, "stored", "--adapt", str(STEPS))
    assert summary["tracking_myocardium"] == "stored"
    expected = library(inputs, "stored", Myocardium(mask=inputs["mask"], centre=CENTRE))
    np.testing.assert_allclose(stored, expected, atol=1e-6, equal_nan=True)
    # a given ring takes its place
    _, summary = tracked(inputs, "stored", "--adapt", str(STEPS), "--lv", "50,52,6,11")
    assert summary["tracking_myocardium"] == "given"


def test_no_myocardium_without_adaptation_or_in_a_long_axis_view(inputs):
    _, summary = tracked(inputs, "stored", "--adapt", "0", "--lv", "50,52,6,11")
    assert summary["tracking_myocardium"] == "none"
    # a long-axis wall encloses no cavity: the adaptation is Eq. 12, as without a myocardium
    long_axis, summary = tracked(inputs, "stored", "--adapt", str(STEPS), "--view", "4ch")
    assert summary["tracking_myocardium"] == "none"
    np.testing.assert_allclose(long_axis, library(inputs, "stored", None), atol=1e-6, equal_nan=True)


def test_a_batch_row_with_a_ring_tracks_with_it(inputs, tmp_path):
    pytest.importorskip("distributed")
    ring = ",".join(f"{v:g}" for v in (*CENTRE, R_ENDO, R_EPI))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"input,lv\n{inputs['folder'] / 'plain.npz'},\"{ring}\"\n")
    out = tmp_path / "batch"
    assert main(["batch", str(manifest), "--out", str(out), "--model", str(inputs["folder"] / "model.pt"),
                 "--adapt", str(STEPS), "--workers", "1", "--quiet"]) == 0
    folder = out / "plain" / "slice_00"
    assert json.loads((folder / "summary.json").read_text())["tracking_myocardium"] == "given"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the batch's worker runs it
    try:
        expected = library(inputs, "plain", Myocardium(mask=hand_ring((96, 96)), centre=CENTRE))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(np.load(folder / "fields.npz")["lagrangian"], expected, atol=1e-6, equal_nan=True)
