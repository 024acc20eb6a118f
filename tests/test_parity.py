"""Parity with the authors' published model on the real reference sequence."""
import json

import numpy as np

from deeptag.cli import main

from conftest import OFFICIAL_WEIGHTS, REAL_SEQUENCE, needs_real_data


@needs_real_data()
def test_evaluate_with_published_weights_matches_the_published_tracks(capsys):
    # the published frames are stored as the authors fed them, normalised for display: kept as they are
    code = main(["evaluate", "--adapt", "0", str(REAL_SEQUENCE), "--model", f"official:{OFFICIAL_WEIGHTS}",
                 "--intensity", "none", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert abs(report["mean_px"] - 1.86) < 0.05
    for key in ("rms_px", "per_frame_mean_px", "nonpositive_jacobians", "seconds"):
        assert key in report
    assert len(report["per_frame_mean_px"]) == 19
    official = np.load(REAL_SEQUENCE)["official_deeptag_tracks"]
    assert np.abs(np.asarray(report["tracks"]) - official).max() < 0.1
