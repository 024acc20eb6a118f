"""The report's pictures and page (issue 24): colour-bar labels inside the picture, one frame number
convention ("frame t", t from 0 as the arrays index), animations opened on the frame of largest motion
with a frame slider, strain first when the input carries a myocardium, settings as key/value rows, and
summary.json naming where the tracked region came from."""
from __future__ import annotations

import re

import numpy as np
from io_helpers import model_path, tagged_sequence  # noqa: F401

from deeptag import viz
from deeptag.cli import main
from deeptag.commands.track import describe_roi
from deeptag.io import Sequence
from deeptag.preprocess import GridMapping
from deeptag.report import largest_motion_frame, motion_curve, settings_table


def disc_motion(peak: int, frames: int = 6, size: int = 40) -> np.ndarray:
    """Lagrangian fields (T-1, 2, H, W): a disc moving most at frame ``peak``, a slow drift everywhere."""
    rows, cols = np.mgrid[0:size, 0:size]
    disc = np.hypot(rows - size / 2, cols - size / 2) < size / 3
    fields = np.zeros((frames - 1, 2, size, size), np.float32)
    for t in range(1, frames):
        fields[t - 1, 1] = 0.3 * t + 4.0 * disc * (1 - abs(t - peak) / frames)
    return fields


def beating(frames: int = 14, size: int = 64, end_systole: int | None = 5) -> np.ndarray:
    """Lagrangian fields (T-1, 2, H, W) of a disc of radius 10 in the middle that contracts towards its
    centre by up to 3 px at its rim, most at frame ``end_systole`` and back to a tenth of it five frames
    later; ``end_systole`` None: contracting to the last frame (a sequence that stops at end systole)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    centre = (size - 1) / 2
    disc = np.hypot(rows - centre, cols - centre) < 10
    fields = np.zeros((frames - 1, 2, size, size), np.float32)
    for t in range(1, frames):
        if end_systole is None:
            beat = 3.0 * t / (frames - 1)
        else:
            beat = 3.0 * (t / end_systole if t <= end_systole else max(0.1, 1 - (t - end_systole) / 5))
        fields[t - 1] = beat * disc * np.stack([rows - centre, cols - centre]) / 10
    return fields


def test_the_report_opens_on_end_systole_where_the_largest_motion_is_a_late_drift():
    """Issue 24: the largest motion of a frame is not end systole when the fields drift late in the
    sequence (where the tags fade) or the whole frame moves: end systole is where motion rises, then falls
    back. In each case below the naive choice, the frame whose displacement is largest, is the last one."""
    late = beating()  # end systole at frame 5
    for t in range(9, 14):  # a patch over the heart drifting from frame 9 on, to 7.5 px at the end
        late[t - 1, 1, 16:36, 16:40] += 1.5 * (t - 8)
    border = beating()
    rows, cols = np.mgrid[0:64, 0:64]
    outside = (np.abs(rows - 31.5) > 16) | (np.abs(cols - 31.5) > 16)
    shifted = beating()
    for t in range(1, 14):
        border[t - 1, 1] += 0.5 * t * outside  # the border drifting, to 6.5 px at the end
        shifted[t - 1] += 0.4 * t  # everything translating (breathing), to 5.2 px at the end
    for fields in (late, border, shifted):
        naive = 1 + int(np.argmax([np.percentile(np.hypot(*field), 90) for field in fields]))
        assert naive == 13  # the 90th percentile of the motion over the frame peaks at the last frame
        assert largest_motion_frame(fields) == 5
    for end_systole in (2, 4, 7):
        assert largest_motion_frame(beating(end_systole=end_systole)) == end_systole
    # a sequence that ends at end systole: motion rises to the last frame and never falls back
    assert largest_motion_frame(beating(end_systole=None)) == 13
    assert largest_motion_frame(np.zeros((3, 2, 8, 8))) == 0
    # the motion curve of the contracting disc: the 90th percentile of its rim's 3 px times its phase
    middle = np.hypot(*(np.mgrid[16:48, 16:48] - 31.5))
    rim = np.percentile(np.where(middle < 10, middle, 0) * 0.3, 90)
    np.testing.assert_allclose(motion_curve(beating())[:6], rim * np.arange(6) / 5, rtol=1e-5)


def test_colour_bar_labels_lie_inside_the_picture():
    fields = disc_motion(peak=2) * 40  # long tick labels: "-100", "150"
    for frame in viz.field_map_frames(-fields, (1.0, 1.0))[:1] + viz.uncertainty_frames(
            np.random.default_rng(0).random((6, 40, 40)), np.abs(fields[:, 1]))[:1]:
        ink = (frame < 200).any(axis=2)
        width = frame.shape[1]
        assert not ink[:, -3:].any()  # nothing touches the right edge: no label is cut off
        assert ink[:, int(width - 0.4 * viz.DPI):].any()  # the labels are there, right of the bar


def test_saved_frames_are_named_by_the_frame_they_show(tmp_path):
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3
    paths = viz.save_animation(frames, tmp_path, "maps", first=1)
    assert [p.name for p in paths] == ["maps.gif", "maps_001.png", "maps_002.png", "maps_003.png"]


def test_summary_says_where_the_region_came_from():
    images = np.zeros((3, 40, 50), np.float32)
    stored = Sequence(images, source=None, roi=(5, 6, 30, 36))
    plain = Sequence(images, source=None)
    assert describe_roi(None, stored, GridMapping((5, 6, 30, 36))) == "the box stored with the input (5,6,30,36)"
    assert describe_roi(None, plain, GridMapping((0, 0, 50, 40))) == "full frame"
    assert describe_roi("auto", plain, GridMapping((0, 0, 50, 40))) == "auto: full frame (no heart found)"
    assert describe_roi("auto", plain, GridMapping((2, 3, 20, 30))) == "auto: 2,3,20,30"
    assert describe_roi("2,3,20,30", plain, GridMapping((2, 3, 20, 30))) == "2,3,20,30"


def test_settings_are_key_value_rows():
    table = settings_table({"model": "bundled", "seconds": {"adapt": 12.3456}, "frame_size": [192, 160],
                            "intensity": None})
    assert "<td>model</td><td>bundled</td>" in table and "<td>seconds: adapt</td><td>12.35</td>" in table
    assert "<td>frame_size</td><td>192, 160</td>" in table and "<td>intensity</td><td>none</td>" in table
    assert "{" not in table


def test_track_report_shows_the_stored_myocardium_s_strain_first_and_opens_on_the_largest_motion(
        tmp_path, model_path):  # noqa: F811
    images = tagged_sequence(frames=4, height=48, width=48)
    rows, cols = np.mgrid[0:48, 0:48]
    ring = (np.hypot(rows - 24, cols - 24) > 8) & (np.hypot(rows - 24, cols - 24) < 15)
    np.savez(tmp_path / "sim.npz", images=images.astype(np.float32), myocardium_mask=ring)
    out = tmp_path / "result"
    assert main(["track", str(tmp_path / "sim.npz"), "--model", str(model_path), "--adapt", "0", "--out", str(out),
                 "--report", "--quiet"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.index("<h2>Strain</h2>") < page.index("<h3>Peaks</h3>") < page.index("<h2>Registration</h2>")
    assert "No myocardium was given" not in page
    # with a myocardium, end systole is the frame of most negative global E_cc in the page's own table
    # (or, where it never shortens, the frame of largest motion)
    table = page[page.index("<h3>Global strain per frame</h3>"):page.index("<h3>Definitions</h3>")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>", table)
    frame, ecc = min(rows, key=lambda row: float(row[1]))
    if float(ecc) < 0:
        largest = int(frame)
        assert f"<td>end systole (peak global E_cc)</td><td>frame {largest}:" in page
    else:
        with np.load(out / "fields.npz") as data:
            largest = largest_motion_frame(data["lagrangian"])
        assert f"<td>end systole (largest motion)</td><td>frame {largest}:" in page
    # every animation shows that frame first (not hidden), named as the arrays index it
    for figure in re.findall(r'<figure class="animation".*?</figure>', page, flags=re.S):
        shown = re.findall(r'<img alt="[^"]*, frame (\d+)" src="[^"]*">', figure)
        assert shown == [str(largest)]
        assert f'value="{largest}"' in figure and f"<output>frame {largest}</output>" in figure
    assert sorted(p.name for p in (out / "pictures").glob("registration_*.png"))[0] == "registration_001.png"
    assert sorted(p.name for p in (out / "pictures").glob("tag_grid_*.png"))[0] == "tag_grid_000.png"


def test_with_strain_the_report_opens_on_peak_global_circumferential_shortening():
    """Where the myocardium is known, end systole is the frame of most negative global E_cc, whatever
    a drifting background does to the displacement."""
    import numpy as np

    from deeptag.report import StrainTables, end_systole
    curve = [0.0, -3.0, -9.5, -14.0, -12.0, -4.0, None]
    tables = StrainTables({"regions": [{"region": "1", "kind": "segment", "curves": {"E_cc": [0, -20, 0, 0, 0, 0, 0]}},
                                       {"region": "global", "kind": "global", "curves": {"E_cc": curve}}]},
                          np.zeros((0, 2)), np.zeros(0))
    assert end_systole(tables) == 3
    assert end_systole(StrainTables({"regions": []}, np.zeros((0, 2)), np.zeros(0))) is None
