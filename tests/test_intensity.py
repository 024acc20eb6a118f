"""The same images give the same answer whatever their storage: scale, type and file format.

The default normalisation (``preprocess.normalise_sequence``) divides by a quantile of the sequence, so a
positive global scale and the type of the stored values cancel; ``--intensity none`` is for frames that
are in [0, 1] already, and a model's checkpoint says which normalisation it was trained with.
"""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from io_helpers import model_path, tagged_sequence, write_dicom_series, write_nifti, write_npz  # noqa: F401

from deeptag.checkpoint import load_model, save_checkpoint
from deeptag.cli import main
from deeptag.io import read_sequence
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.preprocess import SATURATED_FRACTION, normalise_sequence, prepare_intensity
from deeptag.track import track_sequence

from conftest import OFFICIAL_WEIGHTS, REAL_SEQUENCE, needs_real_data

RAW = tagged_sequence(frames=5, height=64, width=64)  # uint16, up to about 1100
POINTS = np.array([[20.0, 30.0], [32.0, 32.0], [40.5, 25.25], [45.0, 44.0]], dtype=np.float32)


def test_sequence_normalisation_saturates_the_stated_fraction_and_ignores_scale():
    images = np.random.default_rng(0).gamma(2.0, 100.0, (4, 30, 30)).astype(np.float32)
    normalised = normalise_sequence(images)
    assert np.mean(normalised >= 1.0) == pytest.approx(SATURATED_FRACTION, abs=1.0 / images.size)
    top = np.quantile(images.astype(np.float64), 1 - SATURATED_FRACTION)
    np.testing.assert_allclose(normalised, np.clip(images / top, 0, 1), atol=1e-6)
    for scale in (0.5, 7.0, 4000.0):
        np.testing.assert_allclose(normalise_sequence(images * scale), normalised, atol=1e-6)
    np.testing.assert_allclose(normalise_sequence(np.round(images).astype(np.uint16)),
                               normalise_sequence(np.round(images).astype(np.float32)), atol=1e-7)
    assert not normalise_sequence(np.zeros((2, 8, 8))).any()


def test_median_mode_is_section_4_1():
    images = np.random.default_rng(1).uniform(0, 300, (3, 10, 10)).astype(np.float32)
    expected = np.stack([np.clip(f / (2 * np.median(f)), 0, 1) for f in images])
    np.testing.assert_allclose(prepare_intensity(images, "median"), expected, atol=1e-6)


def test_intensity_none_refuses_frames_outside_the_unit_range():
    from deeptag.errors import InputError
    assert prepare_intensity(np.full((2, 4, 4), 0.5), "none").max() == 0.5
    with pytest.raises(InputError, match=r"--intensity none needs frames in \[0, 1\]"):
        prepare_intensity(RAW, "none")


def test_intensity_none_on_raw_scanner_values_is_exit_code_2(tmp_path, model_path, capsys):
    write_dicom_series(tmp_path / "dicom", RAW)
    code = main(["track", str(tmp_path / "dicom"), "--adapt", "0", "--intensity", "none",
                 "--model", str(model_path), "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--intensity none" in error[0]
    assert not (tmp_path / "out").exists()


def stored_ways(folder: Path) -> dict[str, Path]:
    """The same scan written as the formats and scales a user meets."""
    unit = RAW.astype(np.float32) / 4000.0
    ways = {"float [0, 1]": folder / "unit.npz", "float x0.5": folder / "half.npz",
            "uint16 x4000 DICOM": folder / "dicom", "float NIfTI x4000": folder / "scan.nii.gz"}
    write_npz(ways["float [0, 1]"], unit)
    write_npz(ways["float x0.5"], unit * 0.5)
    write_dicom_series(ways["uint16 x4000 DICOM"], RAW)
    write_nifti(ways["float NIfTI x4000"], unit * 4000.0)
    return ways


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    return stored_ways(tmp_path_factory.mktemp("stored"))


def tracks_of(path: Path, model) -> np.ndarray:
    return track_sequence(read_sequence(path), model, POINTS, adapt=None).tracks


@pytest.mark.parametrize("model_kind", ["project", "published"])
def test_the_same_scan_tracks_the_same_from_every_storage(scans, model_path, model_kind):
    if model_kind == "published" and not OFFICIAL_WEIGHTS.is_file():
        pytest.skip(f"the published weights are not at {OFFICIAL_WEIGHTS} (not part of the repository)")
    model, _ = load_model(str(model_path) if model_kind == "project" else f"official:{OFFICIAL_WEIGHTS}")
    reference = tracks_of(scans["float [0, 1]"], model)
    assert np.abs(reference - reference[0]).max() > 0.05  # the model moves the points
    for name, path in scans.items():
        np.testing.assert_allclose(tracks_of(path, model), reference, atol=1e-3, rtol=0, err_msg=name)


def test_eight_bit_frames_track_the_same_up_to_their_quantisation(tmp_path, model_path):
    model, _ = load_model(str(model_path))
    unit = RAW.astype(np.float32) / RAW.max()
    eight_bit = np.round(unit * 255).astype(np.uint8)
    folder = tmp_path / "png"
    folder.mkdir()
    for t, frame in enumerate(eight_bit):
        iio.imwrite(folder / f"frame_{t:02d}.png", frame)
    write_npz(tmp_path / "unit.npz", unit)
    write_npz(tmp_path / "quantised.npz", eight_bit.astype(np.float32) / 255)
    from_png = tracks_of(folder, model)
    np.testing.assert_allclose(from_png, tracks_of(tmp_path / "quantised.npz", model), atol=1e-3, rtol=0)
    np.testing.assert_allclose(from_png, tracks_of(tmp_path / "unit.npz", model), atol=0.05, rtol=0)


def test_a_checkpoint_carries_its_normalisation_and_track_applies_it(tmp_path, scans):
    """A model trained on section 4.1's per-frame normalisation tracks with it unless told otherwise."""
    model = DeepTagNet(ModelConfig(intensity="median"))
    path = tmp_path / "median.pt"
    save_checkpoint(path, model)
    loaded, _ = load_model(path)
    assert loaded.config.intensity == "median"
    sequence = read_sequence(scans["uint16 x4000 DICOM"])
    applied = track_sequence(sequence, loaded, adapt=None).network
    explicit = track_sequence(sequence, loaded, intensity="median", adapt=None).network
    other = track_sequence(sequence, loaded, intensity="sequence", adapt=None).network
    assert np.array_equal(applied["inf_forward"].numpy(), explicit["inf_forward"].numpy())
    assert not np.array_equal(applied["inf_forward"].numpy(), other["inf_forward"].numpy())


@needs_real_data()
def test_the_real_scan_tracks_the_same_at_any_scale_and_as_uint16():
    """sax_45_23 with the bundled model alone: halved it tracks as stored (floats in [0, 1]); as uint16
    x4000 it tracks as the same quantised values stored as floats, and within 0.01 px of the original
    (the 1/4000 quantisation itself moves points by a few thousandths of a pixel)."""
    model, _ = load_model()
    real = read_sequence(REAL_SEQUENCE)
    stored = real.images.copy()

    def tracks(images):
        real.images = images
        return track_sequence(real, model, real.landmarks[0], adapt=None).tracks

    reference = tracks(stored)
    np.testing.assert_allclose(tracks(stored * 0.5), reference, atol=1e-3, rtol=0)
    quantised = np.round(stored * 4000)
    as_uint16 = tracks(quantised.astype(np.uint16))
    np.testing.assert_allclose(as_uint16, tracks((quantised / 4000).astype(np.float32)), atol=1e-3, rtol=0)
    np.testing.assert_allclose(as_uint16, reference, atol=0.01, rtol=0)
