"""Seconds and peak memory of ``track`` per 25-frame 192x192 sequence, on this CPU and on a GPU if present.

Each configuration runs in a fresh process (so the peak memory is its own) on the same synthetic
sequence, with 30 tracked points, end to end from the frames in memory to results on the input grid.
The paper's network is measured with random weights, on the 192 grid (the paper's and the bundled model's)
and on a 96 grid: speed does not depend on the weights' values.

    python benchmarks/track_speed.py [--threads 2] [--repeats 5] [--frames 25]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time


def measure(device: str, threads: int, repeats: int, frames: int, size: int, grid: int) -> dict:
    """Run inside a fresh process: time ``track_sequence`` and read the peak resident memory."""
    import numpy as np
    import torch

    from deeptag.io import Sequence
    from deeptag.model import DeepTagNet, ModelConfig
    from deeptag.track import track_sequence

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    images = rng.random((frames, size, size), dtype=np.float32)
    points = rng.uniform(40, size - 40, (30, 2)).astype(np.float32)
    sequence = Sequence(images=images, source="synthetic")
    model = DeepTagNet(ModelConfig(image_size=grid)).to(device)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    track_sequence(sequence, model, points, adapt=None, device=device)  # warm-up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = track_sequence(sequence, model, points, adapt=None, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"device": device, "grid": grid, "threads": threads, "frames": frames, "size": size,
           "seconds_median": float(np.median(times)), "seconds_min": float(np.min(times)),
           "parts_last_run": {k: round(v, 4) for k, v in result.seconds.items()},
           "peak_rss_mib": peak_kib / 1024, "rss_growth_mib": (peak_kib - baseline_kib) / 1024}
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--grids", type=int, nargs="+", default=[192, 96],
                        help="network grid sizes to compare (the paper's and the bundled model's 192; a coarser 96)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=int, default=192, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.repeats, args.frames, args.size, args.grid)))
        return
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"deeptag track, {args.frames} frames of {args.size}x{args.size}, 30 points; "
          f"CPU: {platform.processor() or platform.machine()}, {args.threads} threads")
    reference = 0.32 * args.frames / 19  # the published model's forward pass: 0.32 s for 19 frames here
    for device in devices:
        for grid in args.grids:
            command = [sys.executable, __file__, "--child", device, "--threads", str(args.threads), "--grid", str(grid),
                       "--repeats", str(args.repeats), "--frames", str(args.frames), "--size", str(args.size)]
            result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            label = f"{result.get('gpu', 'cpu')}, grid {grid}"
            print(f"{label:>24}: {result['seconds_median']:.3f} s median ({result['seconds_min']:.3f} min) "
                  f"= {result['seconds_median'] / reference:.2f} x the published forward pass scaled to "
                  f"{args.frames} frames ({reference:.2f} s); peak RSS {result['peak_rss_mib']:.0f} MiB "
                  f"(+{result['rss_growth_mib']:.0f} MiB while tracking)"
                  + (f"; peak GPU {result['peak_gpu_mib']:.0f} MiB" if "peak_gpu_mib" in result else ""))
            print(f"{'':>24}  parts of one run (s): {result['parts_last_run']}")


if __name__ == "__main__":
    main()
