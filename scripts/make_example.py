"""Write the shipped example ``src/deeptag/examples/simulated_example.npz``.

One simulated 192x192 sequence of 20 frames from ``deeptag.phantom.EXAMPLE_SEED`` (a seed that is never
used for training), frames and ground-truth fields stored as float16 in a compressed file.

    python scripts/make_example.py
"""
from __future__ import annotations

from deeptag.phantom import EXAMPLE_SEED, example_path, save_simulated, simulate_sequence

EXAMPLE_FRAMES = 20
SIZE_LIMIT = 2_000_000  # bytes


def main() -> None:
    path = example_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sequence = simulate_sequence(EXAMPLE_SEED, size=192, frames=EXAMPLE_FRAMES)
    save_simulated(sequence, path, compact=True)
    size = path.stat().st_size
    if size > SIZE_LIMIT:
        raise SystemExit(f"{path} is {size} bytes, more than the {SIZE_LIMIT} allowed")
    print(f"wrote {path} ({size / 1e6:.2f} MB, {EXAMPLE_FRAMES} frames, seed {EXAMPLE_SEED}, "
          f"peak myocardial displacement {sequence.params['peak_displacement_px']:.1f} px)")


if __name__ == "__main__":
    main()
