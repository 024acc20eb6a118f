"""Long-axis views through the commands (issue 29): simulate --view, the view that track records (from
--view, the DICOM series description or a simulated input), strain and report of a long-axis result, and
one-line refusals (exit code 2) of options that do not fit the view."""
from __future__ import annotations

import json

import numpy as np
import pytest
from io_helpers import model_path, tagged_sequence, write_dicom_series  # noqa: F401

from deeptag.cli import main
from deeptag.long_axis import LongAxisMyocardium, true_long_axis_strain
from deeptag.phantom_long_axis import load_long_axis


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A 4-chamber simulated sequence (64 px, 6 frames) written by ``deeptag simulate --view 4ch``."""
    folder = tmp_path_factory.mktemp("lax") / "sims"
    assert main(["simulate", "--view", "4ch", "--n", "1", "--seed", "5", "--size", "80", "--frames", "6",
                 "--out", str(folder), "--quiet"]) == 0
    return folder / "sim_00000.npz"


@pytest.fixture(scope="module")
def result(simulated, tmp_path_factory):
    """A result folder as track writes it, holding the simulation's TRUE fields (no network involved)."""
    folder = tmp_path_factory.mktemp("lax") / "result"
    folder.mkdir()
    sequence = load_long_axis(simulated)
    lagrangian = sequence.lagrangian[1:]
    np.savez(folder / "fields.npz", inf_forward=lagrangian, inf_backward=lagrangian, lagrangian=lagrangian)
    (folder / "summary.json").write_text(json.dumps({
        "input": str(simulated), "view": "4ch", "frames": len(sequence.images),
        "spacing_mm": list(sequence.spacing), "frame_times_ms": [float(t) for t in sequence.frame_times]}))
    return folder


def test_simulate_writes_a_long_axis_file(simulated):
    sequence = load_long_axis(simulated)
    assert sequence.view == "4ch" and sequence.images.shape == (6, 80, 80)
    with np.load(simulated) as data:
        assert {"images", "gt_lagrangian", "myocardium_mask", "landmarks", "roi", "centreline", "view"} <= set(data.files)


def test_strain_of_a_long_axis_result_matches_the_truth(result, simulated, capsys):
    assert main(["strain", str(result), "--mask", str(simulated)]) == 0
    printed = capsys.readouterr().out
    assert "4ch view (inferoseptal / anterolateral walls)" in printed and "17 apex" in printed
    summary = json.loads((result / "strain" / "strain.json").read_text())
    assert summary["view"] == "4ch" and "centreline stored with it" in summary["myocardium"]["source"]
    sequence = load_long_axis(simulated)
    points = sequence.centreline[0]
    wall = LongAxisMyocardium(sequence.myocardium_mask, "4ch", tuple(points[0]), (tuple(points[1]), tuple(points[2])),
                              summary["myocardium"]["wall_px"])
    truth = true_long_axis_strain(sequence, wall)
    measured = summary["regions"][0]["peaks"]["E_ll"]["value"]
    assert measured == pytest.approx(truth["E_ll"].min(), abs=0.8)  # an 80-pixel grid: 2-4 px of wall
    assert {row.split(",")[2] for row in (result / "strain" / "peaks.csv").read_text().splitlines()[1:]} >= \
        {"E_ll", "E_tt", "GLS_centreline"}


def test_strain_with_a_drawn_centreline(result, simulated):
    sequence = load_long_axis(simulated)
    text = ",".join(f"{v:.2f}" for v in sequence.centreline[0].ravel())
    wall_mm = sequence.params["heart"]["wall"] * sequence.spacing[0]
    assert main(["strain", str(result), "--centreline", text, "--wall-mm", f"{wall_mm:.2f}", "--out",
                 str(result / "drawn"), "--quiet"]) == 0
    summary = json.loads((result / "drawn" / "strain.json").read_text())
    assert [s["number"] for s in summary["segments"]] == [3, 9, 14, 17, 16, 12, 6]
    assert all(r["points"] > 0 for r in summary["regions"])


def test_report_shows_the_long_axis_pictures(result, simulated, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(result), "--mask", str(simulated), "--out", str(out), "--quiet",
                 "--pictures", str(tmp_path / "pictures")]) == 0
    text = out.read_text()
    assert "4CH view" in text and "Longitudinal and transmural strain" in text and "GLS_centreline" in text
    assert (tmp_path / "pictures" / "long_axis_peaks.png").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--view", "5ch", "--mask", "{sim}"], "--view must be one of sax, 2ch, 3ch, 4ch, got '5ch'"),
    (["--lv", "40,40,5,10"], "--lv: short-axis option(s), but the view is 4ch; give --centreline"),
    (["--centreline", "1,2,3,4,5,6"], "--centreline needs --wall-mm"),
    (["--centreline", "1,2,3", "--wall-mm", "8"], "--centreline (apex x,y, annulus 1 x,y, annulus 2 x,y) must be 6"),
    (["--view", "sax", "--centreline", "1,2,3,4,5,6", "--wall-mm", "8"], "--centreline, --wall-mm: long-axis option(s), but the view is sax"),
    (["--centreline", "40,10,20,60,60,60", "--wall-mm", "-3"], "--wall-mm must be a wall thickness"),
    (["--auto"], "--auto finds a short-axis ring"),
])
def test_bad_long_axis_options_exit_with_one_line(result, simulated, capsys, tmp_path, arguments, message):
    arguments = [a.replace("{sim}", str(simulated)) for a in arguments]
    assert main(["strain", str(result), "--out", str(tmp_path / "strain"), *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not (tmp_path / "strain").exists()


@pytest.mark.parametrize("description, given, view, source", [
    ("tagging 4CH", None, "4ch", "series description 'tagging 4CH'"),
    ("tagging 4CH", "2ch", "2ch", "--view"),
    ("tagging SA", None, "sax", "series description 'tagging SA'"),
    ("tagging", None, "sax", "default")])
def test_track_records_the_view(tmp_path, model_path, description, given, view, source):  # noqa: F811
    write_dicom_series(tmp_path / "series", tagged_sequence(frames=3, height=32, width=32), description=description)
    arguments = ["track", str(tmp_path / "series"), "--out", str(tmp_path / "out"), "--model", str(model_path),
                 "--adapt", "0", "--quiet", "--threads", "1"]
    assert main(arguments + (["--view", given] if given else [])) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["view"], summary["view_source"]) == (view, source)


def test_bullseye_combines_the_views(result, simulated, tmp_path, capsys):
    for view in ("4ch", "2ch"):  # the same wall read as two views: their segments differ, the apex is shared
        assert main(["strain", str(result), "--view", view, "--mask", str(simulated), "--out",
                     str(tmp_path / view), "--quiet"]) == 0
    out = tmp_path / "gls.png"
    assert main(["bullseye", str(tmp_path / "4ch"), str(tmp_path / "2ch"), "--out", str(out)]) == 0
    assert out.is_file() and "global (mean of 2)" in capsys.readouterr().out
    rows = {row.split(",")[0]: row.split(",") for row in out.with_suffix(".csv").read_text().splitlines()[1:]}
    assert set(rows) == {"1", "3", "4", "6", "7", "9", "10", "12", "13", "14", "15", "16", "17", "global"}
    assert rows["17"][-1] == "4ch + 2ch" and rows["3"][-1] == "4ch" and rows["1"][-1] == "2ch"
    summaries = [json.loads((tmp_path / v / "strain.json").read_text()) for v in ("4ch", "2ch")]
    apex = [next(r for r in s["regions"] if r["region"] == "17")["peaks"]["E_ll"]["value"] for s in summaries]
    assert float(rows["17"][2]) == pytest.approx(np.mean(apex), abs=1e-3)
    assert main(["bullseye", str(tmp_path / "4ch"), "--out", str(out)]) == 2  # exists: needs --force
    assert main(["bullseye", str(tmp_path / "4ch"), "--quantity", "E_cc", "--out", str(tmp_path / "cc.png")]) == 2
    assert main(["bullseye", str(tmp_path), "--out", str(tmp_path / "none.png")]) == 2  # no strain.json
    assert "no strain.json" in capsys.readouterr().err


def test_simulate_a_stack_of_the_same_heart(tmp_path):
    out = tmp_path / "sims"
    assert main(["simulate", "--view", "2ch", "--stack", "--n", "1", "--size", "64", "--frames", "4", "--out", str(out),
                 "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.npz")) == ["sim_00000.npz", "sim_00000_sax_apical.npz",
                                                    "sim_00000_sax_basal.npz", "sim_00000_sax_mid.npz"]
    from deeptag.phantom import load_simulated
    assert load_simulated(out / "sim_00000_sax_mid.npz").params["same_heart"]["long_axis_view"] == "2ch"
    assert main(["simulate", "--stack", "--n", "1", "--out", str(tmp_path / "no")]) == 2


def test_batch_task_of_a_long_axis_slice(simulated, tmp_path, model_path):  # noqa: F811
    """One batch task (no cluster): the view comes from the file, strain is long-axis, the tables get it."""
    from deeptag.batch import Options, Scan, track_slice, write_tables
    from deeptag.checkpoint import load_model

    model, name = load_model(model_path)
    scan = Scan(simulated, name="sim", myocardium={"mask": simulated})
    outcome = track_slice(slice_job_of(scan), Options(tmp_path, name), model)
    row = outcome["row"]
    assert row["status"] == "ok", row.get("error")
    assert row["view"] == "4ch" and row["E_ll_peak_pct"] is not None and row["E_cc_peak_pct"] is None
    assert [s["segment"] for s in outcome["segments"]] == ["3", "9", "14", "17", "16", "12", "6"]
    write_tables(tmp_path, [row], outcome["segments"])
    import pandas as pd
    table = pd.read_csv(tmp_path / "summary.csv")
    assert table["view"].tolist() == ["4ch"] and "GLS_centreline_peak_pct" in table.columns
    refused = track_slice(slice_job_of(Scan(simulated, name="sim2", myocardium={"ring": "40,40,5,10"})),
                          Options(tmp_path, name), model)["row"]
    assert refused["status"] == "failed" and "short-axis option" in refused["error"]


def slice_job_of(scan):
    from deeptag.batch import slice_job
    return slice_job(scan, None, 0, False)
