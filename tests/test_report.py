"""The HTML report: self-contained, complete, written atomically, and clean in a headless browser."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from deeptag.cli import main
from deeptag.errors import InputError
from deeptag.report import read_result_folder, render_html
from test_strain import RING, make_result_folder, pullback, scaling

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_CHECK = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({images: images.length, errors: window.__errors,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; })});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def result_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report") / "result"
    lagrangian = np.stack([pullback(scaling(s)) for s in (0.97, 0.94, 0.98)])
    make_result_folder(folder, lagrangian, frame_times=[0, 40, 80, 120], spacing=[1.3, 1.3])
    np.save(folder / "tracks.npy", np.tile(np.array([[20.0, 20.0], [40.0, 44.0]], np.float32), (4, 1, 1)))
    return folder


@pytest.fixture(scope="module")
def report(result_folder) -> Path:
    assert main(["report", str(result_folder), "--lv", RING, "--level", "apical"]) == 0
    return result_folder / "report.html"


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', html)


def test_report_is_self_contained_with_every_picture_and_table(report):
    html = report.read_text(encoding="utf-8")
    sources = image_sources(html)
    # one image per frame of each animation (registration, quiver, maps, uncertainty: frames 1-3; landmarks,
    # grid: frames 0-3), and the stills (segments, curves, bull's-eye)
    assert len(sources) == 4 * 3 + 2 * 4 + 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert html.count('<figure class="animation"') == 6
    assert not re.search(r'(src|href)="(?!data:)', html) and "<link" not in html
    assert html.count("<script") == 1 and "<script>" in html  # the frame slider, inline
    for heading in ("Registration", "Landmark tracking", "Virtual tag grid", "Motion fields", "Uncertainty",
                    "Strain curves", "Peaks", "Settings"):
        assert f">{heading}<" in html
    assert "13 anterior" in html and "16 lateral" in html  # apical segments in the peak table
    assert "<td>model</td><td>test</td>" in html  # summary.json as key/value rows


def test_report_without_myocardium_uses_the_strain_folder_or_says_how(result_folder, tmp_path):
    assert "No myocardium was given" in render_html(read_result_folder(result_folder), [], None)
    assert main(["strain", str(result_folder), "--lv", RING, "--force"]) == 0
    out = tmp_path / "from_strain_folder.html"
    assert main(["report", str(result_folder), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "read from RESULT_DIR/strain" in html and len(image_sources(html)) == 23  # as with --lv


def test_report_refuses_to_overwrite_names_a_missing_sequence_and_skips_absent_uncertainty(result_folder, tmp_path, capsys):
    out = tmp_path / "once.html"
    out.write_text("keep me")
    assert main(["report", str(result_folder), "--out", str(out)]) == 2
    assert out.read_text() == "keep me" and "--force" in capsys.readouterr().err
    moved = tmp_path / "moved"
    shutil.copytree(result_folder, moved, ignore=shutil.ignore_patterns("report.html", "strain"))
    summary = json.loads((moved / "summary.json").read_text())
    summary["input"] = str(tmp_path / "gone.npz")
    (moved / "summary.json").write_text(json.dumps(summary))
    with np.load(moved / "fields.npz") as data:  # a model without uncertainty: zeros
        arrays = dict(data) | {"uncertainty": np.zeros_like(data["uncertainty"])}
    np.savez(moved / "fields.npz", **arrays)
    assert main(["report", str(moved)]) == 2
    assert "--sequence" in capsys.readouterr().err and not (moved / "report.html").exists()
    assert main(["report", str(moved), "--sequence", str(result_folder / "input.npz"),
                 "--pictures", str(tmp_path / "pictures")]) == 0
    assert (moved / "report.html").is_file() and (tmp_path / "pictures" / "tag_grid.gif").is_file()
    assert ">Uncertainty<" not in (moved / "report.html").read_text(encoding="utf-8")


def test_uncertainty_is_shown_when_only_the_region_of_interest_has_one(result_folder, tmp_path):
    boxed = tmp_path / "boxed"
    shutil.copytree(result_folder, boxed, ignore=shutil.ignore_patterns("report.html", "pictures"))
    with np.load(boxed / "fields.npz") as data:  # tracked in a box: NaN outside it, as track writes
        arrays = dict(data)
    arrays["uncertainty"][..., :4] = np.nan
    np.savez(boxed / "fields.npz", **arrays)
    assert main(["report", str(boxed), "--sequence", str(result_folder / "input.npz")]) == 0
    assert ">Uncertainty<" in (boxed / "report.html").read_text(encoding="utf-8")


def test_result_folder_errors(tmp_path):
    with pytest.raises(InputError, match="no such result folder"):
        read_result_folder(tmp_path / "nothing")
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(InputError, match="no fields.npz"):
        read_result_folder(tmp_path)
    np.savez(tmp_path / "fields.npz", lagrangian=np.zeros((2, 2, 8, 8)))
    with pytest.raises(InputError, match="missing field"):
        read_result_folder(tmp_path)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); "
                                              "the browser check of the report is skipped")
def test_report_opens_in_headless_chromium_without_errors(report, tmp_path):
    page = tmp_path / "checked.html"
    page.write_text(report.read_text(encoding="utf-8").replace("<head>", "<head>" + BROWSER_CHECK, 1),
                    encoding="utf-8")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="browser-check">([^<]*)</pre>', done.stdout)
    assert found, "the check script did not run: " + done.stdout[-500:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check == {"images": 23, "errors": [], "broken": []}
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console


def test_report_reads_the_slice_that_track_tracked(tmp_path):
    """A 3D+t NIfTI tracked with --slice: the report reads that slice of the input named in summary.json."""
    import nibabel as nib
    import torch

    from deeptag.checkpoint import save_checkpoint
    from deeptag.cli import main
    from deeptag.model import DeepTagNet

    rows, cols = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    frames = [0.5 + 0.4 * np.cos(2 * np.pi * (cols - 0.5 * t) / 7) * np.cos(2 * np.pi * rows / 7) for t in range(4)]
    volume = np.stack([np.stack(frames, axis=-1)] * 2, axis=2).astype(np.float32)  # (X, Y, Z, T)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "stack.nii.gz")
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", DeepTagNet())
    assert main(["track", "--adapt", "0", str(tmp_path / "stack.nii.gz"), "--slice", "1", "--model", str(tmp_path / "m.pt"),
                 "--out", str(tmp_path / "r")]) == 0
    assert main(["report", str(tmp_path / "r")]) == 0
    assert "Virtual tag grid" in (tmp_path / "r" / "report.html").read_text()


def headers(table: str) -> list[str]:
    return re.findall(r"<th>([^<]*)</th>", table)


def test_quantities_of_unknown_accuracy_are_flagged_beside_their_numbers(report):
    """Issue 30: radial strain, rotation and the strain rates are marked, with what is known of them, right
    above the peak table; circumferential strain, measured within about a point, is not."""
    html = report.read_text(encoding="utf-8")
    peaks = html[html.index("<h3>Peaks</h3>"):html.index("<h3>Global strain per frame</h3>")]
    note, table = peaks[:peaks.index("<table>")], peaks[peaks.index("<table>"):]
    assert "Accuracy not established" in note and "E_rr</b>: its peak global value came out too low" in note
    assert "16.5 percentage points" in note and "lower bound of wall thickening" in note
    flagged = {h.split()[1] for h in headers(table) if "\u2020" in h}
    assert flagged == {"E_rr", "rotation", "E_rr_rate", "E_cc_rate"}
    assert "peak E_cc (%) / time (ms)" in headers(table)
    frames = html[html.index("<h3>Global strain per frame</h3>"):html.index("<h3>Definitions</h3>")]
    assert {h.split()[0] for h in headers(frames) if "\u2020" in h} == flagged
    curves = html[html.index("<h3>Strain curves</h3>"):html.index("<h3>Peaks</h3>")]
    assert curves.count("E_rr and rotation: accuracy not established") == 2  # the curves and the bull's-eye


def test_long_axis_tables_flag_transmural_strain_only():
    from deeptag.report import strain_tables_html
    peak = {"value": -15.0, "frame": 2, "time_ms": None}
    summary = {"view": "4ch", "units": {"E_ll": "%", "E_tt": "%", "GLS_centreline": "%"}, "time_ms": None,
               "frames": [0, 1, 2], "conventions": {}, "myocardium": {},
               "regions": [{"region": "global", "name": "global", "kind": "global", "points": 30,
                            "peaks": {q: peak for q in ("E_ll", "E_tt", "GLS_centreline")},
                            "curves": {q: [0.0, -7.0, -15.0] for q in ("E_ll", "E_tt", "GLS_centreline")}},
                           {"region": 17, "name": "apex", "kind": "segment", "points": 5,
                            "peaks": {"E_ll": peak, "E_tt": peak}, "curves": {}}]}
    html = strain_tables_html(summary)
    table = html[html.index("<table>"):html.index("</table>")]
    assert headers(table) == ["region", "peak E_ll (%) / frame", "peak E_tt \u2020 (%) / frame",
                              "peak GLS_centreline (%) / frame"]
    assert "<td>17 apex (5 px)</td><td>-15.00 / 2</td><td>-15.00 / 2</td><td>&ndash;</td>" in table
    note = html[html.index("<h3>Peaks (4CH view)</h3>"):html.index("<table>")]
    assert "E_tt</b>: its peak was 13 to 31 percentage points off" in note and "E_ll</b>" not in note
