"""Pictures and animations of a tracking result (paper section 6.6), drawn with matplotlib's Agg canvas.

Every animation is a list of RGB frames (h, w, 3) uint8 of one size, ready for :func:`gif_bytes`
or :func:`save_animation`; every still is a matplotlib ``Figure`` for :func:`png_bytes`. No pyplot
state is used, so the module is safe in scripts, servers and tests without a display.

Arrow and point conventions follow the project: points are (x, y) = (column, row) pixels, fields
(..., 2, H, W) with channel 0 along rows. Motion arrows start where a material point was (frame t-1
for INF fields, frame 0 for Lagrangian fields) and end where it is in the frame shown: a pull-back
field ``u`` on the current grid says the point now at ``p`` came from ``p + u(p)``.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Sequence as SequenceType

import imageio.v3 as iio
import numpy as np
from matplotlib import colormaps
from scipy import optimize
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from . import fields_numpy
from .myocardium import LEVELS, segments
from .strain import region_kind, region_label

PANEL_INCHES = 3.2
DPI = 80
EXPERT_COLOUR, PREDICTION_COLOUR, GRID_COLOUR = "red", "lime", "yellow"
DIVERGING = colormaps["RdBu_r"]


def new_figure(columns: int = 1, rows: int = 1, inches: float = PANEL_INCHES, extra_width: float = 0.0) -> Figure:
    """A blank Agg figure sized for ``rows`` x ``columns`` image panels."""
    figure = Figure(figsize=(columns * inches + extra_width, rows * inches + 0.35), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def render(figure: Figure) -> np.ndarray:
    """The figure as an RGB array (h, w, 3) uint8."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def png_array_bytes(frame: np.ndarray) -> bytes:
    """An RGB frame (h, w, 3) as PNG bytes."""
    return iio.imwrite("<bytes>", frame, extension=".png")


def gif_bytes(frames: SequenceType[np.ndarray], fps: float = 4.0) -> bytes:
    """An endlessly looping GIF of RGB frames (N, h, w, 3)."""
    return iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def save_animation(frames: SequenceType[np.ndarray], folder: Path, name: str, fps: float = 4.0,
                   first: int = 0) -> list[Path]:
    """Write ``name.gif`` and one ``name_NNN.png`` per frame into ``folder``, NNN the number of the
    sequence's frame shown (``first`` for the first picture); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.gif"]
    paths[0].write_bytes(gif_bytes(frames, fps))
    for index, frame in enumerate(frames, start=first):
        paths.append(folder / f"{name}_{index:03d}.png")
        iio.imwrite(paths[-1], frame)
    return paths


def _animate(figure: Figure, update: Callable[[int], None], count: int) -> list[np.ndarray]:
    frames = []
    for index in range(count):
        update(index)
        frames.append(render(figure))
    return frames


def _display_range(images: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(images, [0.5, 99.5])
    return float(low), float(high if high > low else low + 1.0)


def _image_axes(figure: Figure, count: int, position: int, title: str, image: np.ndarray,
                limits: tuple[float, float], rows: int = 1):
    axes = figure.add_subplot(rows, count // rows, position)
    artist = axes.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1], interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()
    return axes, artist


def _fit(figure: Figure) -> None:
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.86, wspace=0.05, hspace=0.14)


COLORBAR_INCHES = 0.8  # room at a figure's right edge for a colour bar and its tick labels


def _colorbar(figure: Figure, artist) -> None:
    """A colour bar in the last ``COLORBAR_INCHES`` of the figure, the panels narrowed to leave it room,
    so that its tick labels lie inside the picture."""
    width = figure.get_figwidth()
    left = 1.0 - COLORBAR_INCHES / width
    figure.subplots_adjust(right=left - 0.02)
    bar = figure.colorbar(artist, cax=figure.add_axes((left, 0.08, 0.13 / width, 0.74)))
    bar.ax.tick_params(labelsize=8)


def track_frame0_points(lagrangian: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Positions (T, K, 2) in every frame of frame-0 points (K, 2), both (x, y), by inverting the fields."""
    return fields_numpy.track_points(np.asarray(lagrangian, dtype=np.float32), points)


def tag_grid_lines(shape: tuple[int, int], spacing: float = 8.0, offset: tuple[float, float] = (0.0, 0.0),
                   angle_deg: float = 0.0, step: float = 1.0) -> list[np.ndarray]:
    """Straight lines of a virtual tag grid at frame 0, each (N, 2) as (x, y) points ``step`` px apart.

    Two families of parallel lines ``spacing`` px apart, the first along x turned by ``angle_deg``
    (counter-clockwise as displayed), the second perpendicular to it, passing through ``offset`` (x, y):
    align ``spacing``, ``offset`` and ``angle_deg`` with the tag pattern to draw the paper's virtual grid.
    """
    height, width = shape
    angle = np.radians(angle_deg)
    directions = [np.array([np.cos(angle), -np.sin(angle)]), np.array([np.sin(angle), np.cos(angle)])]
    half_diagonal = np.hypot(height, width)
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    along = np.arange(-half_diagonal, half_diagonal + step, step)
    lines = []
    for direction, normal in (directions, directions[::-1]):
        base = float(np.dot(np.asarray(offset, dtype=float) - centre, normal))
        shifts = base + spacing * np.arange(-np.ceil((half_diagonal + abs(base)) / spacing),
                                            np.ceil((half_diagonal + abs(base)) / spacing) + 1)
        for shift in shifts:
            points = centre + shift * normal + along[:, None] * direction
            inside = ((points[:, 0] >= 0) & (points[:, 0] <= width - 1)
                      & (points[:, 1] >= 0) & (points[:, 1] <= height - 1))
            if inside.sum() >= 2:
                lines.append(points[inside])
    return lines


def _tag_wave(image: np.ndarray, exclude: np.ndarray | None = None) -> tuple[np.ndarray, float, complex]:
    """The strongest periodic component of ``image``: wave vector (kx, ky) in cycles per px, its spectral
    magnitude and its complex amplitude. Periods of 3 px to a quarter of the image are searched; where
    ``exclude`` (a wave vector) is given, directions within 30 deg of it are skipped."""
    height, width = image.shape
    centred = (image - image.mean()) * np.outer(np.hanning(height), np.hanning(width))
    spectrum = np.abs(np.fft.fft2(centred, s=(2 * height, 2 * width)))
    ky, kx = np.meshgrid(np.fft.fftfreq(2 * height), np.fft.fftfreq(2 * width), indexing="ij")
    frequency = np.hypot(kx, ky)
    allowed = (frequency > 4.0 / min(height, width)) & (frequency < 1.0 / 3.0) & (ky >= 0)
    if exclude is not None:
        cosine = np.abs(kx * exclude[0] + ky * exclude[1]) / np.maximum(frequency * np.hypot(*exclude), 1e-12)
        allowed &= cosine < np.cos(np.radians(30.0))
    index = np.unravel_index(np.argmax(np.where(allowed, spectrum, -1.0)), spectrum.shape)
    rows, cols = np.indices(image.shape)

    def amplitude(wave: np.ndarray) -> complex:
        return complex(np.sum(centred * np.exp(-2j * np.pi * (wave[0] * cols + wave[1] * rows))))

    # the FFT grid is coarse: refine the peak, else the grid drifts off the tags across the image
    step = 0.5 / (2 * max(height, width))
    refined = optimize.minimize(lambda w: -abs(amplitude(w)), np.array([kx[index], ky[index]]),
                                method="Nelder-Mead", options={"initial_simplex": [[kx[index], ky[index]],
                                                                                   [kx[index] + step, ky[index]],
                                                                                   [kx[index], ky[index] + step]],
                                                               "xatol": 1e-6, "fatol": 1e-9})
    return refined.x, float(spectrum[index]), amplitude(refined.x)


def tag_grid_from_image(image: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Spacing (px), angle (deg) and offset (x, y) that align :func:`tag_grid_lines` with the dark tag
    lines of a frame-0 image (H, W), from the two strongest periodic components of its spectrum.

    The first family of grid lines runs across the strongest tag direction; the offset is a point on
    a dark line of both tag sets (or of the one set where the image shows only one).
    """
    image = np.asarray(image, dtype=np.float64)
    first, strength, amplitude = _tag_wave(image)
    second, second_strength, second_amplitude = _tag_wave(image, exclude=first)
    waves, amplitudes = [first], [amplitude]
    if second_strength > 0.3 * strength:
        waves.append(second)
        amplitudes.append(second_amplitude)
    spacing = float(np.mean([1.0 / np.hypot(*w) for w in waves]))
    angle = float(np.degrees(np.arctan2(-first[1], first[0])))
    centre = np.array([(image.shape[1] - 1) / 2.0, (image.shape[0] - 1) / 2.0])
    # a dark line: 2 pi k.x + arg(amplitude) = pi (mod 2 pi); take the one nearest the image centre
    targets = [0.5 - np.angle(a) / (2 * np.pi) for a in amplitudes]
    targets = [t + np.round(np.dot(w, centre) - t) for w, t in zip(waves, targets)]
    if len(waves) == 2:
        offset = np.linalg.solve(np.stack(waves), np.array(targets))
    else:
        offset = centre + (targets[0] - np.dot(first, centre)) * first / np.dot(first, first)
    return spacing, angle, (float(offset[0]), float(offset[1]))


def tag_grid_frames(images: np.ndarray, lagrangian: np.ndarray, spacing: float = 8.0,
                    offset: tuple[float, float] = (0.0, 0.0), angle_deg: float = 0.0) -> list[np.ndarray]:
    """The virtual tag grid deformed by the Lagrangian fields (section 6.6.4), one RGB frame per image.

    Panels: the sequence; the grid alone; the grid over the sequence. The grid is drawn at frame 0 and
    each of its points is moved to frame t by inverting the pull-back field ``lagrangian[t-1]`` there.
    """
    lines = tag_grid_lines(images.shape[1:], spacing, offset, angle_deg)
    lengths = np.cumsum([0] + [len(line) for line in lines])
    moved = track_frame0_points(lagrangian, np.concatenate(lines))
    limits = _display_range(images)
    figure = new_figure(3)
    _, sequence_artist = _image_axes(figure, 3, 1, "sequence", images[0], limits)
    grid_axes, _ = _image_axes(figure, 3, 2, "virtual tag grid", np.zeros_like(images[0]), (0.0, 1.0))
    overlay_axes, overlay_artist = _image_axes(figure, 3, 3, "grid over the sequence", images[0], limits)
    grid_lines = [grid_axes.plot(*line.T, color="white", linewidth=0.8)[0] for line in lines]
    overlay_lines = [overlay_axes.plot(*line.T, color=GRID_COLOUR, linewidth=0.6, alpha=0.8)[0] for line in lines]
    title = figure.suptitle("", fontsize=10, y=0.995)
    _fit(figure)

    def update(t: int) -> None:
        sequence_artist.set_data(images[t])
        overlay_artist.set_data(images[t])
        for k, (grid_line, overlay_line) in enumerate(zip(grid_lines, overlay_lines)):
            points = moved[t, lengths[k]:lengths[k + 1]]
            grid_line.set_data(points[:, 0], points[:, 1])
            overlay_line.set_data(points[:, 0], points[:, 1])
        title.set_text(f"frame {t}")

    return _animate(figure, update, len(images))


def landmark_frames(images: np.ndarray, predicted: np.ndarray, expert: np.ndarray | None = None) -> list[np.ndarray]:
    """Landmark tracking as in the paper's Figure 7: expert points red, predictions green.

    ``predicted`` and ``expert`` (T, K, 2) as (x, y); NaN expert points are not drawn.
    """
    limits = _display_range(images)
    figure = new_figure(1)
    axes, artist = _image_axes(figure, 1, 1, "", images[0], limits)
    empty = np.zeros((0, 2))
    expert_dots = axes.scatter(empty[:, 0], empty[:, 1], s=12, c=EXPERT_COLOUR, label="expert")
    predicted_dots = axes.scatter(empty[:, 0], empty[:, 1], s=12, c=PREDICTION_COLOUR, label="prediction")
    if expert is not None:
        axes.legend(loc="lower right", fontsize=7, framealpha=0.6)
    axes.set_xlim(-0.5, images.shape[2] - 0.5)
    axes.set_ylim(images.shape[1] - 0.5, -0.5)
    _fit(figure)

    def update(t: int) -> None:
        artist.set_data(images[t])
        if expert is not None:
            marked = expert[t][~np.isnan(expert[t]).any(axis=1)]
            expert_dots.set_offsets(marked if len(marked) else empty)
        predicted_dots.set_offsets(predicted[t])
        axes.set_title(f"frame {t}: expert red, prediction green" if expert is not None else f"frame {t}",
                       fontsize=9)

    return _animate(figure, update, len(images))


def _arrow_scale(vectors: np.ndarray, step: int) -> float:
    """Arrow magnification so that long arrows (95th percentile) reach 0.8 grid steps, at least 1."""
    length = np.percentile(np.hypot(vectors[:, 0], vectors[:, 1]), 95) if vectors.size else 0.0
    return float(max(1.0, 0.8 * step / length)) if length > 0 else 1.0


def quiver_frames(images: np.ndarray, inf_forward: np.ndarray, lagrangian: np.ndarray,
                  step: int | None = None) -> list[np.ndarray]:
    """INF and Lagrangian motion as arrows (section 6.6.3), one RGB frame per frame 1..T-1.

    Arrows start where the material point now at a grid pixel was (frame t-1 on the left, frame 0 on
    the right) and end where it is on frame t. Arrows are magnified by the factor in each panel's title,
    chosen so that the long ones (95th percentile) reach about one grid step.
    """
    height, width = images.shape[1:]
    step = step or max(4, round(min(height, width) / 24))
    rows, cols = np.mgrid[step // 2:height:step, step // 2:width:step]
    picks = {"INF (frame t-1 to t)": inf_forward[:, :, rows, cols],
             "Lagrangian (frame 0 to t)": lagrangian[:, :, rows, cols]}
    limits = _display_range(images)
    figure = new_figure(2)
    panels = []
    for position, (name, vectors) in enumerate(picks.items(), start=1):
        flat = np.stack([vectors[:, 1].ravel(), vectors[:, 0].ravel()], axis=1)
        scale = _arrow_scale(flat, step)
        axes, artist = _image_axes(figure, 2, position, f"{name}, arrows x{scale:.1f}", images[1], limits)
        arrows = axes.quiver(cols.ravel(), rows.ravel(), np.zeros(rows.size), np.zeros(rows.size), color="cyan",
                             angles="xy", scale_units="xy", scale=1.0, width=0.006, headwidth=3.5)
        axes.set_xlim(-0.5, width - 0.5)
        axes.set_ylim(height - 0.5, -0.5)
        panels.append((artist, arrows, vectors, scale))
    title = figure.suptitle("", fontsize=10, y=0.995)
    _fit(figure)

    def update(index: int) -> None:
        for artist, arrows, vectors, scale in panels:
            artist.set_data(images[index + 1])
            dx, dy = vectors[index, 1].ravel(), vectors[index, 0].ravel()
            origin = np.stack([cols.ravel() + scale * dx, rows.ravel() + scale * dy], axis=1)
            arrows.set_offsets(origin)
            arrows.set_UVC(-scale * dx, -scale * dy)
        title.set_text(f"frame {index + 1}")

    return _animate(figure, update, len(images) - 1)


def symmetric_limit(*maps: np.ndarray) -> float:
    """The colour limit of signed maps: their largest finite magnitude (NaN marks where nothing was
    tracked, outside the region of interest), at least 1e-6 so that the scale is never empty."""
    finite = [np.abs(values[np.isfinite(values)]) for values in maps]
    return float(max([1e-6] + [float(values.max()) for values in finite if values.size]))


def field_map_frames(lagrangian: np.ndarray, spacing: tuple[float, float] | None = None) -> list[np.ndarray]:
    """The x and y components of the Lagrangian fields as maps (section 6.6.3), frames 1..T-1.

    In mm when ``spacing`` (row, column) is given, else in pixels; one symmetric colour scale for all frames.
    """
    unit = "mm" if spacing is not None else "px"
    scale = np.array([1.0, 1.0]) if spacing is None else np.asarray(spacing, dtype=float)
    maps = [lagrangian[:, 1] * scale[1], lagrangian[:, 0] * scale[0]]
    limit = symmetric_limit(*maps)
    figure = new_figure(2, extra_width=COLORBAR_INCHES)
    artists = []
    for position, (name, values) in enumerate(zip(("x", "y"), maps), start=1):
        axes = figure.add_subplot(1, 2, position)
        artists.append((axes.imshow(values[0], cmap="RdBu_r", vmin=-limit, vmax=limit), values))
        axes.set_title(f"Lagrangian {name} component ({unit})", fontsize=9)
        axes.set_axis_off()
    _fit(figure)
    _colorbar(figure, artists[-1][0])
    title = figure.suptitle("", fontsize=10, y=0.995)

    def update(index: int) -> None:
        for artist, values in artists:
            artist.set_data(values[index])
        title.set_text(f"frame {index + 1}")

    return _animate(figure, update, lagrangian.shape[0])


def registration_frames(images: np.ndarray, inf_forward: np.ndarray, inf_backward: np.ndarray,
                        lagrangian: np.ndarray) -> list[np.ndarray]:
    """The registration panel (section 6.6.1), one RGB frame per frame t = 1..T-1 (the pair t-1, t).

    Upper left frame t; upper right frame t-1 warped by ``inf_forward[t-1]`` (≈ frame t); lower left
    frame t warped by ``inf_backward[t-1]`` (≈ frame t-1); lower right frame 0 warped by
    ``lagrangian[t-1]`` (≈ frame t).
    """
    frames = np.asarray(images, dtype=np.float32)[:, None]
    forward = fields_numpy.warp(frames[:-1], np.asarray(inf_forward, dtype=np.float32))[:, 0]
    backward = fields_numpy.warp(frames[1:], np.asarray(inf_backward, dtype=np.float32))[:, 0]
    lagrangian_warped = fields_numpy.warp(frames[:1], np.asarray(lagrangian, dtype=np.float32))[:, 0]
    limits = _display_range(images)
    figure = new_figure(2, 2)
    titles = ("sequence: frame t", "forward: frame t-1 warped (≈ t)",
              "backward: frame t warped (≈ t-1)", "Lagrangian: frame 0 warped (≈ t)")
    stacks = (images[1:], forward, backward, lagrangian_warped)
    artists = [_image_axes(figure, 4, k + 1, title, stack[0], limits, rows=2)[1]
               for k, (title, stack) in enumerate(zip(titles, stacks))]
    title = figure.suptitle("", fontsize=10, y=0.995)
    _fit(figure)

    def update(t: int) -> None:
        for artist, stack in zip(artists, stacks):
            artist.set_data(stack[t])
        title.set_text(f"frame {t + 1}")

    return _animate(figure, update, len(lagrangian))


def uncertainty_frames(images: np.ndarray, uncertainty: np.ndarray, flag_px: float = 2.0) -> list[np.ndarray]:
    """The model's uncertainty over frames 1..T-1 (NaN outside the tracked region: left transparent):
    the error estimate (T-1, H, W) in pixels, its contour at ``flag_px`` drawn, or the norm of the
    VAE's two standard deviations (T-1, 2, H, W) of older result folders."""
    estimate = uncertainty.ndim == 3
    magnitude = uncertainty if estimate else np.hypot(uncertainty[:, 0], uncertainty[:, 1])
    limits = _display_range(images)
    figure = new_figure(1, extra_width=COLORBAR_INCHES)
    label = "estimated tracking error (px)" if estimate else "uncertainty (std of the velocity, px)"
    axes, artist = _image_axes(figure, 1, 1, label, images[1], limits)
    top = float(np.nanpercentile(magnitude, 99)) if estimate else float(np.nanmax(magnitude))
    overlay = axes.imshow(magnitude[0], cmap="magma", alpha=0.6, vmin=0.0, vmax=max(top, 1e-6))
    _fit(figure)
    _colorbar(figure, overlay)
    title = figure.suptitle("", fontsize=10, y=0.995)

    contours = []

    def update(index: int) -> None:
        artist.set_data(images[index + 1])
        overlay.set_data(magnitude[index])
        title.set_text(f"frame {index + 1}")
        if estimate:
            for old in contours:
                old.remove()
            contours.clear()
            if np.nanmax(magnitude[index]) > flag_px:
                contours.append(axes.contour(np.nan_to_num(magnitude[index]), levels=[flag_px], colors="cyan",
                                             linewidths=0.8))

    return _animate(figure, update, len(magnitude))


LAYER_STYLES = {"endo": (0, (1, 1)), "midwall": "--", "epi": "-."}  # line style of each transmural layer


def strain_curves_figure(summary: dict) -> Figure:
    """E_rr, E_cc and rotation against time: globally (thick black), per transmural layer (dashed grey)
    and per AHA segment.

    ``summary`` is the dict of :func:`deeptag.strain.strain_summary` (or ``strain.json``).
    """
    times = summary["time_ms"]
    x = np.asarray(times if times is not None else summary["frames"], dtype=float)
    figure = Figure(figsize=(11.0, 3.4), dpi=DPI)
    FigureCanvasAgg(figure)
    for position, quantity in enumerate(("E_rr", "E_cc", "rotation"), start=1):
        axes = figure.add_subplot(1, 3, position)
        for region in summary["regions"][1:] + summary["regions"][:1]:  # global last, on top
            values = np.array([np.nan if v is None else v for v in region["curves"][quantity]], dtype=float)
            kind = region_kind(region)
            if kind == "global":
                axes.plot(x, values, color="black", linewidth=2.5, label="global", zorder=3)
            elif kind == "layer":
                axes.plot(x, values, color="dimgrey", linewidth=1.2, linestyle=LAYER_STYLES[region["region"]],
                          label=region_label(region))
            else:
                axes.plot(x, values, linewidth=1.2, label=region_label(region))
        axes.axhline(0.0, color="grey", linewidth=0.5)
        axes.set_xlabel("time (ms)" if times is not None else "frame")
        axes.set_ylabel(f"{quantity} ({summary['units'][quantity]})")
        axes.set_title(quantity, fontsize=10)
        axes.grid(alpha=0.3)
    figure.axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.subplots_adjust(left=0.06, right=0.84, bottom=0.16, top=0.9, wspace=0.35)
    return figure


def bullseye_figure(summary: dict, quantities: SequenceType[str] = ("E_rr", "E_cc", "rotation")) -> Figure:
    """Bull's-eye plots (AHA 17-segment layout) of the peak of each quantity in this slice's segments.

    The layout is the standard one (anterior up, septum left, basal outside, apex in the centre); the
    slice's level is coloured by its segments' peak values and labelled, the other levels stay grey.
    """
    level = summary["myocardium"]["level"]
    peaks = {int(r["region"]): r["peaks"] for r in summary["regions"] if region_kind(r) == "segment"}
    rings = {"basal": (2.0, 3.0), "mid": (1.0, 2.0), "apical": (0.35, 1.0)}
    figure = Figure(figsize=(3.4 * len(quantities), 3.8), dpi=DPI)
    FigureCanvasAgg(figure)
    for position, quantity in enumerate(quantities, start=1):
        axes = figure.add_subplot(1, len(quantities), position, projection="polar")
        values = [peaks.get(n, {}).get(quantity, {}).get("value") for n in peaks]
        finite = [abs(v) for v in values if v is not None]
        limit = max(finite) if finite and max(finite) > 0 else 1.0
        for name in LEVELS:
            inner, outer = rings[name]
            for segment in segments(120.0, name):
                width = np.radians((segment.end_deg - segment.start_deg) % 360.0)
                middle = np.radians(segment.start_deg) + width / 2.0
                value = peaks.get(segment.number, {}).get(quantity, {}).get("value") if name == level else None
                colour = DIVERGING(0.5 + 0.5 * value / limit) if value is not None else "#dddddd"
                axes.bar(middle, outer - inner, width=width, bottom=inner, color=colour, edgecolor="white",
                         linewidth=1.0)
                label = f"{segment.number}" if value is None else f"{segment.number}\n{value:.1f}"
                dark = value is not None and abs(value) > 0.6 * limit
                axes.text(middle, (inner + outer) / 2.0, label, ha="center", va="center", fontsize=7,
                          color="white" if dark else "black")
        axes.bar(0.0, 0.35, width=2 * np.pi, bottom=0.0, color="#eeeeee", edgecolor="white")
        axes.text(0.0, 0.0, "17", ha="center", va="center", fontsize=7)
        axes.set_ylim(0.0, 3.0)
        axes.set_axis_off()
        axes.set_title(f"peak {quantity} ({summary['units'][quantity]}), {level}", fontsize=10)
        scale = ScalarMappable(Normalize(-limit, limit), DIVERGING)
        figure.colorbar(scale, ax=axes, orientation="horizontal", fraction=0.05, pad=0.02, shrink=0.7)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.04, top=0.88, wspace=0.15)
    return figure


def segments_figure(image: np.ndarray, points: np.ndarray, segment: np.ndarray, summary: dict) -> Figure:
    """Frame 0 with the myocardium pixels coloured and numbered by AHA segment, the LV centre (+) and
    the direction of the anterior RV insertion (dashed), to check the myocardium definition by eye."""
    figure = new_figure(1, inches=4.0)
    axes, _ = _image_axes(figure, 1, 1, f"AHA segments, {summary['myocardium']['level']} level",
                          image, _display_range(image))
    palette = colormaps["tab10"]
    centre = np.asarray(summary["myocardium"]["centre_xy_px"], dtype=float)
    for k, number in enumerate(sorted(set(segment.tolist()))):
        selected = points[segment == number]
        axes.scatter(selected[:, 0], selected[:, 1], s=4, marker="s", color=palette(k % 10), alpha=0.45,
                     linewidths=0)
        middle = centre + np.median(selected - centre, axis=0)
        axes.text(*middle, str(number), ha="center", va="center", fontsize=8, color="white", fontweight="bold")
    reach = float(np.hypot(*(points - centre).T).max()) if len(points) else 10.0
    angle = np.radians(summary["myocardium"]["rv_insertion_angle_deg"])
    axes.plot([centre[0], centre[0] + 1.15 * reach * np.cos(angle)],
              [centre[1], centre[1] - 1.15 * reach * np.sin(angle)], "--", color="orange", linewidth=1.2,
              label="anterior RV insertion")
    axes.plot(*centre, "+", color="orange", markersize=10)
    axes.legend(loc="lower right", fontsize=7, framealpha=0.6)
    _fit(figure)
    return figure


# ---- long-axis views (issue 29) -----------------------------------------------------------------


def long_axis_segments_figure(image: np.ndarray, points: np.ndarray, segment: np.ndarray, summary: dict) -> Figure:
    """Frame 0 of a long-axis view with the LV wall's pixels coloured and numbered by AHA segment, the
    mid-wall centreline (dashed) and its three points (apex, annulus of wall 1 and of wall 2)."""
    from .long_axis import centreline_curve

    myocardium = summary["myocardium"]
    figure = new_figure(1, inches=4.0)
    walls = " / ".join(myocardium["walls"])
    axes, _ = _image_axes(figure, 1, 1, f"{summary['view'].upper()} segments (walls 1 / 2: {walls})",
                          image, _display_range(image))
    palette = colormaps["tab10"]
    for k, number in enumerate(sorted(set(segment.tolist()))):
        selected = points[segment == number]
        axes.scatter(selected[:, 0], selected[:, 1], s=4, marker="s", color=palette(k % 10), alpha=0.45, linewidths=0)
        middle = selected[np.argmin(np.hypot(*(selected - np.median(selected, axis=0)).T))]
        axes.text(*middle, str(number), ha="center", va="center", fontsize=8, color="white", fontweight="bold")
    apex, (one, two) = myocardium["apex_xy_px"], myocardium["annulus_xy_px"]
    curve = centreline_curve(apex, one, two)
    axes.plot(curve[:, 0], curve[:, 1], "--", color="orange", linewidth=1.0, label="mid-wall centreline")
    axes.plot(*apex, "o", color="orange", markersize=4)
    axes.plot(*one, "s", color="cyan", markersize=4, label="annulus, wall 1")
    axes.plot(*two, "^", color="magenta", markersize=4, label="annulus, wall 2")
    axes.legend(loc="lower right", fontsize=7, framealpha=0.6)
    _fit(figure)
    return figure


def long_axis_curves_figure(summary: dict) -> Figure:
    """E_ll and E_tt against time (global thick black, the two walls, the segments) and the centreline's
    shortening (GLS) beside the global E_ll. ``summary`` as :func:`deeptag.long_axis.long_axis_summary`."""
    times = summary["time_ms"]
    x = np.asarray(times if times is not None else summary["frames"], dtype=float)
    figure = Figure(figsize=(11.0, 3.4), dpi=DPI)
    FigureCanvasAgg(figure)

    def curve(region, quantity):
        return np.array([np.nan if v is None else v for v in region["curves"][quantity]], dtype=float)

    regions = [r for r in summary["regions"] if r["kind"] in ("global", "wall", "segment")]
    for position, quantity in enumerate(("E_ll", "E_tt"), start=1):
        axes = figure.add_subplot(1, 3, position)
        for region in regions[1:] + regions[:1]:
            if region["kind"] == "global":
                axes.plot(x, curve(region, quantity), color="black", linewidth=2.5, label="global", zorder=3)
            elif region["kind"] == "wall":
                axes.plot(x, curve(region, quantity), color="dimgrey", linewidth=1.6,
                          linestyle="--" if region["region"] == "wall1" else "-.", label=region["name"])
            else:
                axes.plot(x, curve(region, quantity), linewidth=1.0, label=region_label(region))
        axes.axhline(0.0, color="grey", linewidth=0.5)
        axes.set_xlabel("time (ms)" if times is not None else "frame")
        axes.set_ylabel(f"{quantity} (%)")
        axes.set_title(f"{quantity} ({'longitudinal' if quantity == 'E_ll' else 'transmural'})", fontsize=10)
        axes.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=6, loc="lower left")
    axes = figure.add_subplot(1, 3, 3)
    overall = summary["regions"][0]
    axes.plot(x, curve(overall, "E_ll"), color="black", linewidth=2.0, label="global E_ll (Green-Lagrange)")
    axes.plot(x, curve(overall, "GLS_centreline"), color="tab:red", linewidth=2.0,
              label="centreline shortening (GLS)")
    axes.axhline(0.0, color="grey", linewidth=0.5)
    axes.set_xlabel("time (ms)" if times is not None else "frame")
    axes.set_ylabel("%")
    axes.set_title("global longitudinal strain", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower left")
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.16, top=0.9, wspace=0.3)
    return figure


def long_axis_peaks_figure(summary: dict, quantities: SequenceType[str] = ("E_ll", "E_tt")) -> Figure:
    """Peak values per segment along the wall, from the wall-1 base over the apex to the wall-2 base."""
    order = [str(s["number"]) for s in summary["segments"]]
    regions = {r["region"]: r for r in summary["regions"] if r["kind"] == "segment"}
    figure = Figure(figsize=(3.8 * len(quantities), 3.2), dpi=DPI)
    FigureCanvasAgg(figure)
    for position, quantity in enumerate(quantities, start=1):
        axes = figure.add_subplot(1, len(quantities), position)
        values = [regions[n]["peaks"][quantity]["value"] if n in regions else None for n in order]
        finite = [abs(v) for v in values if v is not None]
        limit = max(finite) if finite and max(finite) > 0 else 1.0
        heights = [0.0 if v is None else v for v in values]
        colours = [DIVERGING(0.5 + 0.5 * h / limit) for h in heights]
        axes.bar(range(len(order)), heights, color=colours, edgecolor="grey")
        for k, v in enumerate(values):
            axes.text(k, heights[k], "n/a" if v is None else f"{v:.1f}", ha="center",
                      va="top" if heights[k] < 0 else "bottom", fontsize=7)
        axes.set_xticks(range(len(order)))
        axes.set_xticklabels(order, fontsize=8)
        axes.axhline(0.0, color="grey", linewidth=0.5)
        axes.set_xlabel("AHA segment, wall-1 base -> apex -> wall-2 base", fontsize=8)
        axes.set_title(f"peak {quantity} (%), {summary['view'].upper()}", fontsize=10)
        axes.grid(alpha=0.3, axis="y")
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.18, top=0.88, wspace=0.3)
    return figure


def combined_bullseye_figure(values: dict[int, float | None], title: str, unit: str = "%") -> Figure:
    """One AHA 17-segment bull's-eye (anterior up, septum left, basal outside, apex 17 in the centre) of a
    value per segment, e.g. the peak E_ll of the three apical long-axis views; segments without a value grey."""
    finite = [abs(v) for v in values.values() if v is not None]
    limit = max(finite) if finite and max(finite) > 0 else 1.0
    rings = {"basal": (2.0, 3.0), "mid": (1.0, 2.0), "apical": (0.35, 1.0)}
    figure = Figure(figsize=(4.4, 4.9), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1, projection="polar")

    def colour(value):
        return DIVERGING(0.5 + 0.5 * value / limit) if value is not None else "#dddddd"

    def label(number, value):
        return f"{number}" if value is None else f"{number}\n{value:.1f}"

    for name in LEVELS:
        inner, outer = rings[name]
        for segment in segments(120.0, name):
            width = np.radians((segment.end_deg - segment.start_deg) % 360.0)
            middle = np.radians(segment.start_deg) + width / 2.0
            value = values.get(segment.number)
            axes.bar(middle, outer - inner, width=width, bottom=inner, color=colour(value), edgecolor="white",
                     linewidth=1.0)
            dark = value is not None and abs(value) > 0.6 * limit
            axes.text(middle, (inner + outer) / 2.0, label(segment.number, value), ha="center", va="center",
                      fontsize=7, color="white" if dark else "black")
    apex = values.get(17)
    axes.bar(0.0, 0.35, width=2 * np.pi, bottom=0.0, color=colour(apex), edgecolor="white")
    axes.text(0.0, 0.0, label(17, apex), ha="center", va="center", fontsize=7,
              color="white" if apex is not None and abs(apex) > 0.6 * limit else "black")
    axes.set_ylim(0.0, 3.0)
    axes.set_axis_off()
    axes.set_title(title, fontsize=9, pad=14)
    figure.colorbar(ScalarMappable(Normalize(-limit, limit), DIVERGING), ax=axes, orientation="horizontal",
                    fraction=0.05, pad=0.02, shrink=0.7, label=unit)
    figure.subplots_adjust(left=0.04, right=0.96, bottom=0.04, top=0.82)
    return figure
