"""How well the error map (``deeptag.quality``) predicts the real tracking error, on simulated test sequences.

On simulated sequences from test seeds (100000 on, never trained on, never used to fit the error model),
tracked by ``track_sequence`` with the bundled model, prints in one run:

1. the Spearman correlation between the estimate (``TrackResult.uncertainty``) and the true end-point
   error of the Lagrangian field over the moving myocardium's pixels of frames 1..T-1, pooled over all
   sequences and the median per sequence; the same for the VAE's standard deviation (``vae_sigma``);
2. the calibration: the fraction of those pixels whose true error lies below the estimate (the estimate
   is the predicted 90th percentile: aim 0.85-0.95);
3. per AHA segment (mid level, the simulator's myocardium): the segment is flagged when its estimate
   (``regions.region_estimates``) exceeds ``regions.FLAG_PX`` in some frame; precision and recall for the
   segments whose true peak strain error (E_cc or E_rr, percentage points) exceeds 5 (and 10, 20);
4. the seconds of the error map beside those of the tracking;
5. on ../shared/real/sax_45_23.npz (when present), the estimate at its expert landmarks (``error_px``)
   against their distance to the tracked points.

By default the network alone (``adapt=None``: the CPU budget); ``--adapt`` runs the default adaptation
(minutes per sequence on a CPU). ``--fit`` instead fits the error model's coefficients on validation seeds
50000-50029 (what ``quality.INTERCEPT`` and ``COEFFICIENTS`` hold) and prints them.

    nice -n 10 python benchmarks/error_map.py [--sequences 20] [--adapt] [--fit] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import stats

from deeptag import quality
from deeptag.adapt import AdaptConfig
from deeptag.checkpoint import load_model
from deeptag.io import read_sequence
from deeptag.regions import FLAG_PX, error_at_points, region_estimates
from deeptag.metrics import landmark_distances
from deeptag.phantom import simulate_sequence
from deeptag.strain import compute_strain, strain_summary
from deeptag.track import network_frames, track_sequence

from reference_data import REAL_SEQUENCE as REAL

TEST_SEED = 100_000
VALIDATION_SEED = 50_000
PIXELS_PER_SEQUENCE = 20_000  # for the fit: a random sample of each sequence's myocardium pixels


def true_error(result, simulated) -> tuple[np.ndarray, np.ndarray]:
    """(T-1, H, W) end-point error of the tracked Lagrangian fields (input pixels) and where the moving
    myocardium is (material point in the frame-0 mask, as ``metrics.myocardium_epe``)."""
    difference = result.lagrangian - simulated.lagrangian[1:]
    error = np.hypot(difference[:, 0], difference[:, 1])
    moving = quality.moving_mask(simulated.myocardium_mask, simulated.lagrangian[1:]) & np.isfinite(error)
    return error, moving


def segment_peaks(lagrangian: np.ndarray, myocardium) -> tuple[dict, object]:
    strain = compute_strain(lagrangian, myocardium)
    summary = strain_summary(strain)
    return {region["region"]: {q: region["peaks"][q]["value"] for q in ("E_cc", "E_rr")}
            for region in summary["regions"] if region["kind"] == "segment"}, strain


def evaluate(args, model) -> None:
    adapt = AdaptConfig() if args.adapt else None
    print(f"{args.sequences} simulated test sequences (seeds {TEST_SEED}-{TEST_SEED + args.sequences - 1}), "
          + ("default adaptation" if adapt else "network alone (adapt=None)"), flush=True)
    estimates, errors, sigmas, per_sequence, per_sequence_sigma = [], [], [], [], []
    segments = []  # (max over frames of the segment's estimate, true peak error E_cc or E_rr, E_cc alone)
    tracking_seconds, map_seconds = [], []
    print(f"{'seed':>7} {'tags':>5} {'mean err':>9} {'median est':>11} {'below est':>10} {'spearman':>9} {'VAE':>7}")
    for k in range(args.sequences):
        simulated = simulate_sequence(TEST_SEED + k)
        result = track_sequence(simulated.as_sequence("simulated"), model, adapt=adapt)
        error, moving = true_error(result, simulated)
        estimate = result.uncertainty[moving]
        sigma = np.hypot(result.vae_sigma[:, 0], result.vae_sigma[:, 1])[moving]
        truth = error[moving]
        estimates.append(estimate); errors.append(truth); sigmas.append(sigma)
        per_sequence.append(stats.spearmanr(estimate, truth)[0])
        per_sequence_sigma.append(stats.spearmanr(sigma, truth)[0])
        map_seconds.append(result.seconds["error_map"])
        tracking_seconds.append(result.seconds["total"] - result.seconds["error_map"])
        myocardium = simulated.myocardium()
        true_peaks, _ = segment_peaks(simulated.lagrangian[1:], myocardium)
        tracked_peaks, strain = segment_peaks(result.lagrangian, myocardium)
        flags = region_estimates(strain, result.uncertainty)
        for region, peaks in true_peaks.items():
            if peaks["E_cc"] is None or tracked_peaks[region]["E_cc"] is None:
                continue
            worst = max(abs(tracked_peaks[region][q] - peaks[q]) for q in ("E_cc", "E_rr"))
            segments.append((float(np.nanmax(flags[region])), worst, abs(tracked_peaks[region]["E_cc"] - peaks["E_cc"])))
        print(f"{TEST_SEED + k:>7} {simulated.tag_pattern:>5} {truth.mean():>9.2f} {np.median(estimate):>11.2f} "
              f"{np.mean(truth < estimate):>10.3f} {per_sequence[-1]:>9.3f} {per_sequence_sigma[-1]:>7.3f}", flush=True)
    estimate, truth, sigma = map(np.concatenate, (estimates, errors, sigmas))
    print(f"\n1. Spearman correlation with the true end-point error over {truth.size} myocardium pixel-frames: "
          f"error map {stats.spearmanr(estimate, truth)[0]:.3f} pooled, {np.median(per_sequence):.3f} median per "
          f"sequence; VAE standard deviation {stats.spearmanr(sigma, truth)[0]:.3f} pooled, "
          f"{np.nanmedian(per_sequence_sigma):.3f} median per sequence")
    print(f"2. Calibration: true error below the estimate (predicted 90th percentile) in {np.mean(truth < estimate):.3f} "
          f"of the pixel-frames (per sequence {min(np.mean(t < e) for t, e in zip(errors, estimates)):.3f} to "
          f"{max(np.mean(t < e) for t, e in zip(errors, estimates)):.3f})")
    table = np.array(segments)
    flagged = table[:, 0] > FLAG_PX
    print(f"3. Segment flags (estimate above {FLAG_PX:g} px in some frame): {int(flagged.sum())} of "
          f"{len(table)} segments flagged")
    print(f"   Spearman correlation of a segment's largest estimate with its true peak strain error: "
          f"E_cc or E_rr {stats.spearmanr(table[:, 0], table[:, 1])[0]:.3f}, E_cc {stats.spearmanr(table[:, 0], table[:, 2])[0]:.3f}")
    for limit in (5.0, 10.0, 20.0):
        for column, name in ((1, "E_cc or E_rr"), (2, "E_cc")):
            bad = table[:, column] > limit
            hits = int((flagged & bad).sum())
            precision = hits / flagged.sum() if flagged.any() else float("nan")
            recall = hits / bad.sum() if bad.any() else float("nan")
            print(f"   true peak {name} error > {limit:g} points: {int(bad.sum())} segments; precision {precision:.2f}, "
                  f"recall {recall:.2f}")
    print(f"4. Seconds per sequence: tracking {np.mean(tracking_seconds):.2f}, error map {np.mean(map_seconds):.2f} "
          f"(torch threads {torch.get_num_threads()})")
    if REAL.is_file():  # expert landmarks: their own marking error is part of the 'true' distance
        real = read_sequence(REAL)
        result = track_sequence(real, model, points=real.landmarks[0], adapt=adapt)
        estimate = error_at_points(result.uncertainty, result.tracks)[1:]
        distance = landmark_distances(result.tracks, real.landmarks)[1:]
        known = np.isfinite(estimate) & np.isfinite(distance)
        print(f"5. {REAL.name}, {int(known.sum())} expert landmark-frames: mean distance {distance[known].mean():.2f} px, "
              f"median estimate (error_px) {np.median(estimate[known]):.2f} px, Spearman "
              f"{stats.spearmanr(estimate[known], distance[known])[0]:.3f}, distance below the estimate in "
              f"{np.mean(distance[known] < estimate[known]):.3f}")


def fit(args, model) -> None:
    """Fit the linear quantile regression of log error on the log signals (``quality.SIGNALS``)."""
    rng = np.random.default_rng(0)
    signals, targets = [], []
    for seed in range(VALIDATION_SEED, VALIDATION_SEED + 30):
        simulated = simulate_sequence(seed)
        sequence = simulated.as_sequence("simulated")
        result = track_sequence(sequence, model, adapt=None)
        error, moving = true_error(result, simulated)
        frames = network_frames(sequence, result.mapping, model.config.intensity)
        net = result.network
        with torch.inference_mode():
            values = quality.error_signals(frames, net["inf_forward"], net["inf_backward"], net["lagrangian"])
        height, width = error.shape[1:]
        index = np.flatnonzero(moving.ravel())
        index = rng.choice(index, min(PIXELS_PER_SEQUENCE, index.size), replace=False)
        signals.append(np.stack([result.mapping.scalar_from_network(values[name], height, width).ravel()[index]
                                 for name in quality.SIGNALS], axis=1))
        sy, sx = result.mapping.scale
        targets.append(error.ravel()[index] * np.sqrt(sy * sx))  # network pixels
        print(seed, flush=True)
    design = np.log(np.maximum(np.concatenate(signals), [quality.FLOORS[name] for name in quality.SIGNALS]))
    target = np.log(np.maximum(np.concatenate(targets), 1e-3))
    a = torch.as_tensor(design, dtype=torch.float64)
    y = torch.as_tensor(target, dtype=torch.float64)
    w = torch.zeros(a.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")
    tau, h = quality.QUANTILE, 0.02

    def closure():  # the pinball loss, smoothed within h of zero so that L-BFGS can follow it
        optimiser.zero_grad()
        r = y - (a @ w[1:] + w[0])
        loss = torch.where(r.abs() < h, r ** 2 / (2 * h) + (tau - 0.5) * r, torch.where(r > 0, tau * r, (tau - 1) * r)).mean()
        loss.backward()
        return loss

    optimiser.step(closure)
    w = w.detach().numpy()
    predicted = a.numpy() @ w[1:] + w[0]
    print(f"INTERCEPT = {w[0]:.4f}")
    print("COEFFICIENTS = {" + ", ".join(f'"{name}": {v:.4f}' for name, v in zip(quality.SIGNALS, w[1:])) + "}")
    print(f"on the fitting pixels: below the fit {np.mean(target < predicted):.3f}, Spearman "
          f"{stats.spearmanr(predicted, target)[0]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--adapt", action="store_true", help="track with the default adaptation (slow on a CPU)")
    parser.add_argument("--fit", action="store_true", help="fit the error model on the validation seeds instead")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, name = load_model(None)
    print(name)
    started = time.perf_counter()
    (fit if args.fit else evaluate)(args, model)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
