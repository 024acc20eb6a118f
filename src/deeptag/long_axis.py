"""Long-axis views (2-, 3- and 4-chamber): the view label, the LV wall's centreline and directions, the
long-axis AHA segments, and longitudinal and transmural strain.

The view
--------
``--view`` takes ``sax``, ``2ch``, ``3ch`` or ``4ch``; ``view_from_description`` reads it from a DICOM
series description ('2CH', 'cine_4ch', 'CH3', 'HLA' = 4-chamber, 'VLA' = 2-chamber, 'LVOT' or 'LAX' =
3-chamber, 'SAX' or 'short axis' = short axis), else None.

The myocardium of a long-axis view
----------------------------------
The LV wall is a U from the annulus of wall 1 over the apex to the annulus of wall 2. Its mid-wall
centreline is given by three points (x, y) in pixels, the apex and the two annulus points (wall 1 first),
through which two quarter-ellipses are drawn: in the frame of the long axis (from the apex to the
mid-point of the annulus points), annulus point i at height ``h_i`` above the apex and ``w_i`` across the
axis, the wall-i half is ``(h, w) = (h_i (1 - cos a), w_i sin a)``, ``a`` from 0 (apex) to 90 deg (annulus),
so the curve crosses the axis at right angles at the apex and runs along it at the annulus. The
myocardium is then either the band of pixels within half a wall thickness of the centreline (``--wall-mm``),
a mask, or the region between open endo- and epicardial contours (``--contours``, each from the base of
wall 1 over the apex to the base of wall 2; their ends and deepest points give the centreline's points);
a mask alone gives its centreline by its skeleton (the longest path through it), with wall 1 the wall on
the left when the image is turned so that the apex points up (the echocardiographic display).

At each frame-0 point the *longitudinal* direction ``l`` is the centreline's tangent at the nearest
centreline point and the *transmural* direction ``n`` is perpendicular to it, pointing out of the cavity
(both in physical space when the pixels are not square). The position across the wall is
``0.5 + d / wall`` (0 endocardial, 1 epicardial), ``d`` the signed distance to the centreline along ``n``
and ``wall`` the given thickness (or, for a mask, its area divided by the centreline's length).

Segments (AHA 17-segment model, Cerqueira et al. 2002; as the apical echocardiographic views show them,
Lang et al. 2015): each wall is cut into basal, mid and apical thirds of the cavity's length along the
long axis (heights measured from the annulus line); the apex (17) is the cap beyond the cavity, the points
within half a wall thickness of the mid-wall apex along the axis.

========  =====================================  =====================================
view      wall 1 (basal, mid, apical)            wall 2 (basal, mid, apical)
========  =====================================  =====================================
4ch       inferoseptal 3, 9, apical septal 14     anterolateral 6, 12, apical lateral 16
2ch       inferior 4, 10, apical inferior 15      anterior 1, 7, apical anterior 13
3ch       inferolateral 5, 11, apical lateral 16  anteroseptal 2, 8, apical septal 14
========  =====================================  =====================================

Strain
------
As ``deeptag.strain`` does for the short axis: ``F = (I + grad L)^-1`` at the tracked position of each
frame-0 myocardium pixel, ``E = (F^T F - I) / 2``, and ``E_ll = l.E.l`` (longitudinal), ``E_tt = n.E.n``
(transmural), in percent. ``GLS_centreline`` is the engineering strain of the mid-wall centreline's length,
``(length_t - length_0) / length_0``, with the centreline's points moved by the field: the global
longitudinal strain as echocardiography measures it.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .regions import RegionCurves, write_peaks_csv

VIEWS = ("sax", "2ch", "3ch", "4ch")
LONG_AXIS_VIEWS = ("2ch", "3ch", "4ch")
WALLS = {"4ch": ("inferoseptal", "anterolateral"), "2ch": ("inferior", "anterior"),
         "3ch": ("inferolateral", "anteroseptal")}
SEGMENT_NUMBERS = {"4ch": ((3, 9, 14), (6, 12, 16)), "2ch": ((4, 10, 15), (1, 7, 13)),
                   "3ch": ((5, 11, 16), (2, 8, 14))}
APEX_SEGMENT = 17
SEGMENT_NAMES = {1: "basal anterior", 2: "basal anteroseptal", 3: "basal inferoseptal", 4: "basal inferior",
                 5: "basal inferolateral", 6: "basal anterolateral", 7: "mid anterior", 8: "mid anteroseptal",
                 9: "mid inferoseptal", 10: "mid inferior", 11: "mid inferolateral", 12: "mid anterolateral",
                 13: "apical anterior", 14: "apical septal", 15: "apical inferior", 16: "apical lateral", 17: "apex"}
QUANTITIES = ("E_ll", "E_tt")
UNITS = {"E_ll": "%", "E_tt": "%", "GLS_centreline": "%"}
CENTRELINE_SAMPLES = 400
CONVENTIONS = {
    "strain": "Green-Lagrange E = (F^T F - I)/2 with F = (I + grad L)^-1 at the current position of each "
              "frame-0 material point (L: pull-back Lagrangian field); percent",
    "directions": "E_ll along the mid-wall centreline's tangent (longitudinal), E_tt across it (transmural), "
                  "frame-0 directions at the nearest centreline point",
    "GLS_centreline": "engineering strain (length_t - length_0) / length_0 of the mid-wall centreline moved by "
                      "the field, percent",
    "centreline": "two quarter-ellipses through the annulus points and the apex, in the frame of the long axis",
    "segments": "AHA 17-segment model: basal, mid and apical thirds of the cavity length along the long axis on "
                "each wall of the view, and the apex (17), the cap within half a wall thickness of the mid-wall apex",
    "layers": "position across the wall 0.5 + d / wall (d: signed distance to the centreline, outwards); thirds",
    "peak": "value of largest magnitude over the frames, with its frame and time",
}

_PATTERNS = (  # order matters: the first match wins
    (r"(?<![0-9])([234])\s*[-_ ]?\s*(?:ch|chamber|chmb|cv)(?![a-z])", None),
    (r"(?<![a-z])ch\s*[-_]?\s*([234])(?![0-9])", None),
    (r"(?<![a-z])(?:hla|4cv)(?![a-z])", "4ch"),
    (r"(?<![a-z])(?:vla|2cv)(?![a-z])", "2ch"),
    (r"(?<![a-z])(?:lvot|3cv|lax|plax|aplax)(?![a-z])|long[\s_-]*axis", "3ch"),
    (r"(?<![a-z])(?:sax|sa|sa[\s_-]*stack)(?![a-z])|short[\s_-]*axis", "sax"),
)


def view_from_description(description: str | None) -> str | None:
    """The view named by a DICOM series description, or None when it names none (module docstring)."""
    if not description:
        return None
    text = str(description).lower()
    for pattern, view in _PATTERNS:
        match = re.search(pattern, text)
        if match:
            return view or f"{match.group(1)}ch"
    return None


def parse_view(text: str | None) -> str | None:
    """``--view`` checked: one of ``VIEWS`` (case and a '-' or ' ' between the digit and 'ch' ignored)."""
    if text is None:
        return None
    view = re.sub(r"[\s_-]", "", str(text).lower())
    if view not in VIEWS:
        raise InputError(f"--view must be one of {', '.join(VIEWS)}, got {text!r}")
    return view


def resolve_view(given: str | None, metadata: dict | None) -> tuple[str, str]:
    """The view of a sequence and where it came from: ``--view`` when given, else the DICOM series
    description, else 'sax' (the default, as before views existed)."""
    if given is not None:
        return parse_view(given), "--view"
    description = (metadata or {}).get("series_description")
    found = view_from_description(description)
    if found is not None:
        return found, f"series description {description!r}"
    stored = (metadata or {}).get("view")
    if stored in VIEWS:
        return stored, "stored with the input"
    return "sax", "default"


@dataclass(frozen=True)
class Segment:
    """One long-axis segment: AHA number, name, wall (1, 2, or 0 for the apex) and level."""

    number: int
    name: str
    wall: int
    level: str


def long_axis_segments(view: str) -> list[Segment]:
    """The seven segments of a long-axis view: wall 1 base to apex, the apex, wall 2 apex to base."""
    one, two = SEGMENT_NUMBERS[view]
    levels = ("basal", "mid", "apical")
    return ([Segment(n, SEGMENT_NAMES[n], 1, level) for n, level in zip(one, levels)]
            + [Segment(APEX_SEGMENT, SEGMENT_NAMES[APEX_SEGMENT], 0, "apex")]
            + [Segment(n, SEGMENT_NAMES[n], 2, level) for n, level in reversed(list(zip(two, levels)))])


def centreline_curve(apex, annulus_1, annulus_2, samples: int = CENTRELINE_SAMPLES) -> np.ndarray:
    """The mid-wall centreline (N, 2) as (x, y) from annulus 1 over the apex to annulus 2 (module docstring)."""
    apex, a1, a2 = (np.asarray(p, dtype=np.float64) for p in (apex, annulus_1, annulus_2))
    middle = 0.5 * (a1 + a2)
    axis = middle - apex
    length = float(np.hypot(*axis))
    if length < 1e-6:
        raise InputError("the apex lies on the mid-point of the annulus points: no long axis")
    axis = axis / length
    across = np.array([-axis[1], axis[0]])
    half = samples // 2
    out = []
    for point, angles in ((a1, np.linspace(0.5 * np.pi, 0.0, half, endpoint=False)),
                          (a2, np.linspace(0.0, 0.5 * np.pi, samples - half))):
        h_i, w_i = float((point - apex) @ axis), float((point - apex) @ across)
        if h_i <= 0:
            raise InputError("an annulus point lies level with or beyond the apex; give the apex, then the two "
                             "annulus points (x,y each)")
        h, w = h_i * (1.0 - np.cos(angles)), w_i * np.sin(angles)
        out.append(apex + h[:, None] * axis + w[:, None] * across)
    curve = np.concatenate(out)
    if (np.asarray(annulus_1) - apex) @ across * ((np.asarray(annulus_2) - apex) @ across) >= 0:
        raise InputError("the two annulus points lie on the same side of the long axis (apex to their mid-point)")
    return curve


def _arclength(curve: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])


def _tangents(curve: np.ndarray) -> np.ndarray:
    tangent = np.gradient(curve, axis=0)
    return tangent / np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)


@dataclass
class LongAxisMyocardium:
    """The LV wall of a long-axis view at frame 0.

    ``mask`` (H, W) bool; ``view`` one of ``LONG_AXIS_VIEWS``; ``apex`` and ``annulus`` ((x, y), (x, y))
    the mid-wall centreline's three points in pixels; ``wall_px`` the wall thickness in pixels;
    ``source`` how it was given.
    """

    mask: np.ndarray
    view: str
    apex: tuple[float, float]
    annulus: tuple[tuple[float, float], tuple[float, float]]
    wall_px: float
    source: str = ""
    level: str = "long axis"

    def __post_init__(self) -> None:
        self.curve = centreline_curve(self.apex, *self.annulus)
        self.arc = _arclength(self.curve)
        self.tangent = _tangents(self.curve)
        left = np.stack([-self.tangent[:, 1], self.tangent[:, 0]], axis=1)
        inside = self.curve.mean(axis=0)  # inside the U, on the cavity's side
        sign = -1.0 if np.mean(np.sum((inside - self.curve) * left, axis=1)) > 0 else 1.0
        self.outward = sign * left
        middle = 0.5 * (np.asarray(self.annulus[0]) + np.asarray(self.annulus[1]))
        axis = middle - np.asarray(self.apex)
        self.axis_length = float(np.hypot(*axis))
        self.axis = axis / self.axis_length

    @property
    def centre(self) -> tuple[float, float]:
        """Mid-point of the three centreline points (for code that wants one point of the heart)."""
        points = np.array([self.apex, *self.annulus])
        return tuple(float(v) for v in points.mean(axis=0))

    def points(self) -> np.ndarray:
        rows, cols = np.nonzero(self.mask)
        return np.stack([cols, rows], axis=1).astype(np.float64)

    def nearest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the nearest centreline sample (K,) and signed outward distance (K,) px of points (K, 2)."""
        from scipy.spatial import cKDTree

        _, index = cKDTree(self.curve).query(np.asarray(points, dtype=np.float64))
        offset = np.asarray(points, dtype=np.float64) - self.curve[index]
        return index, np.sum(offset * self.outward[index], axis=1)

    def directions(self, points: np.ndarray, spacing: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Unit longitudinal and transmural directions (K, 2) in (row, column) order at frame-0 points,
        in physical space when ``spacing`` (row, column) mm is given."""
        index, _ = self.nearest(points)
        tangent = self.tangent[index][:, ::-1].copy()  # (row, column)
        outward = self.outward[index][:, ::-1].copy()
        if spacing is not None:
            scale = np.asarray(spacing, dtype=np.float64)
            tangent = tangent * scale
            tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
            normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
            outward = normal * np.sign(np.sum(normal * outward * scale, axis=1, keepdims=True))
        return tangent, outward

    def transmural_depth(self, points: np.ndarray) -> np.ndarray:
        _, distance = self.nearest(points)
        return np.clip(0.5 + distance / self.wall_px, 0.0, 1.0)

    def heights(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fraction of the long axis from the annulus line (0) to the mid-wall apex (1), and the side of the
        axis (1 for wall 1, 2 for wall 2) of points (K, 2)."""
        points = np.asarray(points, dtype=np.float64)
        a1, a2 = (np.asarray(p, dtype=np.float64) for p in self.annulus)
        apex = np.asarray(self.apex, dtype=np.float64)
        across = np.array([-self.axis[1], self.axis[0]])
        # height above the apex along the axis, relative to each wall's own annulus height
        h = (points - apex) @ self.axis
        side_one = np.sign((a1 - apex) @ across)
        wall = np.where(np.sign((points - apex) @ across) == side_one, 1, 2)
        top = np.where(wall == 1, (a1 - apex) @ self.axis, (a2 - apex) @ self.axis)
        return 1.0 - h / top, wall

    def segment_of(self, points: np.ndarray) -> np.ndarray:
        """AHA segment number (K,) of frame-0 points (module docstring)."""
        fraction, wall = self.heights(points)
        apex_cap = 1.0 - 0.5 * self.wall_px / self.axis_length  # the cavity ends here
        one, two = SEGMENT_NUMBERS[self.view]
        level = np.clip((fraction / apex_cap * 3).astype(int), 0, 2)
        numbers = np.where(wall == 1, np.asarray(one)[level], np.asarray(two)[level])
        return np.where(fraction >= apex_cap, APEX_SEGMENT, numbers)

    def segments(self) -> list[Segment]:
        return long_axis_segments(self.view)

    def describe(self) -> dict:
        return {"source": self.source, "view": self.view, "apex_xy_px": [float(v) for v in self.apex],
                "annulus_xy_px": [[float(v) for v in p] for p in self.annulus], "wall_px": float(self.wall_px),
                "walls": list(WALLS[self.view]), "centreline_length_px": float(self.arc[-1]),
                "pixels": int(self.mask.sum())}


def band_mask(shape: tuple[int, int], curve: np.ndarray, wall_px: float) -> np.ndarray:
    """Pixels (H, W) within half a wall thickness of the centreline, not beyond its two ends."""
    from scipy.spatial import cKDTree

    rows, cols = np.indices(shape)
    pixels = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64)
    distance, index = cKDTree(curve).query(pixels, distance_upper_bound=0.5 * wall_px + 1.0)
    near = np.isfinite(distance) & (distance <= 0.5 * wall_px)
    tangent = _tangents(curve)
    ends = np.zeros(len(pixels), dtype=bool)
    for end, outward in ((0, -tangent[0]), (len(curve) - 1, tangent[-1])):
        beyond = (pixels - curve[end]) @ outward > 0.5
        ends |= near & (index == end) & beyond
    return (near & ~ends).reshape(shape)


def skeleton_centreline(mask: np.ndarray) -> tuple[tuple[float, float], tuple[tuple[float, float], tuple[float, float]]]:
    """The apex and the two annulus points (x, y) of a U-shaped wall mask, from the longest path through its
    skeleton; wall 1 is the end on the left with the apex turned up (module docstring)."""
    from collections import deque

    from skimage.morphology import skeletonize

    skeleton = skeletonize(mask)
    rows, cols = np.nonzero(skeleton)
    if len(rows) < 5:
        raise InputError("the mask is too small to find the wall's centreline; give --centreline")
    index = {(r, c): k for k, (r, c) in enumerate(zip(rows, cols))}

    def farthest(start):
        previous = {start: None}
        queue, last = deque([start]), start
        while queue:
            last = queue.popleft()
            r, c = rows[last], cols[last]
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    k = index.get((r + dr, c + dc))
                    if k is not None and k not in previous:
                        previous[k] = last
                        queue.append(k)
        return last, previous

    end_1, _ = farthest(0)
    end_2, previous = farthest(end_1)
    path = [end_2]
    while previous[path[-1]] is not None:
        path.append(previous[path[-1]])
    points = np.stack([cols[path], rows[path]], axis=1).astype(np.float64)
    if len(points) < 5:
        raise InputError("the mask's skeleton is too short to be the wall of a long-axis view; give --centreline")
    first, last = points[0], points[-1]
    chord = last - first
    normal = np.array([-chord[1], chord[0]]) / max(np.hypot(*chord), 1e-9)
    apex = points[int(np.argmax(np.abs((points - first) @ normal)))]
    middle = 0.5 * (first + last)
    axis = middle - apex  # apex to base: "down" when the apex is up
    left = np.array([-axis[1], axis[0]])  # with the apex turned up, the screen's left
    if (first - apex) @ left < (last - apex) @ left:
        first, last = last, first
    return (float(apex[0]), float(apex[1])), ((float(first[0]), float(first[1])), (float(last[0]), float(last[1])))


def contours_myocardium(shape: tuple[int, int], view: str, path: str | Path, points=None,
                        wall_px: float | None = None) -> LongAxisMyocardium:
    """The wall between open endo- and epicardial contours (``myocardium.read_contours``: JSON or CSV), each
    from the base of wall 1 over the apex to the base of wall 2 (the epicardium may run the other way; it is
    turned). The centreline's points, unless given: the annulus points are the mid-points of the contours'
    ends, the apex the mid-point of the two contours' points farthest from the line through the annulus."""
    from skimage.draw import polygon2mask

    from .myocardium import read_contours

    endo, epi = read_contours(path)
    if np.hypot(*(endo[0] - epi[0])) > np.hypot(*(endo[0] - epi[-1])):
        epi = epi[::-1]
    region = polygon2mask(shape, np.concatenate([endo, epi[::-1]])[:, ::-1])
    if not region.any():
        raise InputError("no pixel lies between the endo- and epicardial contours", path)
    if points is None:
        one, two = 0.5 * (endo[0] + epi[0]), 0.5 * (endo[-1] + epi[-1])
        chord = two - one
        normal = np.array([-chord[1], chord[0]]) / max(float(np.hypot(*chord)), 1e-9)
        tips = [curve[int(np.argmax(np.abs((curve - one) @ normal)))] for curve in (endo, epi)]
        apex = 0.5 * (tips[0] + tips[1])
        points = ((float(apex[0]), float(apex[1])), ((float(one[0]), float(one[1])), (float(two[0]), float(two[1]))))
    curve = centreline_curve(points[0], *points[1])
    wall = wall_px if wall_px is not None else float(region.sum()) / float(_arclength(curve)[-1])
    return LongAxisMyocardium(region, view, points[0], points[1], float(wall), f"contours {path}")


def parse_centreline(text: str) -> tuple[tuple[float, float], tuple[tuple[float, float], tuple[float, float]]]:
    """``--centreline AX,AY,X1,Y1,X2,Y2``: the apex and the two annulus points."""
    from .myocardium import parse_numbers

    values = parse_numbers(text, 6, "--centreline (apex x,y, annulus 1 x,y, annulus 2 x,y)")
    return (values[0], values[1]), ((values[2], values[3]), (values[4], values[5]))


def stored_centreline(path: str | Path | None) -> np.ndarray | None:
    """The frame-0 centreline points (3, 2) stored in an .npz ('centreline', as simulated long-axis
    sequences carry), else None."""
    if path is None or not str(path).lower().endswith(".npz") or not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if "centreline" not in data.files:
                return None
            points = np.asarray(data["centreline"], dtype=np.float64)
    except (OSError, ValueError):
        return None
    points = points[0] if points.ndim == 3 else points
    return points if points.shape == (3, 2) and np.isfinite(points).all() else None


def define_long_axis_myocardium(shape: tuple[int, int], view: str, centreline: str | None = None,
                                wall_mm: float | None = None, mask: str | Path | None = None,
                                mask_label: int | None = None, spacing: tuple[float, float] | None = None,
                                sequence_path: str | Path | None = None,
                                contours: str | Path | None = None) -> LongAxisMyocardium:
    """The frame-0 LV wall of a long-axis view from the command-line forms: ``--centreline`` with
    ``--wall-mm`` (a band about the centreline), ``--mask`` (with ``--centreline``, or a centreline stored in
    the mask's or the sequence's .npz, or else its skeleton), or ``--contours`` (open endo- and epicardial
    curves, each from the base of wall 1 over the apex to the base of wall 2), for ``view`` in
    ``LONG_AXIS_VIEWS``."""
    from .myocardium import read_mask

    if view not in LONG_AXIS_VIEWS:
        raise InputError(f"a long-axis myocardium needs --view 2ch, 3ch or 4ch, got {view!r}")
    if sum(v is not None for v in (mask, contours)) > 1:
        raise InputError("give the long-axis wall with one of --mask or --contours, not both")
    if contours is not None:
        return contours_myocardium(shape, view, contours, points=parse_centreline(centreline) if centreline else None,
                                   wall_px=None if wall_mm is None else wall_mm / (float(np.sqrt(np.prod(spacing)))
                                                                                   if spacing else 1.0))
    if wall_mm is not None and not (np.isfinite(wall_mm) and 0 < wall_mm <= 40):
        raise InputError(f"--wall-mm must be a wall thickness in mm, in (0, 40], got {wall_mm:g}")
    pixel = float(np.sqrt(np.prod(spacing))) if spacing else 1.0
    points = parse_centreline(centreline) if centreline else None
    if mask is None:
        if points is None:
            raise InputError("a long-axis myocardium needs --centreline AX,AY,X1,Y1,X2,Y2 (with --wall-mm), --mask "
                             "or --contours")
        if wall_mm is None:
            raise InputError("--centreline needs --wall-mm, the wall thickness in mm, to make the myocardium "
                             "(or give a --mask)")
        wall = wall_mm / pixel
        curve = centreline_curve(points[0], *points[1])
        region = band_mask(shape, curve, wall)
        source = f"centreline {centreline}, wall {wall_mm:g} mm"
        if not region.any():
            raise InputError(f"the centreline --centreline {centreline} holds no pixel of the {shape[0]}x{shape[1]} frames")
    else:
        region = read_mask(mask, shape, mask_label)
        source = f"mask {mask}"
        if points is None:
            stored = stored_centreline(mask)
            stored = stored if stored is not None else stored_centreline(sequence_path)
            if stored is not None:
                points = ((stored[0, 0], stored[0, 1]), ((stored[1, 0], stored[1, 1]), (stored[2, 0], stored[2, 1])))
                source += ", centreline stored with it"
            else:
                points = skeleton_centreline(region)
                source += ", centreline from its skeleton"
        curve = centreline_curve(points[0], *points[1])
        wall = wall_mm / pixel if wall_mm is not None else float(region.sum()) / float(_arclength(curve)[-1])
    return LongAxisMyocardium(region, view, points[0], points[1], float(wall), source)


# ------------------------------------------------------------------------------------------------ strain
@dataclass
class LongAxisStrain(RegionCurves):
    """Strain of every frame at the frame-0 LV wall pixels of a long-axis view.

    ``points`` (K, 2) frame-0 (x, y) px; ``positions`` (T, K, 2); ``segment`` (K,) AHA numbers; ``wall``
    (K,) 1 or 2 (0 at the apex); ``depth`` (K,) 0 endo to 1 epi; ``values`` E_ll, E_tt (T, K) percent;
    ``gls_centreline`` (T,) percent; ``centreline_positions`` (T, N, 2). Regions, curves and peaks:
    ``regions.RegionCurves``, with the two walls after the global region.
    """

    points: np.ndarray
    positions: np.ndarray
    segment: np.ndarray
    wall: np.ndarray
    depth: np.ndarray
    values: dict[str, np.ndarray]
    gls_centreline: np.ndarray
    centreline_positions: np.ndarray
    myocardium: LongAxisMyocardium
    frame_times_ms: np.ndarray | None = None
    spacing: tuple[float, float] | None = None

    def wall_regions(self) -> list[tuple[str, str, str, np.ndarray]]:
        """``(wallN, name, "wall", selected)`` of the view's two walls."""
        return [(f"wall{index}", f"{name} wall", "wall", self.wall == index)
                for index, name in enumerate(WALLS[self.myocardium.view], start=1)]

    def region_curves(self, region: str, selected: np.ndarray) -> dict[str, np.ndarray]:
        """E_ll's and E_tt's mean curves over the selected points; the global region adds the centreline's GLS."""
        curves = {quantity: self.curve(quantity, selected) for quantity in QUANTITIES}
        return curves | ({"GLS_centreline": self.gls_centreline} if region == "global" else {})


def compute_long_axis_strain(lagrangian: np.ndarray, myocardium: LongAxisMyocardium,
                             spacing: tuple[float, float] | None = None,
                             frame_times_ms: np.ndarray | None = None) -> LongAxisStrain:
    """Longitudinal and transmural strain of frames 0..T-1 (module docstring).

    Parameters
    ----------
    lagrangian : (T-1, 2, H, W) pull-back fields in pixels; ``lagrangian[t]`` on frame t+1 into frame 0.
    myocardium : the frame-0 LV wall of the view.
    spacing : (row, column) pixel size in mm, or None for square pixels.
    frame_times_ms : (T,) or None.
    """
    from .strain import frame_times, green_lagrange_along, material_deformation

    points = myocardium.points()
    tracked, deformation = material_deformation(lagrangian, myocardium.mask.shape,
                                                np.concatenate([points, myocardium.curve]), spacing)
    positions, curve_positions = tracked[:, :len(points)], tracked[:, len(points):]
    deformation = deformation[:, :len(points)]
    longitudinal, transmural = myocardium.directions(points, spacing)
    values = green_lagrange_along(deformation, {"E_ll": longitudinal[None], "E_tt": transmural[None]})
    scale = np.ones(2) if spacing is None else np.asarray(spacing, dtype=np.float64)[::-1]  # (x, y)
    lengths = np.sum(np.linalg.norm(np.diff(curve_positions, axis=1) * scale, axis=-1), axis=1)
    gls = 100.0 * (lengths - lengths[0]) / lengths[0]
    times = frame_times(frame_times_ms, positions.shape[0])
    segment = myocardium.segment_of(points)
    wall = np.where(segment == APEX_SEGMENT, 0, myocardium.heights(points)[1])
    return LongAxisStrain(points, positions, segment, wall, myocardium.transmural_depth(points), values, gls,
                          curve_positions, myocardium, times, spacing)


def long_axis_summary(result: LongAxisStrain) -> dict:
    """Everything about a long-axis strain result as one JSON-able dict: units, conventions, curves, peaks."""
    segments = [{"number": s.number, "name": s.name, "wall": s.wall, "level": s.level}
                for s in result.myocardium.segments()]
    return {"view": result.myocardium.view, "units": dict(UNITS), "conventions": CONVENTIONS,
            "myocardium": result.myocardium.describe(), "segments": segments, **result.frame_axes(),
            "regions": result.region_summaries()}


def write_long_axis_strain(folder: Path, result: LongAxisStrain) -> dict:
    """Write ``strain.json``, ``strain.csv`` (one row per frame and region), ``peaks.csv`` and
    ``strain_points.npz`` into ``folder``, as ``deeptag.strain.write_strain`` does; returns the summary."""
    from .outputs import write_json

    folder = Path(folder)
    summary = long_axis_summary(result)
    write_json(folder / "strain.json", summary)
    columns = {"E_ll": "E_ll_pct", "E_tt": "E_tt_pct", "GLS_centreline": "GLS_centreline_pct"}
    with open(folder / "strain.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "time_ms", "region", "name", *columns.values()])
        for region in summary["regions"]:
            for t in range(result.num_frames):
                time = "" if summary["time_ms"] is None else f"{summary['time_ms'][t]:.3f}"
                values = [region["curves"].get(q, [None] * result.num_frames)[t] for q in columns]
                writer.writerow([t, time, region["region"], region["name"],
                                 *["" if v is None else f"{v:.4f}" for v in values]])
    write_peaks_csv(folder / "peaks.csv", summary)
    np.savez(folder / "strain_points.npz", points_xy_px=result.points.astype(np.float32),
             positions_xy_px=result.positions.astype(np.float32), segment=result.segment.astype(np.int16),
             wall=result.wall.astype(np.int8), transmural_depth=result.depth.astype(np.float32),
             centreline_xy_px=result.centreline_positions.astype(np.float32),
             **{f"{q}_pct": v.astype(np.float32) for q, v in result.values.items()})
    return summary


def true_long_axis_strain(sequence, myocardium: LongAxisMyocardium) -> dict:
    """The exact strain of a simulated long-axis sequence (``phantom_long_axis.LongAxisSequence``) at the
    myocardium's points, from the analytic motion (no field, no grid): per frame, the global mean of
    E_ll and E_tt (percent) and the centreline's engineering strain. For validation."""
    from .phantom_long_axis import deformation_gradient, forward, heart_from_params
    from .strain import green_lagrange_along

    heart, motion, profiles = heart_from_params(sequence.params)
    points = myocardium.points()
    deformation = deformation_gradient(heart, motion, profiles, points)
    spacing = sequence.spacing
    if spacing is not None:
        s = np.asarray(spacing, dtype=np.float64)
        deformation = deformation * s[:, None] / s[None, :]
    longitudinal, transmural = myocardium.directions(points, spacing)
    values = green_lagrange_along(deformation, {"E_ll": longitudinal[None], "E_tt": transmural[None]})
    shaped = {name: np.asarray(value, dtype=np.float64)[:, None] for name, value in profiles.items()}
    x, y = forward(heart, motion, shaped, myocardium.curve[:, 0], myocardium.curve[:, 1])
    lengths = np.sum(np.hypot(np.diff(x, axis=1) * spacing[1], np.diff(y, axis=1) * spacing[0]), axis=1)
    return {"E_ll": values["E_ll"].mean(axis=1), "E_tt": values["E_tt"].mean(axis=1),
            "GLS_centreline": 100.0 * (lengths - lengths[0]) / lengths[0], "per_point": values}


# ------------------------------------------------------------------------------- the commands' glue
LONG_AXIS_OPTIONS = ("view", "centreline", "wall_mm")
SHORT_AXIS_OPTIONS = {"ring": "--lv", "rv": "--rv"}


def stored_view(path: str | Path | None) -> str | None:
    """The view stored in an .npz input ('view', as simulated long-axis sequences carry), else None."""
    if path is None or not str(path).lower().endswith(".npz") or not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            view = str(data["view"]) if "view" in data.files else None
    except (OSError, ValueError):
        return None
    return view if view in VIEWS else None


def sequence_view(sequence, given: str | None = None) -> tuple[str, str]:
    """The view of a read sequence (``deeptag.io.Sequence``) and where it came from (``resolve_view``)."""
    metadata = dict(getattr(sequence, "metadata", None) or {})
    metadata.setdefault("view", stored_view(getattr(sequence, "source", None)))
    return resolve_view(given, metadata)


def result_view(given: str | None, result) -> str:
    """The view of a track result folder (``report.ResultFolder``): ``--view``, else the one summary.json
    records, else the input sequence's, else 'sax'."""
    if given is not None:
        return parse_view(given)
    recorded = result.summary.get("view")
    if recorded in VIEWS:
        return recorded
    return sequence_view(result.sequence)[0] if result.sequence is not None else "sax"


def make_myocardium(shape: tuple[int, int], options: dict, spacing: tuple[float, float] | None = None,
                    sequence_path: str | Path | None = None):
    """The frame-0 myocardium of either kind from the command-line options: ``define_myocardium``'s keyword
    arguments plus ``view``, ``centreline`` and ``wall_mm``. A long-axis view gives a
    ``LongAxisMyocardium``, 'sax' (or none) a short-axis ``Myocardium``; options of the other kind are refused."""
    from .myocardium import define_myocardium

    view = parse_view(options.get("view")) or "sax"
    if view in LONG_AXIS_VIEWS:
        wrong = [flag for key, flag in SHORT_AXIS_OPTIONS.items() if options.get(key)]
        if wrong:
            raise InputError(f"{', '.join(wrong)}: short-axis option(s), but the view is {view}; give "
                             "--centreline AX,AY,X1,Y1,X2,Y2 with --wall-mm, --mask or --contours")
        return define_long_axis_myocardium(shape, view, options.get("centreline"), options.get("wall_mm"),
                                           options.get("mask"), options.get("mask_label"), spacing, sequence_path,
                                           options.get("contours"))
    wrong = [flag for key, flag in (("centreline", "--centreline"), ("wall_mm", "--wall-mm")) if options.get(key)]
    if wrong:
        raise InputError(f"{', '.join(wrong)}: long-axis option(s), but the view is sax; give --view 2ch, 3ch "
                         "or 4ch")
    return define_myocardium(shape, **{k: v for k, v in options.items() if k not in LONG_AXIS_OPTIONS})


def compute_any_strain(lagrangian: np.ndarray, myocardium, spacing=None, frame_times_ms=None):
    """``compute_long_axis_strain`` for a long-axis wall, ``deeptag.strain.compute_strain`` otherwise."""
    if isinstance(myocardium, LongAxisMyocardium):
        return compute_long_axis_strain(lagrangian, myocardium, spacing, frame_times_ms)
    from .strain import compute_strain
    return compute_strain(lagrangian, myocardium, spacing, frame_times_ms)


def write_any_strain(folder: Path, result) -> dict:
    """``write_long_axis_strain`` or ``deeptag.strain.write_strain``, by the kind of result."""
    if isinstance(result, LongAxisStrain):
        return write_long_axis_strain(folder, result)
    from .strain import write_strain
    return write_strain(folder, result)


def print_long_axis_peaks(result: LongAxisStrain, summary: dict, out: Path) -> None:
    """The peak values of every region of a long-axis result, as a table on stdout."""
    myocardium = result.myocardium
    print(f"{myocardium.view} view ({' / '.join(WALLS[myocardium.view])} walls), {len(result.points)} myocardium "
          f"pixels, {result.num_frames} frames -> {out}")
    when = "ms" if result.frame_times_ms is not None else "frame"
    print(f"peak values (time in {when}):")
    quantities = ("E_ll", "E_tt", "GLS_centreline")
    print(f"{'region':<28}" + "".join(f"{q + ' (%)':>24}" for q in quantities))
    for region in summary["regions"]:
        cells = []
        for quantity in quantities:
            peak = region["peaks"].get(quantity)
            if peak is None or peak["value"] is None:
                cells.append("")
                continue
            at = f"{peak['time_ms']:.0f}" if peak["time_ms"] is not None else f"{peak['frame']}"
            cells.append(f"{peak['value']:8.2f} at {at}")
        label = f"{region['region']} {region['name']}" if region["kind"] == "segment" else region["name"]
        print(f"{label:<28}" + "".join(f"{cell:>24}" for cell in cells))


# ------------------------------------------------------------------- one bull's-eye from several views
def read_strain_summary(folder: str | Path) -> dict:
    """``strain.json`` of a ``deeptag strain`` output folder, or of ``strain/`` in a track result folder."""
    import json

    folder = Path(folder)
    for candidate in (folder / "strain.json", folder / "strain" / "strain.json"):
        if candidate.is_file():
            try:
                summary = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise InputError(f"not a readable strain.json ({error})", candidate) from None
            if not isinstance(summary, dict) or "regions" not in summary:
                raise InputError("not a strain.json of deeptag strain (no regions)", candidate)
            return summary
    raise InputError("no strain.json here or in strain/: run deeptag strain on it first", folder)


def summary_label(summary: dict) -> str:
    """How a combined table names one result: its view, and its level for a short-axis slice."""
    view = summary.get("view", "sax")
    return view if view != "sax" else f"sax {summary.get('myocardium', {}).get('level', '')}".strip()


def combine_segments(summaries: list[dict], quantity: str) -> tuple[dict, dict]:
    """Peak ``quantity`` per AHA segment (1-17) over several strain results: the mean over the results that
    hold the segment (the apex shows in every long-axis view, the apical septal and lateral segments in two),
    with the results it came from; and the global value, the mean of the results' global peaks (for E_ll
    of the three apical views, the echocardiographic GLS). Returns ``(segments, global)``:
    ``{number: {"value", "name", "sources"}}`` and ``{"value", "sources"}``."""
    from .myocardium import segments as short_axis_segments

    names = dict(SEGMENT_NAMES)
    for level in ("basal", "mid", "apical"):
        names.update({s.number: f"{level} {s.name}" for s in short_axis_segments(level=level)})
    found: dict[int, list[tuple[float, str]]] = {}
    overall: list[tuple[float, str]] = []
    for summary in summaries:
        label = summary_label(summary)
        for region in summary["regions"]:
            peak = (region.get("peaks", {}).get(quantity) or {}).get("value")
            if peak is None:
                continue
            kind = region.get("kind") or ("global" if region["region"] == "global" else "segment")
            if kind == "global":
                overall.append((float(peak), label))
            elif kind == "segment":
                found.setdefault(int(region["region"]), []).append((float(peak), label))
    segments = {number: {"value": float(np.mean([v for v, _ in values])), "name": names.get(number, ""),
                         "sources": [s for _, s in values]} for number, values in sorted(found.items())}
    total = {"value": float(np.mean([v for v, _ in overall])) if overall else None,
             "sources": [s for _, s in overall]}
    return segments, total
