"""Presets of the simulator's distribution: ``classic`` (the original draws) and ``wide`` (issue 23).

The wide preset widens the appearance, anatomy, motion and acquisition of the simulated sequences so
that a network trained on them meets real tagged MRI less as a stranger (Loecher et al., MedIA 2021,
trained a tag tracker on simulation alone with randomised textures and motion). Every widening is a
*lever* that can be switched on alone, so a training study can measure which one moves the real
validation figure.

Each lever draws from its own random generator, seeded by ``(seed, lever)``: the classic draws of a
seed are the same whichever levers are on, and switching one lever off leaves the others' draws
unchanged (the sequence still differs where the lever's values feed later steps, e.g. the frame count).
The ranges and their sources are in docs/simulator.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .phantom_imaging import TAG_PROFILES

LEVERS = ("textures", "anatomy", "tags", "fading", "snr", "resolution", "zoom", "frames", "motion",
          "through_plane", "breathing", "display")
"""Every lever of the wide preset, in a fixed order (the order seeds each lever's generator: add new
levers at the end, so that the draws of the others stay the same)."""

PRESETS = ("classic", "wide")
_LEVER_STREAM = 23  # keeps the lever generators apart from any other use of the seed


@dataclass(frozen=True)
class Variety:
    """Which levers are on and the ranges they draw from (uniform unless said otherwise).

    Lengths in mm, times in ms, angles in degrees; ``pixel_mm`` is the displayed pixel at 192 px (field of
    view and zoom), ``acquired_mm`` the acquired resolution (k-space truncation).
    """

    levers: frozenset[str] = frozenset()
    # textures: multiplicative texture on the proton density, random smooth or 1/f**beta ("natural-like")
    texture_amplitude: tuple[float, float] = (0.05, 0.35)
    myocardium_texture: tuple[float, float] = (0.0, 0.12)
    texture_beta: tuple[float, float] = (1.5, 3.5)
    texture_sigma_px: tuple[float, float] = (1.0, 12.0)
    # anatomy
    centre_offset: float = 0.25  # of the image side, at most
    ellipticity: float = 0.12  # clip of the 2nd radial harmonic of the endocardium
    rv_depth_mm: tuple[float, float] = (5.0, 30.0)
    rv_half_span_deg: tuple[float, float] = (40.0, 100.0)
    rv_wall_mm: tuple[float, float] = (2.0, 7.0)
    subcutaneous_fat_mm: tuple[float, float] = (2.0, 40.0)
    chest_muscle_mm: tuple[float, float] = (4.0, 25.0)
    papillary_mm: tuple[float, float] = (2.0, 6.0)
    trabeculae: tuple[int, int] = (0, 20)
    trabecula_mm: tuple[float, float] = (0.6, 2.5)
    # tags
    tag_mm: tuple[float, float] = (5.0, 9.0)
    tag_px: tuple[float, float] = (4.0, 14.0)  # at 192 px, so that tags stay resolved and not too coarse
    tag_profiles: tuple[str, ...] = TAG_PROFILES
    grid_fraction: float = 0.7
    tag_depth: tuple[float, float] = (0.6, 1.0)
    # fading: T1 at 1.5 T and the flip-angle schedule of the imaging pulses
    myocardium_t1_ms: tuple[float, float] = (950.0, 1250.0)
    blood_t1_ms: tuple[float, float] = (1400.0, 1700.0)
    fat_t1_ms: tuple[float, float] = (250.0, 400.0)
    liver_t1_ms: tuple[float, float] = (500.0, 800.0)
    constant_flip_fraction: float = 0.5  # else a flip-angle ramp (always a ramp with the CSPAMM-like profile)
    flip_deg: tuple[float, float] = (5.0, 12.0)
    tr_ms: tuple[float, float] = (4.0, 8.0)
    recovery_ms: tuple[float, float] = (20.0, 300.0)  # no imaging pulses: end of the cycle, trigger delay
    # noise: SNR = myocardium signal / noise per channel, log-uniform
    snr: tuple[float, float] = (8.0, 40.0)
    # resolution: acquired pixel (readout; phase encoding up to 1.6 times coarser) and the window taper
    acquired_mm: tuple[float, float] = (1.0, 1.8)
    phase_encoding_factor: tuple[float, float] = (1.0, 1.6)
    taper: tuple[float, float] = (0.02, 0.5)
    # zoom: displayed pixel at 192 px, log-uniform (native field of view to a tight crop)
    pixel_mm: tuple[float, float] = (0.6, 1.8)
    heart_px: tuple[float, float] = (16.0, 60.0)  # LV epicardial radius at 192 px
    # frames
    frames: tuple[int, int] = (16, 40)
    cycle_ms: tuple[float, float] = (600.0, 1200.0)
    acquisition_fraction: tuple[float, float] = (0.8, 1.0)
    # motion
    hypokinesis_fraction: float = 0.4
    hypokinesis_depth: tuple[float, float] = (0.4, 1.0)
    dyskinesis_fraction: float = 0.15
    dyskinesis_depth: tuple[float, float] = (1.1, 1.6)
    dyskinesis_floor: float = -0.25  # lowest regional fractional area change (the sector bulges out)
    rotation_deg: tuple[float, float] = (0.0, 15.0)
    rotation_epi: tuple[float, float] = (0.3, 1.0)
    # through-plane appearance change at end-systole
    through_plane_signal: tuple[float, float] = (0.0, 0.35)
    through_plane_tags: tuple[float, float] = (0.0, 0.4)
    # breathing: whole-image drift over the sequence, linear or part of a breath
    drift_mm: tuple[float, float] = (0.0, 6.0)
    breaths_per_sequence: tuple[float, float] = (0.15, 0.5)
    # display: gamma of the display curve of exported images, log-uniform
    display_gamma: tuple[float, float] = (0.7, 1.4)

    def __post_init__(self) -> None:
        unknown = set(self.levers) - set(LEVERS)
        if unknown:
            raise ValueError(f"unknown simulator lever(s) {sorted(unknown)}; known: {', '.join(LEVERS)}")
        object.__setattr__(self, "levers", frozenset(self.levers))

    @property
    def name(self) -> str:
        """``classic``, ``wide`` or ``wide:lever+lever`` for a partial preset."""
        if not self.levers:
            return "classic"
        if self.levers == frozenset(LEVERS):
            return "wide"
        return "wide:" + "+".join(lever for lever in LEVERS if lever in self.levers)

    def on(self, lever: str) -> bool:
        """Whether ``lever`` is switched on."""
        return lever in self.levers

    def only(self, *levers: str) -> "Variety":
        """The same ranges with exactly ``levers`` on."""
        return replace(self, levers=frozenset(levers))


def variety(preset: "str | Variety | None" = None, levers: "list[str] | tuple[str, ...] | None" = None) -> Variety:
    """A ``Variety`` from a preset name (``classic``, ``wide``), optionally restricted to ``levers``.

    ``levers`` given with ``wide`` (or no preset) switches on exactly those levers.
    """
    if isinstance(preset, Variety):
        return preset if levers is None else preset.only(*levers)
    if preset in (None, "classic") and not levers:
        return Variety()
    if preset not in (None, "classic", "wide"):
        raise ValueError(f"unknown simulator preset {preset!r}; known: {', '.join(PRESETS)}")
    if preset == "classic":
        raise ValueError("levers switch parts of the wide preset on; use preset 'wide' with them")
    return Variety(levers=frozenset(LEVERS if levers is None else levers))


@dataclass
class Widening:
    """The lever generators of one seed and the values they drew (``record``, saved in ``params``)."""

    variety: Variety
    seed: int
    record: dict = field(default_factory=dict)
    _generators: dict = field(default_factory=dict)

    def on(self, lever: str) -> bool:
        """Whether ``lever`` is switched on."""
        return self.variety.on(lever)

    def rng(self, lever: str) -> np.random.Generator:
        """The generator of ``lever`` for this seed (the same one on every call)."""
        if lever not in self._generators:
            self._generators[lever] = np.random.default_rng([self.seed, _LEVER_STREAM, LEVERS.index(lever)])
        return self._generators[lever]

    def uniform(self, lever: str, bounds: tuple[float, float]) -> float:
        """One uniform draw of ``lever`` within ``bounds``."""
        return float(self.rng(lever).uniform(*bounds))

    def log_uniform(self, lever: str, bounds: tuple[float, float]) -> float:
        """One log-uniform draw of ``lever`` within ``bounds``."""
        return float(np.exp(self.rng(lever).uniform(np.log(bounds[0]), np.log(bounds[1]))))
