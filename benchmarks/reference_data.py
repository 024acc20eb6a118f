"""Where the benchmarks find the team's reference material: ../shared/real beside the repository (never
copied into it; each benchmark skips its real-sequence figures when the file is absent), and the seed
ranges of the simulated sequences they use."""
from pathlib import Path

REAL_SEQUENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "sax_45_23.npz"

# Simulator seeds: training uses 0-999 (the bundled model 0-199), choosing among settings and checkpoints
# uses VALIDATION_SEED on, reported figures TEST_SEED on; the shipped example is 900000 on.
VALIDATION_SEED = 50_000
TEST_SEED = 100_000
