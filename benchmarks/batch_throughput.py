"""Slices per hour of ``deeptag batch`` with 1 and 2 workers of the local Dask cluster, side by side.

Simulated test sequences (seeds 100000 on, 192x192) are written once, then each configuration runs as
a whole ``deeptag batch`` process into a fresh folder: the network alone (``--adapt 0``) on
``--slices`` sequences, and with the default adaptation on ``--adapted-slices``. Prints the wall time,
the slices per hour (cluster start-up included, as a user meets it) and the scaling efficiency of 2
workers (their rate / twice the rate of 1).

    python benchmarks/batch_throughput.py [--slices 16] [--adapted-slices 4] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deeptag.phantom import save_simulated, simulate_sequence

from reference_data import TEST_SEED


def run_batch(inputs: list[Path], out: Path, workers: int, adapt: str) -> float:
    """Seconds of one whole ``deeptag batch`` process."""
    command = [sys.executable, "-m", "deeptag", "batch", *map(str, inputs), "--out", str(out),
               "--workers", str(workers), "--adapt", adapt, "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=16, help="sequences for the network alone")
    parser.add_argument("--adapted-slices", type=int, default=4, help="sequences with the default adaptation")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        inputs = []
        for k in range(max(args.slices, args.adapted_slices)):
            path = folder / f"seq{k:03d}.npz"
            save_simulated(simulate_sequence(TEST_SEED + k), path)
            inputs.append(path)
        for label, adapt, count in (("network alone", "0", args.slices),
                                    ("default adaptation", "150", args.adapted_slices)):
            if count == 0:
                continue
            rates = {}
            for workers in args.workers:
                seconds = run_batch(inputs[:count], folder / f"out_{adapt}_{workers}", workers, adapt)
                rates[workers] = 3600 * count / seconds
                print(f"{label}, {workers} worker(s): {count} slices in {seconds:.1f} s, "
                      f"{rates[workers]:.0f} slices per hour", flush=True)
            if 1 in rates and 2 in rates:
                print(f"{label}: 2 workers / 1 worker = {rates[2] / rates[1]:.2f}x, "
                      f"scaling efficiency {rates[2] / (2 * rates[1]):.2f}", flush=True)


if __name__ == "__main__":
    main()
