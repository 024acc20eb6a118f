"""Saving and loading networks: the project's own checkpoints, the bundled default model, and the
authors' published weights (``official:PATH``), all through one loader.

Every file is read with ``torch.load(weights_only=True)``, which refuses pickled code, so a downloaded
checkpoint cannot run anything. A project checkpoint stores its model configuration next to the weights.
"""
from __future__ import annotations

from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import torch

from .errors import InputError
from .model import DeepTagNet, ModelConfig

CHECKPOINT_FORMAT = "deeptag-checkpoint-v1"
BUNDLED_MODEL = Path(__file__).parent / "models" / "default.pt"
OFFICIAL_PREFIX = "official:"
_IGNORED_OFFICIAL_KEYS = ("grid",)  # identity-grid buffers of the original code


def save_checkpoint(path: str | Path, model: DeepTagNet, **extra: Any) -> None:
    """Write ``model`` with its configuration and any extra plain data (loss config, step, optimiser)."""
    payload = {"format": CHECKPOINT_FORMAT, "model_config": model.config.to_dict(),
               "state_dict": model.state_dict(), **extra}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a kill never leaves a half-written checkpoint


def _read(path: Path) -> dict:
    if not path.is_file():
        raise InputError("model file not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or unsafe files
        raise InputError(f"not a readable PyTorch weights file ({type(error).__name__})", path) from None
    if not isinstance(payload, dict):
        raise InputError("expected a dictionary of weights", path)
    return payload


def read_checkpoint(path: str | Path) -> dict:
    """The raw content of a project checkpoint (weights, configuration, training state)."""
    path = Path(path)
    payload = _read(path)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"not a deeptag checkpoint (use '{OFFICIAL_PREFIX}{path}' for the authors' weights)", path)
    return payload


def known_fields(config_class: type, values: dict) -> dict:
    """The entries of a saved configuration that ``config_class`` still has (a checkpoint saved by an
    earlier version loads, or its run resumes, with today's defaults for anything added since)."""
    names = {field.name for field in dataclass_fields(config_class)}
    return {key: value for key, value in values.items() if key in names}


def load_official(path: str | Path) -> DeepTagNet:
    """The authors' published state dict in the project's network (their sampling: uniform noise; their
    tracks' corner-aligned coordinates)."""
    path = Path(path)
    state = _read(path)
    state = {k: v for k, v in state.items() if not k.endswith(_IGNORED_OFFICIAL_KEYS)}
    model = DeepTagNet(ModelConfig(noise="uniform", align_corners=True))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"does not hold the published DeepTag weights: {first}", path) from None
    return model.eval()


def load_model(spec: str | Path | None = None) -> tuple[DeepTagNet, str]:
    """A network ready for inference, and a short description of where it came from.

    ``spec`` is ``None`` (the model bundled with the package), a path to a project checkpoint, or
    ``"official:PATH"`` for the authors' published weights.
    """
    if spec is None:
        if not BUNDLED_MODEL.is_file():
            raise InputError("this installation has no bundled model yet; pass --model PATH "
                             f"or --model {OFFICIAL_PREFIX}PATH", BUNDLED_MODEL)
        spec = BUNDLED_MODEL
    spec = str(spec)
    if spec.startswith(OFFICIAL_PREFIX):
        path = spec[len(OFFICIAL_PREFIX):]
        return load_official(path), f"official DeepTag weights ({path})"
    payload = read_checkpoint(spec)
    model = DeepTagNet(ModelConfig(**known_fields(ModelConfig, payload["model_config"])))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"weights do not fit the network: {first}", spec) from None
    name = "bundled deeptag model" if Path(spec) == BUNDLED_MODEL else f"deeptag checkpoint ({spec})"
    return model.eval(), name
