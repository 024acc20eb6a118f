"""The left-ventricular myocardium at the reference frame (frame 0) and its AHA segments.

The myocardium is given as a mask (NIfTI, PNG or npz), as endo- and epicardial contours (CSV or
JSON point lists) or as a ring ``cx,cy,r_endo,r_epi``, all in the project's pixel coordinates:
points are ``(x, y) = (column, row)``, origin at the centre of the top-left pixel.

Segment convention (AHA 17-segment model, Cerqueira et al. 2002), for a short-axis slice shown in the
standard orientation (seen from the apex: anterior wall up, septum and right ventricle on the left):

* Angles are measured about the LV centre, in degrees, counter-clockwise *as displayed*
  (0 deg = towards +x, 90 deg = towards the top of the image, i.e. towards -y).
* The anterior right-ventricular (RV) insertion point separates the anterior wall from the septum.
  Given with ``--rv x,y`` it is used through its angle about the centre; by default it sits at
  120 deg, where it lies in the standard orientation.
* Basal (segments 1-6) and mid (7-12) levels have six 60-degree sectors numbered counter-clockwise:
  anterior, anteroseptal, inferoseptal, inferior, inferolateral, anterolateral. The anterior segment
  ends at the RV insertion and the anteroseptal one starts there, so the two septal segments cover
  the 120 deg after the insertion (where the inferior insertion lies in a normal heart).
* The apical level (13-16) has four 90-degree sectors, anterior, septal, inferior, lateral; the
  septal one is centred on the septum, 60 deg after the RV insertion.

Transmural layers (endocardial, mid-wall, epicardial thirds of the wall): a point's position across the
wall is ``(r - r_in) / (r_out - r_in)``, 0 at the endocardial edge and 1 at the epicardial one, with ``r``
its distance from the LV centre and ``r_in``, ``r_out`` the smallest and largest distances of the mask's
pixel centres in ``LAYER_SECTOR_DEG`` sectors about the centre, interpolated in angle between sector
centres. It needs nothing but the mask and the centre, so it works for open masks too.
"""
from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.draw import polygon2mask

from .errors import InputError

LEVELS = ("basal", "mid", "apical")
DEFAULT_RV_ANGLE_DEG = 120.0
_SIX = ("anterior", "anteroseptal", "inferoseptal", "inferior", "inferolateral", "anterolateral")
_FOUR = ("anterior", "septal", "inferior", "lateral")
LAYERS = (("endo", "endocardial third"), ("midwall", "mid-wall third"), ("epi", "epicardial third"))
LAYER_SECTOR_DEG = 10.0


@dataclass(frozen=True)
class Segment:
    """One AHA segment of a slice: its number (1-16), name and sector ``[start_deg, end_deg)``."""

    number: int
    name: str
    start_deg: float
    end_deg: float


@dataclass
class Myocardium:
    """The myocardium of one short-axis slice at frame 0.

    ``mask`` (H, W) bool; ``centre`` the LV centre as (x, y) pixels; ``rv_angle_deg`` the angle of the
    anterior RV insertion about the centre (see the module docstring); ``level`` one of ``LEVELS``;
    ``source`` says how it was given, for the record.
    """

    mask: np.ndarray
    centre: tuple[float, float]
    rv_angle_deg: float = DEFAULT_RV_ANGLE_DEG
    level: str = "mid"
    source: str = ""

    def points(self) -> np.ndarray:
        """Pixel centres inside the mask, (K, 2) as (x, y): the material points whose strain is measured."""
        rows, cols = np.nonzero(self.mask)
        return np.stack([cols, rows], axis=1).astype(np.float64)

    def segments(self) -> list[Segment]:
        return segments(self.rv_angle_deg, self.level)

    def segment_of(self, points: np.ndarray) -> np.ndarray:
        """AHA segment number (K,) of frame-0 points (K, 2) as (x, y)."""
        return segment_numbers(display_angle(points, self.centre), self.rv_angle_deg, self.level)

    def transmural_depth(self, points: np.ndarray) -> np.ndarray:
        """Position across the wall (K,) of frame-0 points (K, 2) as (x, y): 0 endocardial to 1 epicardial."""
        return transmural_depth(self.mask, self.centre, points)

    def describe(self) -> dict:
        """A JSON-able record of the definition (without the mask)."""
        return {"source": self.source, "centre_xy_px": [float(c) for c in self.centre],
                "rv_insertion_angle_deg": float(self.rv_angle_deg), "level": self.level,
                "pixels": int(self.mask.sum())}


def display_angle(points: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """Angle in degrees [0, 360) of points (..., 2) as (x, y) about ``centre``, counter-clockwise as displayed.

    Image rows grow downwards, so the angle is ``atan2(cy - y, x - cx)``.
    """
    points = np.asarray(points, dtype=np.float64)
    angle = np.degrees(np.arctan2(centre[1] - points[..., 1], points[..., 0] - centre[0]))
    return np.mod(angle, 360.0)


def transmural_depth(mask: np.ndarray, centre: tuple[float, float], points: np.ndarray,
                     sector_deg: float = LAYER_SECTOR_DEG) -> np.ndarray:
    """Position across the wall (K,) in [0, 1] of points (K, 2) as (x, y) (see the module docstring).

    Where the wall is a single pixel thick in a sector (``r_in == r_out``) the position is 0.5.
    """
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("the myocardium mask is empty")
    pixels = np.stack([cols, rows], axis=1).astype(np.float64)
    radius = np.hypot(pixels[:, 0] - centre[0], pixels[:, 1] - centre[1])
    sector = (display_angle(pixels, centre) // sector_deg).astype(int)
    filled = np.unique(sector)
    inner = ndimage.minimum(radius, sector, filled)
    outer = ndimage.maximum(radius, sector, filled)
    middles = (filled + 0.5) * sector_deg
    points = np.asarray(points, dtype=np.float64)
    angle = display_angle(points, centre)
    r_in = np.interp(angle, middles, inner, period=360.0)
    r_out = np.interp(angle, middles, outer, period=360.0)
    r = np.hypot(points[:, 0] - centre[0], points[:, 1] - centre[1])
    thickness = r_out - r_in
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = np.where(thickness > 0, (r - r_in) / thickness, 0.5)
    return np.clip(depth, 0.0, 1.0)


def layer_index(depth: np.ndarray) -> np.ndarray:
    """Index into ``LAYERS`` of positions across the wall (K,): the inner, middle or outer third."""
    return np.minimum((len(LAYERS) * np.asarray(depth)).astype(int), len(LAYERS) - 1)


def segments(rv_angle_deg: float = DEFAULT_RV_ANGLE_DEG, level: str = "mid") -> list[Segment]:
    """The AHA segments of one level, in counter-clockwise order, anchored on the anterior RV insertion."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if level == "apical":
        start, width, names, first = rv_angle_deg + 15.0 - 90.0, 90.0, _FOUR, 13
    else:
        start, width, names, first = rv_angle_deg - 60.0, 60.0, _SIX, 1 if level == "basal" else 7
    return [Segment(first + k, name, float(np.mod(start + k * width, 360.0)),
                    float(np.mod(start + (k + 1) * width, 360.0)))
            for k, name in enumerate(names)]


def segment_numbers(angles_deg: np.ndarray, rv_angle_deg: float = DEFAULT_RV_ANGLE_DEG,
                    level: str = "mid") -> np.ndarray:
    """AHA segment number of each angle (degrees, counter-clockwise as displayed) about the LV centre."""
    sectors = segments(rv_angle_deg, level)
    width = 360.0 / len(sectors)
    offset = np.mod(np.asarray(angles_deg, dtype=np.float64) - sectors[0].start_deg, 360.0)
    index = np.minimum((offset // width).astype(int), len(sectors) - 1)
    return np.array([s.number for s in sectors])[index]


def parse_numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    """``count`` comma-separated finite numbers from a command-line value, or an ``InputError``."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{what} must be {count} comma-separated numbers, got {text!r}") from None
    if len(values) != count or not np.isfinite(values).all():
        raise InputError(f"{what} must be {count} comma-separated finite numbers, got {text!r}")
    return values


def ring_mask(shape: tuple[int, int], centre: tuple[float, float], r_endo: float, r_epi: float) -> np.ndarray:
    """Annulus mask (H, W) of pixel centres with ``r_endo <= distance to centre (x, y) <= r_epi``."""
    rows, cols = np.indices(shape)
    distance = np.hypot(cols - centre[0], rows - centre[1])
    return (distance >= r_endo) & (distance <= r_epi)


def cavity_centre(mask: np.ndarray) -> tuple[float, float]:
    """Centroid (x, y) of the cavity that the myocardium encloses, or of the mask when it encloses none."""
    cavity = ndimage.binary_fill_holes(mask) & ~mask
    region = cavity if cavity.any() else mask
    row, col = ndimage.center_of_mass(region)
    return float(col), float(row)


def _select_label(data: np.ndarray, label: int | None, path: Path) -> np.ndarray:
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
        raise InputError(f"a mask must hold numbers, got dtype {data.dtype}", path)
    if label is not None:
        mask = data == label
        if not mask.any():
            raise InputError(f"no pixel has label {label} (labels found: {np.unique(data)[:10].tolist()})", path)
        return mask
    values = np.unique(data)
    if values.size > 2:
        raise InputError(f"the mask has several labels {values[:10].tolist()}; choose the myocardium's "
                         f"with --mask-label", path)
    return data != 0


def read_mask(path: str | Path, shape: tuple[int, int], label: int | None = None) -> np.ndarray:
    """A frame-0 myocardium mask (H, W) bool from NIfTI, PNG or npz.

    npz: the array ``mask``, else ``myocardium_mask`` (as simulated sequences carry), else the only
    array; PNG: non-zero pixels (alpha ignored); NIfTI: a 2D
    image, or 3D/4D with one slice and frame, whose first voxel axis runs along x (columns) and the
    second along y (rows), as NIfTI viewers show it, so it is transposed to (H, W). ``label`` selects
    one label of a label map; without it the mask must be binary.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such mask file", path)
    name = path.name.lower()
    try:
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                keys = data.files
                named = [key for key in ("mask", "myocardium_mask") if key in keys]
                if not named and len(keys) != 1:
                    raise InputError(f"no 'mask' array in the file (found: {', '.join(keys) or 'nothing'})", path)
                array = data[named[0] if named else keys[0]]
        elif name.endswith(".png"):
            import imageio.v3 as iio
            array = iio.imread(path)
            if array.ndim == 3:
                array = array[..., :3].max(axis=-1)
        elif name.endswith((".nii", ".nii.gz")):
            import nibabel
            array = np.asarray(nibabel.load(path).dataobj).squeeze()
            if array.ndim == 2:
                array = array.T
        else:
            raise InputError("a mask must be a .nii, .nii.gz, .png or .npz file", path)
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"not a readable mask ({error})", path) from None
    array = np.asarray(array)
    if array.shape != tuple(shape):
        raise InputError(f"the mask is {array.shape[0] if array.ndim else 0}x"
                         f"{array.shape[1] if array.ndim > 1 else 0} (shape {array.shape}) but the frames are "
                         f"{shape[0]}x{shape[1]}", path)
    mask = _select_label(array, label, path)
    if not mask.any():
        raise InputError("the mask is empty", path)
    return mask


def read_contours(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Endo- and epicardial contours, each (N, 2) as (x, y) pixels, N >= 3.

    JSON: ``{"endo": [[x, y], ...], "epi": [[x, y], ...]}``. CSV: a header with columns ``contour``,
    ``x``, ``y`` and one row per point, ``contour`` being ``endo`` or ``epi``; points in drawing order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such contours file", path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise InputError('expected a JSON object {"endo": [[x, y], ...], "epi": [[x, y], ...]}', path)
            raw = {key: data.get(key) for key in ("endo", "epi")}
        elif path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            if not rows or not {"contour", "x", "y"} <= set(rows[0]):
                raise InputError("the CSV needs a header with columns contour, x and y", path)
            raw = {key: [[r["x"], r["y"]] for r in rows if r["contour"].strip().lower() == key]
                   for key in ("endo", "epi")}
        else:
            raise InputError("contours must be a .json or a .csv file", path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable contours file ({error})", path) from None
    contours = []
    for key in ("endo", "epi"):
        try:
            points = np.asarray(raw[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"the {key} contour must be a list of numeric [x, y] points", path) from None
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3 or not np.isfinite(points).all():
            raise InputError(f"the {key} contour needs at least 3 finite (x, y) points", path)
        contours.append(points)
    return contours[0], contours[1]


def contour_mask(endo: np.ndarray, epi: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels (H, W) inside the epicardial polygon and outside the endocardial one (points as (x, y))."""
    inside_epi = polygon2mask(shape, np.asarray(epi)[:, ::-1])
    inside_endo = polygon2mask(shape, np.asarray(endo)[:, ::-1])
    return inside_epi & ~inside_endo


def define_myocardium(shape: tuple[int, int], ring: str | None = None, mask: str | Path | None = None,
                      contours: str | Path | None = None, rv: str | None = None, level: str = "mid",
                      mask_label: int | None = None) -> Myocardium:
    """The frame-0 myocardium from exactly one of the command-line forms.

    ``ring`` is ``"cx,cy,r_endo,r_epi"`` in pixels; ``mask`` a mask file; ``contours`` a contours file;
    ``rv`` the anterior RV insertion ``"x,y"`` (default: 120 deg, see the module docstring).
    """
    given = [name for name, value in (("--lv", ring), ("--mask", mask), ("--contours", contours)) if value]
    if len(given) != 1:
        raise InputError("give the myocardium with exactly one of --lv, --mask or --contours"
                         + (f" (got {', '.join(given)})" if given else ""))
    if level not in LEVELS:
        raise InputError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    if ring:
        cx, cy, r_endo, r_epi = parse_numbers(ring, 4, "--lv (cx,cy,r_endo,r_epi)")
        if not 0 <= r_endo < r_epi:
            raise InputError(f"--lv needs 0 <= r_endo < r_epi, got r_endo={r_endo:g}, r_epi={r_epi:g}")
        region, centre, source = ring_mask(shape, (cx, cy), r_endo, r_epi), (cx, cy), f"ring {ring}"
        if not region.any():
            raise InputError(f"the ring --lv {ring} holds no pixel of the {shape[0]}x{shape[1]} frames")
    elif mask:
        region = read_mask(mask, shape, mask_label)
        centre, source = cavity_centre(region), f"mask {mask}"
    else:
        endo, epi = read_contours(contours)
        region = contour_mask(endo, epi, shape)
        if not region.any():
            raise InputError("no pixel lies between the endo- and epicardial contours", contours)
        centre, source = cavity_centre(region), f"contours {contours}"
    rv_angle = DEFAULT_RV_ANGLE_DEG
    if rv:
        point = np.array(parse_numbers(rv, 2, "--rv (x,y)"))
        if np.allclose(point, centre):
            raise InputError("--rv is at the LV centre; give the anterior RV insertion point on the wall")
        rv_angle = float(display_angle(point, centre))
    return Myocardium(region, centre, rv_angle, level, source)
