"""Where radial strain is lost: peak global E_rr on simulated validation sequences from the true fields,
the true fields taken down to the bundled model's grid (whole frame) and back, TV-L1 on the full grid,
and the bundled model with --adapt at two control spacings, tracked in the heart's box as ``track``
does (and E_cc beside each).

    python benchmarks/radial_strain.py [--seeds 50000 50001]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from deeptag.adapt import AdaptConfig
from deeptag.baselines.optical_flow import track_tvl1
from deeptag.checkpoint import load_model
from deeptag.myocardium import Myocardium
from deeptag.phantom import simulate_sequence
from deeptag.strain import compute_strain, strain_summary
from deeptag.track import track_sequence

from reference_data import VALIDATION_SEED


def global_peaks(lagrangian: np.ndarray, myocardium: Myocardium) -> str:
    regions = strain_summary(compute_strain(lagrangian, myocardium))["regions"]
    overall = next(r for r in regions if r["region"] == "global")["peaks"]
    return f"E_rr {overall['E_rr']['value']:5.1f} %, E_cc {overall['E_cc']['value']:5.1f} %"


def through_grid(lagrangian: np.ndarray, size: int) -> np.ndarray:
    """Fields (N, 2, H, W) in pixels, area-averaged to ``size`` and bilinearly back (pixel units kept)."""
    fields = torch.as_tensor(lagrangian)
    height = fields.shape[-1]
    coarse = F.interpolate(fields, size=(size, size), mode="area") * (size - 1) / (height - 1)
    back = F.interpolate(coarse, size=fields.shape[-2:], mode="bilinear", align_corners=True)
    return (back * (height - 1) / (size - 1)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[VALIDATION_SEED, VALIDATION_SEED + 1])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model(None)
    for seed in args.seeds:
        s = simulate_sequence(seed)
        myocardium = s.myocardium(f"seed {seed}")
        print(f"seed {seed}")
        print(f"  {'true fields':>28}: {global_peaks(s.lagrangian[1:], myocardium)}")
        grid = model.config.image_size
        print(f"  {f'true, through the {grid} grid':>28}: {global_peaks(through_grid(s.lagrangian[1:], grid), myocardium)}")
        print(f"  {'TV-L1 (full grid)':>28}: {global_peaks(track_tvl1(s.images, s.landmarks[0]).lagrangian, myocardium)}")
        for spacing in (4, 2):
            result = track_sequence(s.as_sequence("simulated"), model,
                                    adapt=AdaptConfig(control_spacing=spacing))
            print(f"  {f'model + adapt, spacing {spacing}':>28}: {global_peaks(result.lagrangian, myocardium)}")


if __name__ == "__main__":
    main()
