"""Figures 8 and 10 of the paper: landmark RMS error across the cardiac cycle, one line per method."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def plot_phase_curves(path: Path, curves: dict[str, dict[str, np.ndarray]], labels: dict[str, str],
                      unit: str, title: str) -> None:
    """Write a PNG of ``curves`` (from ``deeptag.benchmark.phase_curves``): per method the mean RMS
    error of each phase bin against the bin's centre, with a band of one standard deviation."""
    figure, axes = plt.subplots(figsize=(7.0, 4.2), dpi=120)
    for name, curve in curves.items():
        bins = len(curve["mean"])
        centres = (np.arange(bins) + 0.5) / bins
        shown = ~np.isnan(curve["mean"])
        line, = axes.plot(centres[shown], curve["mean"][shown], marker="o", markersize=3, label=labels[name])
        axes.fill_between(centres[shown], (curve["mean"] - curve["sd"])[shown], (curve["mean"] + curve["sd"])[shown],
                          color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(bottom=0.0)
    axes.set_xlabel("phase of the cardiac cycle (frame / last frame)")
    axes.set_ylabel(f"landmark RMS error ({unit})")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
