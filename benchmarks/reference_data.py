"""Where the benchmarks find the team's reference material: ../shared/real beside the repository (never
copied into it). Each benchmark skips its real-sequence figures when the file is absent."""
from pathlib import Path

REAL_SEQUENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "sax_45_23.npz"
