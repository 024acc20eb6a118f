"""Unsupervised training on the user's own sequences (section 4.1 and 4.4).

Sequences are resampled to the network grid, normalised, padded to the network length by repeating the
last frame, augmented (rotation, translation, scaling, Gaussian noise: the same transform for all frames
of a sequence) and fed whole, so the global Lagrangian term of Eq. 11 sees the full cycle. Adam at 5e-4;
the checkpoint with the lowest validation loss is kept as ``best.pt``. ``last.pt`` holds everything needed
to resume a killed run exactly where it stopped. Runs unchanged under ``torchrun`` with
DistributedDataParallel (gloo on CPUs, NCCL on GPUs): each process takes its share of the sequences.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from . import fields
from .checkpoint import known_fields, read_checkpoint, save_checkpoint
from .errors import InputError
from .io import check_stored_roi, read_sequence
from .losses import DeepTagLoss, LossConfig
from .metrics import myocardium_epe
from .model import DeepTagNet, ModelConfig
from .preprocess import NETWORK_FRAMES, NETWORK_SIZE, GridMapping, prepare_intensity
from .track import track_sequence


MAX_SKIPPED_STEPS = 20  # steps in a row with a non-finite loss or gradient before training stops
RESUMABLE_BUDGET = ("steps", "max_minutes")  # what a resumed run may change: how long it trains


@dataclass
class TrainConfig:
    """How to train; saved in every checkpoint so that a run can be reproduced and resumed.

    ``crop``: train on random square crops of this size from the network grid (faster on a CPU; the
    network is convolutional, so it applies to the full grid unchanged). ``window``: feed random runs of
    this many consecutive frames instead of the whole padded sequence. ``supervised_steps``: a warm start
    that fits the simulator's true Lagrangian fields before the unsupervised loss takes over (not in
    the paper: it makes training converge within a CPU budget). Augmentation ranges are ours (the
    paper gives none): rotation up to ``rotation_deg``, translation up to ``translation`` of the size,
    scaling by up to ``scaling``, Gaussian noise with a standard deviation up to ``noise``.
    ``average``: decay of an exponential moving average of the weights (not in the paper; e.g. 0.999):
    the averaged weights are validated and saved as the model, so that the checkpoint chosen does not
    depend on where the last noisy step left the weights; the raw ones are kept for resuming.
    """

    steps: int = 20000
    supervised_steps: int = 0
    learning_rate: float = 5e-4
    sequences_per_step: int = 1
    frames: int = NETWORK_FRAMES
    window: int | None = None
    crop: int | None = None
    validation_fraction: float = 0.1
    validate_every: int = 200
    checkpoint_every: int = 100
    max_minutes: float | None = None
    seed: int = 0
    rotation_deg: float = 20.0
    translation: float = 0.08
    scaling: float = 0.1
    noise: float = 0.03
    average: float | None = None


@dataclass
class TrainState:
    """What changes during a run and is restored on resume."""

    step: int = 0
    best_validation: float = math.inf
    seconds: float = 0.0


def load_frames(path: Path, frames: int, model_config: ModelConfig) -> torch.Tensor:
    """One sequence on the network grid, (frames, 1, S, S), padded by repeating its last frame; the
    heart's box stored with the sequence (``roi``, as simulated sequences carry) is what is resampled,
    else the whole frame (section 4.1 crops the heart before resampling); normalised and resampled as the
    model's configuration says, as ``track`` does."""
    sequence = read_sequence(path)
    mapping = GridMapping.box_or_full_frame(sequence.roi, *sequence.images.shape[1:], model_config.image_size,
                                            model_config.align_corners)
    tensor = mapping.images_to_network(prepare_intensity(sequence.images, model_config.intensity))
    if len(tensor) > frames:
        tensor = tensor[:frames]
    padding = tensor[-1:].expand(frames - len(tensor), -1, -1, -1)
    return torch.cat([tensor, padding])


def true_motion_error(model: DeepTagNet, path: Path, device: str | torch.device = "cpu") -> float | None:
    """End-point error (px) of the model's Lagrangian fields inside the moving myocardium, for a file
    that carries its true motion (simulated: ``gt_lagrangian`` and ``myocardium_mask``), tracked as
    ``track`` does; None for real data. Logged beside the validation loss, which (its KL term most of
    all) can stay flat while the tracked motion still improves."""
    if not is_npz(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        if not {"gt_lagrangian", "myocardium_mask"} <= set(data.files):
            return None
        truth, mask = data["gt_lagrangian"].astype(np.float32), data["myocardium_mask"].astype(bool)
    result = track_sequence(read_sequence(path), model, adapt=None, device=device)
    return myocardium_epe(result.lagrangian, truth, mask)


def add_noise(frames: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise with a random standard deviation up to ``level``, clipped to [0, 1]."""
    std = level * float(torch.rand((), generator=generator))
    return (frames + std * torch.randn(frames.shape, generator=generator)).clamp(0.0, 1.0)


def augment(frames: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """One random similarity transform and noise level for all frames of a sequence (section 4.1)."""
    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    angle = math.radians(uniform(-config.rotation_deg, config.rotation_deg))
    scale = 1.0 + uniform(-config.scaling, config.scaling)
    shift = [uniform(-2 * config.translation, 2 * config.translation) for _ in range(2)]
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, shift[0]], [sin, cos, shift[1]]], dtype=frames.dtype)
    grid = F.affine_grid(theta[None].expand(len(frames), -1, -1), list(frames.shape), align_corners=True)
    moved = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return add_noise(moved, config.noise, generator)


def random_view(config: TrainConfig, generator: torch.Generator, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """The same random temporal window and spatial crop of each of ``tensors`` (time first), as
    configured (the whole sequence by default)."""
    length, side = len(tensors[0]), tensors[0].shape[-1]
    start, top, left = 0, 0, 0
    window = config.window if config.window and config.window < length else length
    if window < length:
        start = int(torch.randint(0, length - window + 1, (), generator=generator))
    crop = config.crop if config.crop and config.crop < side else side
    if crop < side:
        top, left = (int(torch.randint(0, side - crop + 1, (), generator=generator)) for _ in range(2))
    return [t[start:start + window, ..., top:top + crop, left:left + crop] for t in tensors]


def load_ground_truth(path: Path, frames: int, size: int = NETWORK_SIZE) -> torch.Tensor | None:
    """The simulator's true Lagrangian fields of frames 1.. on the network grid, (frames - 1, 2, S, S)
    in network pixels, padded like the frames; None when the file holds none (real data). Cropped to
    the stored ``roi`` first, as ``load_frames`` crops the images."""
    if not is_npz(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        if "gt_lagrangian" not in data.files:
            return None
        truth = data["gt_lagrangian"][1:frames]
        if "roi" in data.files:
            x0, y0, x1, y1 = check_stored_roi(data["roi"], truth.shape[-2:], path)
            truth = truth[..., y0:y1, x0:x1]
        truth = fields_to_grid(torch.as_tensor(truth, dtype=torch.float32), size)
    padding = truth[-1:].expand(frames - 1 - len(truth), -1, -1, -1)
    return torch.cat([truth, padding])


def is_npz(path: Path) -> bool:
    """Whether ``path`` is an ``.npz`` file, the only format that can carry the simulator's true motion."""
    return path.suffix.lower() == ".npz" and path.is_file()


def fields_to_grid(displacements: torch.Tensor, size: int) -> torch.Tensor:
    """Displacement fields (N, 2, H, W) in pixels, resampled bilinearly to the S x S network grid and
    rescaled to its pixels (rows and columns each by (S - 1) / (side - 1), corners aligned)."""
    height, width = displacements.shape[-2:]
    if (height, width) == (size, size):
        return displacements
    resampled = F.interpolate(displacements, size=(size, size), mode="bilinear", align_corners=True)
    return resampled * torch.tensor([(size - 1) / (height - 1), (size - 1) / (width - 1)]).view(1, 2, 1, 1)


def supervised_loss(model: nn.Module, frames: torch.Tensor, truth: torch.Tensor,
                    initial: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Mean squared end-point error of the composed Lagrangian fields against the true ones, and the
    mean end-point error in pixels (for the log). Squared, so that the many still pixels, already
    right, do not pull as hard as the moving ones, which an absolute error would let them do.
    ``initial``: the true Lagrangian field of ``frames[0]`` when the window starts after frame 0."""
    predicted = fields.lagrangian_fields(model(frames[:-1], frames[1:]).forward, initial)
    squared = ((predicted - truth) ** 2).sum(dim=1)
    return squared.mean(), float(torch.sqrt(squared.detach()).mean())


def split_files(files: list[Path], fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded split into training and validation files (at least one of each when possible). A file
    listed K > 1 times is drawn K times as often and always trained on, never held out; the split of the
    files listed once does not depend on it."""
    counts = Counter(files)
    single = sorted(path for path, count in counts.items() if count == 1)
    repeated = sorted(path for path, count in counts.items() if count > 1 for _ in range(count))
    order = random.Random(seed).sample(single, len(single))
    held_out = 0 if len(counts) < 2 else max(1, round(fraction * len(single)))
    return order[held_out:] + repeated, order[:held_out]


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Training sequences: files as given (any format ``read_sequence`` reads), the ``.npz`` files inside
    a folder that holds some, and any other folder (a DICOM series, a folder of frames) as one sequence.
    Each sequence given by name is read once here, so that one that cannot be read is refused before
    training starts rather than at the first step that draws it."""
    files: list[Path] = []
    for path in paths:
        found = sorted(path.glob("*.npz")) if path.is_dir() else []
        if not found:
            check_sequence(path)
        files.extend(found or [path])
    return files


def check_sequence(path: Path) -> None:
    """Refuse a training input that ``read_sequence`` cannot read; a folder is named as the culprit."""
    try:
        read_sequence(path)
    except InputError as error:
        if not path.is_dir():
            raise
        raise InputError(f"holds no .npz sequences and is no sequence in another format ({error})", path) from None


def trim_log(log: Path, last_step: int) -> None:
    """Drop the log lines of steps after ``last_step``: a killed run logged them after its last checkpoint,
    and the resumed run logs those steps again; a line cut short by the kill goes too. Rewritten through
    a temporary file, so a kill during the rewrite loses nothing."""
    if not log.is_file():
        return
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if logged_step(line) <= last_step]
    if len(kept) != len(lines):
        partial = log.with_suffix(".jsonl.partial")
        partial.write_text("".join(kept), encoding="utf-8")
        partial.replace(log)


def logged_step(line: str) -> float:
    """The step of one log line; infinity for a line that is not a whole record (cut short by a kill)."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def process_device(device: torch.device, rank: int) -> torch.device:
    """``device`` for the process of ``rank``: a bare 'cuda' is that process's own GPU."""
    if device.type == "cuda" and device.index is None:
        return torch.device(f"cuda:{rank % torch.cuda.device_count()}")
    return device


def distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


class Trainer:
    """Owns the model, optimiser, data and run folder of one training run."""

    def __init__(self, inputs: list[Path], out: Path, train_config: TrainConfig | None = None,
                 model_config: ModelConfig | None = None, loss_config: LossConfig | None = None,
                 init: Path | None = None, resume: bool = False, budget: dict | None = None,
                 device: str | torch.device = "cpu") -> None:
        """``budget`` (``steps``, ``max_minutes``; with ``resume`` only) replaces the saved run's, so a run
        that stopped at its budget can go on; ``max_minutes`` counts the run's whole training time.
        ``device``: cpu, cuda:K, or cuda for each process's own GPU (its rank modulo the GPUs)."""
        self.out = out
        self.rank, self.world = distributed()
        self.device = process_device(torch.device(device), self.rank)
        last = out / "last.pt"
        if resume:
            if not last.is_file():
                raise InputError("nothing to resume: no last.pt in the run folder", out)
            saved = read_checkpoint(last)
            if set(budget or {}) - set(RESUMABLE_BUDGET):
                raise ValueError(f"a resumed run can only change {', '.join(RESUMABLE_BUDGET)}, not {sorted(budget)}")
            train_config = TrainConfig(**known_fields(TrainConfig, {**saved["train_config"], **(budget or {})}))
            loss_config = LossConfig(**known_fields(LossConfig, saved["loss_config"]))
            model_config = ModelConfig(**known_fields(ModelConfig, saved["model_config"]))
        elif last.exists():
            raise InputError("the run folder holds a run already; pass --resume to continue it", out)
        self.config = train_config or TrainConfig()
        self.loss = DeepTagLoss(loss_config or LossConfig())
        torch.manual_seed(self.config.seed)
        self.model = DeepTagNet(model_config or ModelConfig()).to(self.device)
        if init is not None and not resume:
            self.model.load_state_dict(read_checkpoint(init)["state_dict"])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        self.averaged = None
        if self.config.average is not None:
            self.averaged = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.config.average))
        self.state = TrainState()
        self.generator = torch.Generator().manual_seed(self.config.seed * 1000 + self.rank)
        files = expand_inputs(inputs)
        self.train_files, self.validation_files = split_files(files, self.config.validation_fraction, self.config.seed)
        if resume:
            self.model.load_state_dict(saved.get("training_weights", saved["state_dict"]))
            if self.averaged is not None:
                self.averaged.module.load_state_dict(saved["state_dict"])
                self.averaged.n_averaged.fill_(saved["averaged_steps"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.state = TrainState(**saved["train_state"])
            if self.world == 1:  # the data stream and the latent noise continue exactly
                self.generator.set_state(saved["generator"])
                torch.set_rng_state(saved["torch_rng"])
            else:  # every process needs its own stream: derive it from the seed, rank and step
                self.generator.manual_seed(self.config.seed * 1000 + self.rank + 1_000_003 * self.state.step)
        self.network = self.model
        if self.world > 1:
            self.network = DistributedDataParallel(self.model, find_unused_parameters=not self.loss.config.kl)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            if resume:
                trim_log(out / "log.jsonl", self.state.step)

    def sequence(self, path: Path) -> torch.Tensor:
        return load_frames(path, self.config.frames, self.model.config)

    def next_files(self) -> list[Path]:
        """This process's share of the sequences for the next step (seeded, different per rank)."""
        count = self.config.sequences_per_step
        indices = torch.randint(0, len(self.train_files), (count,), generator=self.generator)
        return [self.train_files[int(i)] for i in indices]

    def train_step(self) -> dict[str, float]:
        """One optimiser step: supervised by the simulator's true fields during the first
        ``supervised_steps`` (where the files hold them), then the unsupervised loss of Eq. 12."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        files = self.next_files()
        supervised = self.state.step < self.config.supervised_steps
        for path in files:
            frames = self.sequence(path)
            truth = load_ground_truth(path, self.config.frames, self.model.config.image_size) if supervised else None
            if truth is None:
                frames, = random_view(self.config, self.generator, augment(frames, self.config, self.generator))
                loss, terms = self.loss(self.network, frames.to(self.device))
            else:  # no geometric augmentation: it would have to move the true fields too
                frames = add_noise(frames, self.config.noise, self.generator)
                # the truth of frame k is truth[k - 1]; a window from frame s starts from truth[s - 1]
                from_zero = torch.cat([torch.zeros_like(truth[:1]), truth])
                frames, truth = random_view(self.config, self.generator, frames, from_zero)
                loss, epe = supervised_loss(self.network, frames.to(self.device), truth[1:].to(self.device),
                                            truth[:1].to(self.device))
                terms = {"supervised_mse": float(loss.detach()), "epe_px": epe}
            (loss / len(files)).backward()
            for name, value in {**terms, "loss": float(loss.detach())}.items():
                totals[name] = totals.get(name, 0.0) + value / len(files)
        totals["grad_norm"] = self.gradient_norm()
        if math.isfinite(totals["grad_norm"]):
            self.optimizer.step()
            if self.averaged is not None:
                self.averaged.update_parameters(self.model)
        else:  # one bad step must not poison the weights and Adam's moments: skip it
            totals["skipped"] = 1.0
        return totals

    def gradient_norm(self) -> float:
        """Euclidean norm of all gradients together, logged so that a run heading for divergence shows
        it; not finite when any gradient is not (the same on every process: DDP has averaged them)."""
        return float(nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None]))

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss over the validation sequences (deterministic latent, no augmentation), and the mean
        myocardium end-point error over those that carry their true motion (``true_motion_error``)."""
        model = self.final_model().eval()
        files = self.validation_files or self.train_files[:1]
        losses = [float(self.loss(model, self.sequence(p).to(self.device))[0]) for p in files]
        record = {"validation": float(np.mean(losses))}
        errors = [true_motion_error(model, p, self.device) for p in files]
        errors = [e for e in errors if e is not None]
        if errors:
            record["validation_epe_px"] = float(np.mean(errors))
        return record

    def final_model(self) -> DeepTagNet:
        """The network a checkpoint holds as its model: the averaged weights when ``average`` is set."""
        return self.model if self.averaged is None else self.averaged.module

    def save(self, name: str) -> None:
        averaging = {} if self.averaged is None else {"training_weights": self.model.state_dict(),
                                                      "averaged_steps": int(self.averaged.n_averaged)}
        save_checkpoint(self.out / name, self.final_model(), **averaging, train_config=asdict(self.config),
                        loss_config=self.loss.config.to_dict(), optimizer=self.optimizer.state_dict(),
                        train_state=asdict(self.state), generator=self.generator.get_state(),
                        torch_rng=torch.get_rng_state())

    def agree(self, flag: bool) -> bool:
        """True on every process when it is true on any (so that all processes stop together)."""
        if self.world == 1:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def run(self, progress: bool = True) -> TrainState:
        """Train until ``steps`` (or ``max_minutes``); returns the final state."""
        config, state = self.config, self.state
        bar = tqdm(total=config.steps, initial=state.step, disable=not progress or self.rank != 0,
                   dynamic_ncols=True, desc="training")
        started = time.perf_counter() - state.seconds
        log = open(self.out / "log.jsonl", "a", encoding="utf-8") if self.rank == 0 else None
        skipped_in_a_row = 0
        step_done, random_state = True, None
        try:
            while state.step < config.steps:
                step_done, random_state = False, (self.generator.get_state(), torch.get_rng_state())
                terms = self.train_step()
                state.step += 1
                step_done = True
                skipped_in_a_row = skipped_in_a_row + 1 if "skipped" in terms else 0
                state.seconds = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()})
                record = {"step": state.step, "seconds": round(state.seconds, 2), **terms}
                if state.step % config.validate_every == 0 or state.step == config.steps:
                    record.update(self.validate())
                    if self.rank == 0 and record["validation"] < state.best_validation:
                        state.best_validation = record["validation"]
                        self.save("best.pt")
                out_of_time = self.agree(config.max_minutes is not None and state.seconds > 60 * config.max_minutes)
                if self.rank == 0:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    if state.step % config.checkpoint_every == 0 or state.step == config.steps or out_of_time:
                        self.save("last.pt")
                if skipped_in_a_row >= MAX_SKIPPED_STEPS:  # logged above, so the log shows every skipped step
                    raise InputError(f"training diverged: the loss or its gradient was not finite in "
                                     f"{skipped_in_a_row} steps in a row (up to step {state.step}); the "
                                     "weights were left as they were: start a new run with a lower --lr", self.out)
                if out_of_time:
                    break
        except KeyboardInterrupt:  # Ctrl-C (or SIGTERM, raised as one by the command): keep every finished step
            if self.rank == 0 and state.step > 0:
                if not step_done:  # the step cut short is drawn again on resume, from the same random state
                    self.generator.set_state(random_state[0])
                    torch.set_rng_state(random_state[1])
                self.save("last.pt")
            raise
        finally:
            bar.close()
            if log:
                log.close()
        if self.rank == 0 and not (self.out / "best.pt").exists():
            self.save("best.pt")
        return state
