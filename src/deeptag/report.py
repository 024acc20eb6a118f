"""One self-contained HTML report of a ``deeptag track`` result folder: pictures, tables and settings.

Images are inlined as base64 PNG data URIs and animations as GIF data URIs, so the single file can be
mailed or archived and opens offline in any browser.
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__, viz
from .errors import InputError
from .io import Sequence, read_sequence
from .long_axis import LONG_AXIS_VIEWS
from .outputs import check_output_folder, result_directory
from .strain import QUANTITIES, region_label, strain_summary

FIELD_NAMES = ("inf_forward", "inf_backward", "lagrangian")

LONG_AXIS_QUANTITIES = ("E_ll", "E_tt", "GLS_centreline")
SHORT_AXIS_QUANTITIES = (*QUANTITIES, "E_rr_rate", "E_cc_rate")
# Quantities whose accuracy is not established, and what is known of it: the report marks them beside their
# numbers so that none is read as trusted (issue 30). E_cc (0.92 points from the truth globally on simulated
# test sequences, docs/guide/strain.md) and E_ll (1.28 points on average over five simulated long-axis
# sequences, docs/guide/long_axis.md) are measured; these are not, or are known to be off.
NOT_ESTABLISHED = {
    "E_rr": "its peak global value came out too low on every simulated test sequence, by 16.5 percentage points "
            "on average when tracked with the myocardium given, 20.4 without it, 32.6 by the network alone "
            "(--adapt 0), and by 35 to 52 at the endocardium (docs/guide/strain.md): read it as a lower bound of "
            "wall thickening, never as its value",
    "rotation": "not measured against a known truth",
    "E_rr_rate": "not measured; it is the time derivative of the underestimated E_rr",
    "E_cc_rate": "not measured against a known truth",
    "E_tt": "its peak was 13 to 31 percentage points off on simulated long-axis sequences after adaptation "
            "(docs/guide/long_axis.md)",
}
FLAG = "\u2020"  # the dagger that marks a quantity of NOT_ESTABLISHED in the tables' headers
UNTRUSTED = FLAG + " {}: accuracy not established (the note by the peak table says what is known)."


@dataclass
class ResultFolder:
    """What ``deeptag track --out DIR`` wrote, read back.

    ``fields`` holds ``inf_forward``, ``inf_backward``, ``lagrangian`` (T-1, 2, H, W) in input pixels
    and ``uncertainty`` when present; ``summary`` the parsed ``summary.json``; ``sequence`` the input
    sequence when it could be read (else ``sequence_problem`` says why); ``tracks`` (T, K, 2) or None.
    """

    path: Path
    summary: dict
    fields: dict[str, np.ndarray]
    sequence: Sequence | None
    sequence_problem: str | None
    tracks: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.fields["lagrangian"].shape[2:])

    @property
    def spacing(self) -> tuple[float, float] | None:
        spacing = self.summary.get("spacing_mm")
        if spacing:
            return float(spacing[0]), float(spacing[1])
        return None if self.sequence is None else self.sequence.spacing

    @property
    def frame_times_ms(self) -> np.ndarray | None:
        """Frame times in ms from summary.json where it has them, else from the input sequence."""
        times = self.summary.get("frame_times_ms")
        if times is not None and len(times) == self.fields["lagrangian"].shape[0] + 1:
            return np.asarray(times, dtype=np.float64)
        return None if self.sequence is None else self.sequence.frame_times

    def require_sequence(self) -> Sequence:
        """The input sequence, or an ``InputError`` that says how to point at it."""
        if self.sequence is None:
            raise InputError(f"the input sequence is needed for pictures but {self.sequence_problem}; "
                             f"give it with --sequence", self.path)
        return self.sequence


def read_result_folder(path: str | Path, sequence_path: str | Path | None = None) -> ResultFolder:
    """Read a result folder; the input sequence is ``sequence_path`` or the ``input`` of summary.json."""
    path = Path(path)
    if not path.is_dir():
        raise InputError("no such result folder (expected the --out folder of deeptag track)", path)
    summary_file, fields_file = path / "summary.json", path / "fields.npz"
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no summary.json: not a deeptag track result folder", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable JSON file ({error})", summary_file) from None
    if not isinstance(summary, dict):
        raise InputError("expected a JSON object", summary_file)
    if not fields_file.is_file():
        raise InputError("no fields.npz: not a deeptag track result folder", path)
    try:
        with np.load(fields_file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise InputError(f"not a readable .npz file ({error})", fields_file) from None
    missing = [name for name in FIELD_NAMES if name not in arrays]
    if missing:
        raise InputError(f"missing field(s) {', '.join(missing)}", fields_file)
    shape = arrays["lagrangian"].shape
    if len(shape) != 4 or shape[1] != 2 or any(arrays[n].shape != shape for n in FIELD_NAMES):
        raise InputError(f"fields must all have shape (T-1, 2, H, W), got "
                         f"{', '.join(f'{n} {arrays[n].shape}' for n in FIELD_NAMES)}", fields_file)
    sequence, problem = None, None
    source = sequence_path if sequence_path is not None else summary.get("input")
    if source is None:
        problem = "summary.json names no input"
    else:
        try:
            # the input named in summary.json is read as track read it: the same series and slice
            recorded = {} if sequence_path is not None else {"series": summary.get("series"),
                                                             "slice_index": summary.get("slice")}
            sequence = read_sequence(source, **recorded)
            if sequence.images.shape[1:] != shape[2:] or sequence.num_frames != shape[0] + 1:
                raise InputError(f"its {sequence.num_frames} frames of {sequence.images.shape[1:]} pixels do not "
                                 f"match the {shape[0]} fields of {shape[2:]} pixels", source)
        except InputError as error:
            if sequence_path is not None:
                raise
            sequence, problem = None, f"it could not be used ({error})"
    tracks = np.load(path / "tracks.npy", allow_pickle=False) if (path / "tracks.npy").is_file() else None
    fields = {name: arrays[name] for name in (*FIELD_NAMES, "uncertainty") if name in arrays}
    return ResultFolder(path, summary, fields, sequence, problem, tracks)


@dataclass
class StrainTables:
    """A strain result as the report needs it: the JSON summary, frame-0 points (K, 2) and segments (K,)."""

    summary: dict
    points: np.ndarray
    segment: np.ndarray

    @classmethod
    def from_result(cls, result) -> StrainTables:
        """From a ``StrainResult`` or a ``long_axis.LongAxisStrain``."""
        from .long_axis import LongAxisStrain, long_axis_summary
        if isinstance(result, LongAxisStrain):
            return cls(long_axis_summary(result), result.points, result.segment)
        return cls(strain_summary(result), result.points, result.segment)

    @property
    def long_axis(self) -> bool:
        """Whether these are the strain tables of a long-axis view (E_ll, E_tt)."""
        return self.summary.get("view") in LONG_AXIS_VIEWS


def read_strain_folder(folder: str | Path) -> StrainTables | None:
    """The tables written by ``deeptag strain`` into ``folder``, or None when it holds none."""
    folder = Path(folder)
    if not (folder / "strain.json").is_file() or not (folder / "strain_points.npz").is_file():
        return None
    try:
        summary = json.loads((folder / "strain.json").read_text(encoding="utf-8"))
        with np.load(folder / "strain_points.npz", allow_pickle=False) as data:
            points, segment = data["points_xy_px"], data["segment"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise InputError(f"unreadable strain results ({error}); run deeptag strain --force again", folder) from None
    return StrainTables(summary, points, segment)


@dataclass
class GridOptions:
    """The virtual tag grid at frame 0: line spacing in px, a point (x, y) it passes through, its angle
    in degrees. Left all None, the grid is aligned with the tags of frame 0 (``viz.tag_grid_from_image``);
    otherwise what is missing defaults to a twentieth of the shorter side, (0, 0) and 0 deg."""

    spacing: float | None = None
    offset: tuple[float, float] | None = None
    angle_deg: float | None = None

    def resolve(self, frame0: np.ndarray) -> tuple[float, tuple[float, float], float, str]:
        """Spacing, offset, angle and a note on where they come from, for this frame-0 image (H, W)."""
        if self.spacing is None and self.offset is None and self.angle_deg is None:
            spacing, angle, offset = viz.tag_grid_from_image(frame0)
            return spacing, offset, angle, "aligned with the tags of frame 0"
        spacing = self.spacing if self.spacing else max(4.0, round(min(frame0.shape) / 20.0))
        return float(spacing), self.offset or (0.0, 0.0), self.angle_deg or 0.0, "as given"


@dataclass
class Picture:
    """One picture of the report: an animation (RGB frames, the first showing frame ``first`` of the
    sequence) or a still (PNG bytes)."""

    name: str
    title: str
    caption: str
    frames: list[np.ndarray] = field(default_factory=list)
    png: bytes | None = None
    first: int = 0

    def data_uri(self) -> str:
        """The still as a PNG data URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def frame_uris(self) -> list[str]:
        """Each frame of the animation as a PNG data URI."""
        return ["data:image/png;base64," + base64.b64encode(viz.png_array_bytes(frame)).decode("ascii")
                for frame in self.frames]


def make_pictures(result: ResultFolder, strain: StrainTables | None = None,
                  grid: GridOptions | None = None) -> list[Picture]:
    """Every picture of the report, in reading order (section 6.6 of the paper, then strain)."""
    images = result.require_sequence().images
    fields = result.fields
    spacing, offset, angle, origin = (grid or GridOptions()).resolve(images[0])
    pictures = [
        Picture("registration", "Registration",
                "Upper left: frame t+1. Upper right: frame t warped by the forward INF field (should match "
                "frame t+1). Lower left: frame t+1 warped by the backward INF field (should match frame t). "
                "Lower right: frame 0 warped by the Lagrangian field (should match frame t+1).",
                viz.registration_frames(images, fields["inf_forward"], fields["inf_backward"],
                                        fields["lagrangian"]), first=1),
    ]
    if result.tracks is not None:
        expert = result.sequence.landmarks
        if expert is not None and expert.shape != result.tracks.shape:
            expert = None
        pictures.append(Picture("landmarks", "Landmark tracking",
                                "Predicted positions in green" + (", expert landmarks in red." if expert is not None
                                                                  else " (no expert landmarks in the input)."),
                                viz.landmark_frames(images, result.tracks, expert)))
    pictures += [
        Picture("tag_grid", "Virtual tag grid",
                f"A grid of lines {spacing:.2f} px apart, {origin} (through x, y = {offset[0]:.1f}, "
                f"{offset[1]:.1f}, turned by {angle:.1f} deg), drawn on frame 0 and carried to every frame "
                "by the Lagrangian fields: it should follow the tags.",
                viz.tag_grid_frames(images, fields["lagrangian"], spacing, offset, angle)),
        Picture("motion_quiver", "Motion fields",
                "Arrows run from where tissue was (frame t-1 for the INF field, frame 0 for the Lagrangian "
                "field) to where it is on frame t; short arrows are magnified by the stated factor.",
                viz.quiver_frames(images, fields["inf_forward"], fields["lagrangian"]), first=1),
        Picture("lagrangian_maps", "Lagrangian field maps",
                "The x and y components of the Lagrangian pull-back field of each frame (the displacement "
                "from a pixel of frame t back to frame 0).",
                viz.field_map_frames(fields["lagrangian"], result.spacing), first=1),
    ]
    uncertainty = fields.get("uncertainty")
    # a model without one writes none or zeros; NaN lies outside the tracked region of interest
    if uncertainty is not None and uncertainty.ndim == 3 and np.isfinite(uncertainty).any():  # issue 27
        pictures.append(Picture("error_map", "Where tracking may be wrong",
                                "The estimated tracking error of each pixel (predicted 90th percentile of the "
                                "end-point error, pixels; docs/guide/quality.md) over frames 1..T-1; the contour "
                                "marks where it exceeds 2 px: do not trust the motion or strain there.",
                                viz.uncertainty_frames(images, uncertainty), first=1))
    elif uncertainty is not None and uncertainty.shape == fields["lagrangian"].shape and \
            np.isfinite(uncertainty).any() and np.nanmax(uncertainty) > 0:
        pictures.append(Picture("uncertainty", "Uncertainty",
                                "The model's standard deviation of the velocity (its two components combined): "
                                "where it is high, the motion estimate is less certain.",
                                viz.uncertainty_frames(images, uncertainty), first=1))
    if strain is not None and strain.long_axis:
        view = strain.summary["view"].upper()
        pictures += [
            Picture("segments", f"LV wall and AHA segments ({view})",
                    "The frame-0 LV wall coloured by long-axis AHA segment, its mid-wall centreline and the three "
                    "points that define it (apex, annulus of wall 1 and of wall 2).",
                    png=viz.png_bytes(viz.long_axis_segments_figure(images[0], strain.points, strain.segment,
                                                                    strain.summary))),
            Picture("strain_curves", "Longitudinal and transmural strain",
                    "Green-Lagrange strain along the wall (E_ll) and across it (E_tt), globally, per wall and per "
                    "segment; right: the global E_ll and the mid-wall centreline's shortening (GLS). "
                    + UNTRUSTED.format("E_tt"),
                    png=viz.png_bytes(viz.long_axis_curves_figure(strain.summary))),
            Picture("long_axis_peaks", "Peak strain per segment",
                    "Peak (largest magnitude) E_ll and E_tt per AHA segment, from the base of wall 1 over the "
                    "apex to the base of wall 2. " + UNTRUSTED.format("E_tt"),
                    png=viz.png_bytes(viz.long_axis_peaks_figure(strain.summary))),
        ]
    elif strain is not None:
        pictures += [
            Picture("segments", "Myocardium and AHA segments",
                    "The frame-0 myocardium coloured by segment, the LV centre and the anterior RV insertion.",
                    png=viz.png_bytes(viz.segments_figure(images[0], strain.points, strain.segment, strain.summary))),
            Picture("strain_curves", "Strain curves",
                    "Radial and circumferential Green-Lagrange strain and rotation, globally and per segment. "
                    + UNTRUSTED.format("E_rr and rotation"),
                    png=viz.png_bytes(viz.strain_curves_figure(strain.summary))),
            Picture("bullseye", "Peak strain, bull's-eye",
                    "Peak (largest magnitude) value per AHA segment of this slice's level. "
                    + UNTRUSTED.format("E_rr and rotation"),
                    png=viz.png_bytes(viz.bullseye_figure(strain.summary))),
        ]
    return pictures


def save_pictures(pictures: list[Picture], folder: str | Path, fps: float = 4.0, force: bool = False) -> None:
    """Write every animation as GIF plus PNG frames and every still as PNG into a new ``folder``."""
    with result_directory(folder, force) as tmp:
        for picture in pictures:
            if picture.png is not None:
                (tmp / f"{picture.name}.png").write_bytes(picture.png)
            else:
                viz.save_animation(picture.frames, tmp, picture.name, fps, picture.first)


def _cell(value, digits: int = 2) -> str:
    if value is None:
        return "&ndash;"
    return html.escape(f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flagged(quantity: str) -> str:
    """A column's quantity as the tables name it: with ``FLAG`` when its accuracy is not established."""
    return f"{quantity} {FLAG}" if quantity in NOT_ESTABLISHED else quantity


def accuracy_note(quantities: tuple[str, ...]) -> str:
    """A paragraph saying which of ``quantities`` have no established accuracy and what is known of it,
    shown beside their numbers; empty when every one is established."""
    notes = [f"<b>{html.escape(q)}</b>: {html.escape(NOT_ESTABLISHED[q])}" for q in quantities if q in NOT_ESTABLISHED]
    if not notes:
        return ""
    return (f'<p class="caution">{FLAG} <b>Accuracy not established</b>; do not read these as trusted values. '
            + "; ".join(notes) + ".</p>")


def strain_tables_html(summary: dict) -> str:
    """The peak table (every region) and the per-frame global table of a short-axis or long-axis strain
    summary, as HTML, with the quantities whose accuracy is not established marked and said beside them."""
    long_axis = summary.get("view") in LONG_AXIS_VIEWS
    quantities = LONG_AXIS_QUANTITIES if long_axis else SHORT_AXIS_QUANTITIES
    units = summary["units"]
    when = "time (ms)" if summary["time_ms"] is not None else "frame"
    header = ["region"] + [f"peak {_flagged(q)} ({units[q]}) / {when}" for q in quantities]
    flagged = any("unreliable_frames" in region for region in summary["regions"])  # issue 27
    if flagged:
        header.append("unreliable frames (error estimate > 2 px)")
    rows = []
    for region in summary["regions"]:
        cells = [html.escape(f"{region_label(region)} ({region['points']} px)")]
        for quantity in quantities:
            peak = region["peaks"].get(quantity) or {"value": None}
            if peak["value"] is None:
                cells.append("&ndash;")
                continue
            at = peak["time_ms"] if peak["time_ms"] is not None else peak["frame"]
            cells.append(f"{peak['value']:.2f} / {at:g}")
        if flagged:
            frames = region.get("unreliable_frames") or []
            cells.append(f"<b style='color:#b00'>{len(frames)}: {frames[0]}&ndash;{frames[-1]}</b>" if frames else "none")
        rows.append(cells)
    peaks = _table(header, rows)
    overall = summary["regions"][0]["curves"]
    frame_rows = [[str(t), _cell(None if summary["time_ms"] is None else summary["time_ms"][t], 1)]
                  + [_cell(overall[q][t]) for q in quantities] for t in summary["frames"]]
    frames = _table(["frame", "time (ms)"] + [f"{_flagged(q)} ({units[q]})" for q in quantities], frame_rows)
    conventions = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                          for k, v in summary["conventions"].items())
    myocardium = html.escape(json.dumps(summary["myocardium"]))
    title = f"Peaks ({html.escape(summary['view'].upper())} view)" if long_axis else "Peaks"
    note = accuracy_note(quantities)
    return (f"<h3>{title}</h3>{note}{peaks}<h3>Global strain per frame</h3>{frames}"
            f"<h3>Definitions</h3><ul>{conventions}</ul><p>Myocardium: <code>{myocardium}</code></p>")


STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
figure { margin: 1em 0; } figcaption { font-size: .9em; color: #555; max-width: 900px; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
table.settings td { text-align: left; max-width: 700px; overflow-wrap: anywhere; }
.frames { font-size: .9em; margin: .3em 0; } .frames input { width: 320px; vertical-align: middle; }
img[hidden] { display: none; }
p.caution { border-left: 4px solid #b00; background: #fff4f4; padding: .4em .8em; max-width: 900px; }
"""


STRAIN_PICTURES = ("segments", "strain_curves", "bullseye", "long_axis_peaks")

# the frame slider of the animations: every animation shows the same frame t (or its nearest), play steps
# through the frames; inline, no external script
SCRIPT = """
(function () {
  var figures = Array.prototype.slice.call(document.querySelectorAll("figure.animation"));
  var timer = null;
  function show(t) {
    figures.forEach(function (figure) {
      var images = figure.querySelectorAll("img"), first = Number(figure.dataset.first);
      var k = Math.min(Math.max(t - first, 0), images.length - 1);
      for (var i = 0; i < images.length; i++) { images[i].hidden = i !== k; }
      figure.querySelector("input").value = first + k;
      figure.querySelector("output").textContent = "frame " + (first + k);
    });
  }
  function label(text) {
    figures.forEach(function (figure) { figure.querySelector("button").textContent = text; });
  }
  function stop() { if (timer !== null) { clearInterval(timer); timer = null; label("play"); } }
  function play(slider) {
    label("pause");
    timer = setInterval(function () {
      var t = Number(slider.value) + 1;
      show(t > Number(slider.max) ? Number(slider.min) : t);
    }, INTERVAL);
  }
  figures.forEach(function (figure) {
    var slider = figure.querySelector("input");
    slider.addEventListener("input", function () { stop(); show(Number(slider.value)); });
    figure.querySelector("button").addEventListener("click", function () {
      if (timer === null) { play(slider); } else { stop(); }
    });
  });
})();
"""


def _figure(picture: Picture, open_frame: int) -> str:
    """A still, or an animation as one image per frame with a frame slider, opened on ``open_frame``."""
    alt, caption = html.escape(picture.title), f"<figcaption>{html.escape(picture.caption)}</figcaption>"
    if picture.png is not None:
        return f'<figure><img alt="{alt}" src="{picture.data_uri()}">{caption}</figure>'
    last = picture.first + len(picture.frames) - 1
    shown = min(max(open_frame, picture.first), last)
    images = "".join(f'<img alt="{alt}, frame {t}" src="{uri}"{"" if t == shown else " hidden"}>'
                     for t, uri in enumerate(picture.frame_uris(), start=picture.first))
    controls = (f'<div class="frames"><button type="button">play</button> <input type="range" '
                f'min="{picture.first}" max="{last}" value="{shown}" aria-label="frame of {alt}"> '
                f"<output>frame {shown}</output></div>")
    return f'<figure class="animation" data-first="{picture.first}">{images}{controls}{caption}</figure>'


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(key, value) rows of a nested dict, nested keys joined with ': '."""
    rows: list[tuple[str, object]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{prefix}{key}: ")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _setting(value) -> str:
    """One setting's value as text: numbers to 4 significant digits, lists comma-separated."""
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_setting(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def settings_table(settings: dict) -> str:
    """Settings as a two-column table of readable key/value rows."""
    rows = [[html.escape(key), html.escape(_setting(value))] for key, value in _flatten(settings)]
    return _table(["setting", "value"], rows).replace("<table>", '<table class="settings">', 1)


def end_systole(strain: StrainTables) -> int | None:
    """The frame of peak global circumferential shortening (most negative global E_cc), where the
    myocardium is known: end systole as strain defines it, whatever the background does; None when the
    strain tables have no global E_cc curve or it never shortens."""
    quantity = "E_ll" if strain.long_axis else "E_cc"  # longitudinal shortening in a long-axis view
    for region in strain.summary.get("regions", []):
        if region.get("kind") == "global":
            curve = np.asarray([np.nan if v is None else v for v in region["curves"].get(quantity, [])], float)
            if np.nanmin(curve, initial=0.0) < 0:
                return int(np.nanargmin(curve))
    return None


FALL = 0.25  # after end systole the motion falls back by at least this fraction of its peak


def motion_curve(lagrangian: np.ndarray) -> np.ndarray:
    """(T,) how much each frame t has moved (0 at frame 0), from its Lagrangian field ``lagrangian[t - 1]``:
    the 90th percentile of the displacement over the middle half of the tracked region (rows and
    columns), where the heart lies in a region framed on it, less its median there. The border, where
    the tags fade first and the fields drift, is left out, and so is a translation of the whole middle
    (breathing, the patient moving): end systole is the heart's largest contraction, not its largest shift."""
    finite = np.isfinite(lagrangian).all(axis=(0, 1))
    if not finite.any():
        return np.zeros(len(lagrangian) + 1)
    rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
    (r0, r1), (c0, c1) = (rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1)
    middle = lagrangian[:, :, r0 + (r1 - r0) // 4:r1 - (r1 - r0) // 4, c0 + (c1 - c0) // 4:c1 - (c1 - c0) // 4]
    moved = middle - np.nanmedian(middle, axis=(2, 3), keepdims=True)
    magnitude = np.hypot(moved[:, 0], moved[:, 1]).reshape(len(lagrangian), -1)
    return np.concatenate([[0.0], np.nan_to_num(np.nanpercentile(magnitude, 90, axis=1))])


def largest_motion_frame(lagrangian: np.ndarray) -> int:
    """End systole from the motion alone, where no strain says it: the frame of largest motion
    (``motion_curve``) among those after which the motion falls back by at least ``FALL`` of it, as it
    does after end systole. Motion that grows to the last frame without falling back (the fields
    drifting as the tags fade) is left aside; when no frame falls back (a sequence that ends at end
    systole), the frame of largest motion. 0 when nothing moves."""
    motion = motion_curve(lagrangian)
    if motion.max() <= 0:
        return 0
    lowest_after = np.minimum.accumulate(motion[::-1])[::-1][1:]  # lowest_after[t]: min of motion[t + 1:]
    peaks = [t for t in range(1, len(motion) - 1) if lowest_after[t] <= (1 - FALL) * motion[t]]
    return max(peaks, key=lambda t: motion[t]) if peaks else int(np.argmax(motion))


def render_html(result: ResultFolder, pictures: list[Picture], strain: StrainTables | None = None,
                fps: float = 4.0, settings: dict | None = None, shown_as: Path | None = None) -> str:
    """The report as one self-contained HTML page (no external resource of any kind): the facts, strain
    (when computed), then the pictures, animations opened on the frame of largest motion. ``shown_as``:
    the result folder's name as the user will find it (default: where it is read from)."""
    summary = result.summary
    title = f"deeptag report: {Path(str(summary.get('input', result.path))).name}"
    open_frame = end_systole(strain) if strain is not None else None
    from_strain = open_frame is not None
    if not from_strain:
        open_frame = largest_motion_frame(result.fields["lagrangian"])
    facts = [["input", html.escape(str(summary.get("input")))], ["frames", _cell(summary.get("frames"))],
             ["frame size (rows x columns)", html.escape(" x ".join(map(str, result.shape)))],
             ["pixel spacing (mm, row x column)",
              "unknown" if result.spacing is None else html.escape(" x ".join(f"{v:g}" for v in result.spacing))],
             ["model", html.escape(str(summary.get("model")))],
             ["view", html.escape(str(summary.get("view", "sax")))],
             [f"end systole ({('peak global ' + ('E_ll' if strain.long_axis else 'E_cc')) if from_strain else 'largest motion'})",
              f"frame {open_frame}: the animations open there"]]
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>Result folder <code>{html.escape(str(shown_as or result.path))}</code>, report made "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by deeptag {__version__}. "
             "Frames are numbered from 0, as the arrays index them.</p>",
             _table(["", ""], facts), "<h2>Strain</h2>"]
    if strain is None:
        parts.append("<p>No myocardium was given, so no strain was computed: run "
                     "<code>deeptag strain RESULT_DIR --lv CX,CY,R_ENDO,R_EPI</code> (or --mask, --contours; "
                     "for a long-axis view --centreline AX,AY,X1,Y1,X2,Y2 --wall-mm MM) "
                     "first, or give the myocardium to <code>deeptag report</code>.</p>")
    else:
        for picture in pictures:
            if picture.name in STRAIN_PICTURES:
                parts += [f"<h3>{html.escape(picture.title)}</h3>", _figure(picture, open_frame)]
        parts.append(strain_tables_html(strain.summary))
    for picture in pictures:
        if picture.name not in STRAIN_PICTURES:
            parts += [f"<h2>{html.escape(picture.title)}</h2>", _figure(picture, open_frame)]
    parts.append("<h2>Settings</h2><p>The tracking run (<code>summary.json</code>):</p>" + settings_table(summary))
    if settings:
        parts.append("<p>This report:</p>" + settings_table(settings))
    body = "\n".join(p for p in parts if p)
    script = SCRIPT.replace("INTERVAL", str(max(1, round(1000 / fps))))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n"
            f"<script>{script}</script>\n</body></html>\n")


def is_deeptag_report(path: Path) -> bool:
    """Whether the file ``path`` is an HTML report that deeptag wrote (its title says so)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(b"<!DOCTYPE html>") and b"<title>deeptag report" in head


def check_report_path(path: Path, force: bool) -> None:
    """Refuse a report path that is a folder, or an existing file unless ``force`` and deeptag wrote it."""
    if path.is_dir():
        raise InputError("the report path is a folder; give a file name ending in .html", path)
    if path.exists() and not force:
        raise InputError("the report file exists already; pass --force to replace it", path)
    if path.exists() and not is_deeptag_report(path):
        raise InputError("exists and is not a deeptag report; --force replaces only deeptag reports: give a "
                         "new file name", path)


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    """Make the file ``path`` with ``write``, called with a temporary file beside it that is then renamed
    over ``path``: the file appears whole or not at all, with an ordinary file's permissions. Used for
    every file deeptag writes outside a result folder (reports, batch tables, bull's-eyes)."""
    path = Path(path)
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.absolute().parent)
    except OSError as error:
        raise InputError(f"cannot write it ({error.strerror})", path) from None
    os.close(handle)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomically(path: str | Path, text: str, force: bool = False) -> None:
    """Write the report ``text`` to ``path`` (``write_atomically``), refused as ``check_report_path`` says."""
    check_report_path(Path(path), force)
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_report(result_dir: str | Path, out: str | Path, sequence: str | Path | None = None,
                 myocardium: dict | None = None, grid: GridOptions | None = None, fps: float = 4.0,
                 pictures_dir: str | Path | None = None, force: bool = False, shown_as: Path | None = None) -> int:
    """Write the HTML report of a track result (and its pictures into ``pictures_dir`` when given).
    ``shown_as`` names the result folder in the report where it is written before it takes its name.

    ``myocardium`` holds the keyword arguments of ``define_myocardium`` (strain is then computed for the
    report); without it, strain results in ``RESULT_DIR/strain`` are used where present. Returns the
    number of pictures.
    """
    result_dir, out = Path(result_dir), Path(out)
    check_report_path(out, force)  # both checked before the pictures, which take a while
    if pictures_dir is not None:
        check_output_folder(pictures_dir, force, [p for p in (result_dir, out, sequence) if p is not None])
    result = read_result_folder(result_dir, sequence)
    if myocardium is not None:
        from .long_axis import LongAxisMyocardium, compute_any_strain, make_myocardium, result_view
        view = result_view(myocardium.get("view"), result)
        wall = make_myocardium(result.shape, myocardium | {"view": view}, result.spacing,
                               sequence or result.summary.get("input"))
        computed = compute_any_strain(result.fields["lagrangian"], wall, result.spacing, result.frame_times_ms)
        if not isinstance(wall, LongAxisMyocardium) and result.fields.get("uncertainty") is not None and \
                result.fields["uncertainty"].ndim == 3:  # issue 27
            from .regions import region_estimates
            computed.error_px = region_estimates(computed, result.fields["uncertainty"])
        strain = StrainTables.from_result(computed)
        strain_source = "computed for this report"
    else:
        strain = read_strain_folder(result_dir / "strain")
        strain_source = "read from RESULT_DIR/strain" if strain is not None else "none"
    grid = grid or GridOptions()
    pictures = make_pictures(result, strain, grid)
    settings = {"strain": strain_source, "grid_spacing_px": grid.spacing, "grid_offset_xy_px": grid.offset,
                "grid_angle_deg": grid.angle_deg, "fps": fps,
                "sequence": str(sequence or result.summary.get("input"))}
    write_text_atomically(out, render_html(result, pictures, strain, fps, settings, shown_as), force=force)
    if pictures_dir is not None:
        save_pictures(pictures, pictures_dir, fps, force)
    return len(pictures)
