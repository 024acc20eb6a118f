"""The pieces that the short- and long-axis simulators share: Newton inversion and central-difference
Jacobians of point maps, the motion shrinking, the tissue canvas, rendering through the Lagrangian fields,
params made JSON-ready and the file writer with extra arrays."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from deeptag.errors import InputError
from deeptag.phantom import (SimulatedSequence, draw_parameters, json_ready, load_simulated, read_simulated_file,
                             save_simulated, shrink_until_diffeomorphic)
from deeptag.phantom_imaging import MAP_CHANNELS, TissueCanvas, canvas_margin, render_sequence
from deeptag.phantom_motion import central_jacobian, invert_map

AFFINE = np.array([[1.2, 0.3], [-0.1, 0.9]])
SHIFT = np.array([2.0, -1.5])


def affine(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (AFFINE[0, 0] * x + AFFINE[0, 1] * y + SHIFT[0], AFFINE[1, 0] * x + AFFINE[1, 1] * y + SHIFT[1])


def test_central_jacobian_of_an_affine_map_is_its_matrix():
    x, y = np.linspace(-5, 5, 7), np.linspace(3, -3, 7)
    dX_dx, dY_dx, dX_dy, dY_dy = central_jacobian(affine, x, y, step=1e-3)
    assert np.allclose(dX_dx, AFFINE[0, 0]) and np.allclose(dX_dy, AFFINE[0, 1])
    assert np.allclose(dY_dx, AFFINE[1, 0]) and np.allclose(dY_dy, AFFINE[1, 1])


def test_invert_map_finds_the_preimage_and_reports_convergence():
    target_x, target_y = np.array([[0.0, 4.0], [-3.0, 10.0]]), np.array([[1.0, -2.0], [5.0, 0.5]])
    x, y, residual = invert_map(affine, target_x, target_y, target_x.copy(), target_y.copy(), step=1e-4,
                                tolerance=1e-9, iterations=20)
    expected = np.linalg.solve(AFFINE, np.stack([target_x.ravel(), target_y.ravel()]) - SHIFT[:, None])
    assert residual < 1e-9
    assert np.allclose(x.ravel(), expected[0], atol=1e-9) and np.allclose(y.ravel(), expected[1], atol=1e-9)
    _, _, stuck = invert_map(lambda u, v: (u ** 3 + u, v), np.array([50.0]), np.array([0.0]), np.array([0.0]),
                             np.array([0.0]), step=1e-4, tolerance=1e-12, iterations=1)
    assert stuck >= 1e-12  # one step is not enough: the caller sees it has not converged


@dataclass
class _Shift:
    """A motion whose fields (``_fields``) have the Jacobian determinant ``1 - amplitude`` in frame 1."""

    amplitude: float

    def scaled(self, factor: float) -> "_Shift":
        return _Shift(self.amplitude * factor)


def _fields(motion: _Shift) -> np.ndarray:
    """(T=2, 2, 8, 8) fields whose column derivative along columns is ``-amplitude``."""
    cols = np.arange(8, dtype=np.float32)
    lagrangian = np.zeros((2, 2, 8, 8), np.float32)
    lagrangian[1, 1] = -motion.amplitude * cols[None, :]
    return lagrangian


def test_shrink_until_diffeomorphic_scales_by_0_8_until_the_jacobian_is_clearly_positive():
    kept = shrink_until_diffeomorphic(_Shift(0.5), _fields, "seed 1")
    assert kept.scale == 1.0 and kept.motion.amplitude == 0.5 and kept.min_jacobian == pytest.approx(0.5)
    shrunk = shrink_until_diffeomorphic(_Shift(1.0), _fields, "seed 2")
    assert shrunk.scale == pytest.approx(0.8) and shrunk.min_jacobian == pytest.approx(0.2)
    assert np.array_equal(shrunk.lagrangian, _fields(_Shift(0.8)))
    with pytest.raises(RuntimeError, match="seed 3: the motion is not diffeomorphic"):
        shrink_until_diffeomorphic(_Shift(100.0), _fields, "seed 3")


def test_canvas_paints_tissue_over_tissue_and_stacks_the_maps():
    canvas = TissueCanvas(6, 4, 2, np.random.default_rng(0), {"air": 0.0, "fat": 1.5}, {"air": 1000.0, "fat": 250.0})
    assert canvas.rows.shape == (10, 8) and canvas.cols[0, 0] == -2 and canvas.rows[-1, 0] == 7
    half = np.full((10, 8), 0.5, np.float32)
    canvas.paint(half, 1.5, 250.0, is_blood=1.0)
    maps = canvas.maps(np.zeros((10, 8), np.float32))
    assert maps.shape == (len(MAP_CHANNELS), 10, 8) and maps.dtype == np.float32
    assert np.allclose(maps[MAP_CHANNELS.index("density")], 0.75)
    assert np.allclose(maps[MAP_CHANNELS.index("relaxation_rate")], 0.5 / 1000.0 + 0.5 / 250.0)
    assert np.allclose(maps[MAP_CHANNELS.index("blood")], 0.5)


def test_render_sequence_samples_the_maps_through_the_fields():
    lagrangian = np.zeros((2, 2, 16, 16), np.float32)
    lagrangian[1, 1] = 3.0  # frame 1 shows the material 3 columns to the right
    margin = canvas_margin(lagrangian)
    assert margin == 7
    maps = np.zeros((len(MAP_CHANNELS), 30, 30), np.float32)
    x = np.arange(30, dtype=np.float32) - margin  # material column of each canvas column
    maps[MAP_CHANNELS.index("density")] = 0.5 + 0.3 * np.sin(2 * np.pi * x / 16)[None, :]  # periodic in the frame
    maps[MAP_CHANNELS.index("relaxation_rate")] = 1e-3
    maps[MAP_CHANNELS.index("myocardium"), margin + 4:margin + 8, margin + 4:margin + 8] = 1.0
    imaging = draw_parameters(np.random.default_rng(0), 16, 2)["imaging"]
    flat = replace(imaging, tag_depth=0.0)  # no tags: the frames show the density alone
    images, mask = render_sequence(maps, margin, lagrangian, np.zeros(2), np.zeros(2), flat, 1.0,
                                   np.random.default_rng(0), clean=True)
    assert images.shape == (2, 16, 16) and mask.dtype == bool and mask.sum() == 16 and mask[4:8, 4:8].all()
    assert np.allclose(images[1], np.roll(images[0], -3, axis=1), atol=1e-5)


@dataclass
class _Flagged:
    kept: float
    optional: float = field(default=0.0, metadata={"omit_default": True})


def test_json_ready_omits_marked_defaults_unless_asked_to_keep_them():
    value = {"a": _Flagged(1.0), "b": (np.float32(2.0), [np.int64(3)])}
    assert json_ready(value) == {"a": {"kept": 1.0}, "b": [2.0, [3]]}
    assert json_ready(value, omit_defaults=False) == {"a": {"kept": 1.0, "optional": 0.0}, "b": [2.0, [3]]}


def _tiny_sequence() -> SimulatedSequence:
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    return SimulatedSequence(images=np.zeros((2, 8, 8), np.float32), lagrangian=np.zeros((2, 2, 8, 8), np.float32),
                             myocardium_mask=mask, landmarks=np.zeros((2, 1, 2), np.float32), spacing=(1.0, 1.0),
                             frame_times=np.array([0.0, 40.0]), lv_centre=(3.5, 3.5), params={"seed": 1})


def test_save_simulated_writes_extra_arrays_and_the_reader_names_the_kind(tmp_path):
    path = save_simulated(_tiny_sequence(), tmp_path / "s.npz", extra={"view": np.array("4ch")})
    with np.load(path) as data:
        assert str(data["view"]) == "4ch" and tuple(data["roi"]) == _tiny_sequence().roi
    assert load_simulated(path).params == {"seed": 1}
    with pytest.raises(InputError, match="not a test sequence"):
        read_simulated_file(path, lambda data: data["missing"], "test sequence")
