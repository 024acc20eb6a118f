"""The Lagrangian field maps keep a finite colour scale when the fields are NaN outside the region of
interest (a region smaller than the frame), instead of painting everything in the end colours."""
from __future__ import annotations

import matplotlib
import numpy as np

from deeptag import viz


def ramp_inside_a_smaller_roi(frames: int = 3, side: int = 48) -> np.ndarray:
    """(T-1, 2, H, W) fields: a ramp of -2t..2t px inside a 32x32 box, NaN outside it."""
    lagrangian = np.full((frames, 2, side, side), np.nan, np.float32)
    rows, columns = np.mgrid[0:32, 0:32]
    for t in range(frames):
        lagrangian[t, 0, 8:40, 8:40] = (t + 1) * (rows - 16) / 8
        lagrangian[t, 1, 8:40, 8:40] = (t + 1) * (columns - 16) / 8
    return lagrangian


def test_the_colour_limit_ignores_the_nan_outside_the_roi():
    lagrangian = ramp_inside_a_smaller_roi()
    assert viz.symmetric_limit(lagrangian[:, 1], lagrangian[:, 0]) == 6.0
    assert viz.symmetric_limit(np.full((2, 4, 4), np.nan)) == 1e-6  # nothing tracked: still a valid scale


def test_the_field_map_picture_is_not_saturated_when_the_roi_is_smaller_than_the_frame():
    picture = viz.field_map_frames(ramp_inside_a_smaller_roi())[-1].astype(int)
    colours = matplotlib.colormaps["RdBu_r"]
    ends = [np.array(colours(end)[:3]) * 255 for end in (0.0, 1.0)]
    saturated = np.min([np.abs(picture - end).sum(axis=-1) for end in ends], axis=0) < 12
    # with NaN colour limits about a third of the picture is painted in the end colours; a ramp shows them
    # only at its corners and at the ends of the colour bar
    assert saturated.mean() < 0.03, saturated.mean()
