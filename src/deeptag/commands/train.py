"""``deeptag train``: unsupervised training on unlabelled sequences."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from ..checkpoint import BUNDLED_MODEL
from ..errors import InputError
from ..losses import ABLATIONS, VM_CONFIGS
from ..model import ModelConfig
from ..train import Trainer, TrainConfig
from . import QUIET_HELP
from .common import add_device_argument, device_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model on your own unlabelled sequences",
                                   description="Unsupervised training with the loss of Eq. 12. Runs unchanged "
                                               "under torchrun --nproc_per_node=K for several processes.")
    parser.add_argument("data", type=Path, nargs="+",
                        help="sequences in any format 'deeptag track' reads (a DICOM folder or file, NIfTI, .npz, "
                             "TIFF/GIF, a folder of PNG/JPEG frames), or folders of .npz sequences")
    parser.add_argument("--oversample", nargs=2, action="append", default=[], metavar=("FILE", "K"),
                        help="also train on this sequence, drawn K times as often as one of the others and "
                             "never held out for validation (e.g. your few real scans among many simulated; "
                             "default: none)")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, log.jsonl")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last.pt with its saved settings; --steps and "
                             "--max-minutes, when given, replace its budget (the minutes count the whole run)")
    parser.add_argument("--init", type=initial_weights,
                        help="start from the weights of this deeptag checkpoint, or 'bundled' for the model "
                             "shipped with deeptag (to fine-tune it on your own scans; default: random weights)")
    parser.add_argument("--steps", type=int, help=f"optimiser steps (default {defaults.steps})")
    parser.add_argument("--supervised-steps", type=int, default=0,
                        help="first fit the true fields of simulated sequences for this many steps (a warm start)")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate (paper: 5e-4)")
    parser.add_argument("--sequences-per-step", type=int, default=defaults.sequences_per_step,
                        help="sequences in each optimiser step")
    parser.add_argument("--crop", type=int, help="train on random square crops of this size (faster on a CPU; "
                                                 "default: the whole network grid)")
    parser.add_argument("--frames", type=int, default=defaults.frames,
                        help="frames of each sequence trained on: longer sequences are cut to this many, shorter "
                             "ones padded by repeating their last frame (paper: 25; give the longest sequence's "
                             "count to keep late diastole, e.g. 40 for simulate --variety wide)")
    parser.add_argument("--window", type=int, help="train on runs of this many consecutive frames "
                                                   "(default: all --frames frames)")
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every,
                        help="steps between validations (the best validation loss is saved as best.pt)")
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                        help="steps between checkpoints (last.pt)")
    parser.add_argument("--max-minutes", type=float,
                        help="stop (with a checkpoint) after this much training time (default: no time limit)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the data order, split and weights")
    parser.add_argument("--average", type=float, metavar="DECAY",
                        help="keep an exponential moving average of the weights with this decay (e.g. 0.999) "
                             "and save it as the model; steadier than the last step's weights (default: none)")
    parser.add_argument("--velocity-scale", type=float, default=ModelConfig().velocity_scale,
                        help="multiplier of the velocity head's output (larger: faster start)")
    parser.add_argument("--image-size", type=int, default=ModelConfig().image_size,
                        help="side of the square network grid the model trains and tracks on (paper: 192)")
    parser.add_argument("--loss", choices=sorted(ABLATIONS) + sorted(VM_CONFIGS), default="full",
                        help="the loss configuration: the paper's full model, an ablation A1-A6, or a "
                             "VoxelMorph baseline (its network configuration comes with it)")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's, one per core)")
    add_device_argument(parser)
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    device_from_args(args)
    check_run_folder(args.out, args.resume, args.data)
    import sys

    from ..outputs import terminate_as_interrupt

    created = not args.out.exists()
    try:
        with terminate_as_interrupt():  # SIGTERM saves a checkpoint as Ctrl-C does
            return train(args)
    except KeyboardInterrupt:
        if (args.out / "last.pt").exists():
            print(f"deeptag: checkpoint saved in {args.out / 'last.pt'}; --resume continues the run", file=sys.stderr)
        remove_failed_run(args.out, created)
        raise
    except BaseException:
        remove_failed_run(args.out, created)
        raise


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before anything is written, the settings with which training cannot work."""
    import math

    if args.average is not None and not 0 <= args.average < 1:
        raise InputError(f"--average is a decay between 0 and 1 (e.g. 0.999), got {args.average}")
    at_least = {"--steps": (args.steps, 1), "--supervised-steps": (args.supervised_steps, 0),
                "--sequences-per-step": (args.sequences_per_step, 1), "--window": (args.window, 2),
                "--frames": (args.frames, 2),
                "--validate-every": (args.validate_every, 1), "--checkpoint-every": (args.checkpoint_every, 1),
                "--seed": (args.seed, 0), "--threads": (args.threads, 1), "--crop": (args.crop, 16)}
    for option, (value, low) in at_least.items():
        if value is not None and value < low:
            raise InputError(f"{option} must be at least {low}, got {value}"
                             + (" (a pair of frames is the least the loss compares)" if option == "--window" else ""))
    if not (math.isfinite(args.lr) and args.lr >= 0):  # 0 keeps the weights, as a check of a pipeline
        raise InputError(f"--lr must be a learning rate >= 0, got {args.lr}")
    for option, value in (("--velocity-scale", args.velocity_scale), ("--max-minutes", args.max_minutes)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} must be a positive number, got {value}")
    if args.image_size < 16 or args.image_size % 16:
        raise InputError(f"--image-size must be a multiple of 16 (the network halves the grid four times), "
                         f"got {args.image_size}")
    if args.crop is not None and (args.crop % 16 or args.crop > args.image_size):
        raise InputError(f"--crop must be a multiple of 16 no larger than --image-size {args.image_size}, "
                         f"got {args.crop}")


def check_run_folder(out: Path, resume: bool, inputs: list[Path]) -> None:
    """``--out`` is a new (or empty) folder, or with ``--resume`` a run folder; never a file, the working
    or home folder, or a folder that holds an input or other files."""
    from ..outputs import protected_reason

    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder; give a new run folder", out)
    if resume or not out.exists() or not any(out.iterdir()):
        return
    reason = protected_reason(out, inputs)
    if reason:
        raise InputError(f"{reason}; give a new run folder", out)
    if not (out / "last.pt").exists():
        raise InputError("exists and holds files of no deeptag run; give a new run folder", out)


def remove_failed_run(out: Path, created: bool) -> None:
    """Remove the run folder that this run created when it failed before its first checkpoint (it
    would hold only a log); a folder with a checkpoint is kept so that the run can be resumed."""
    import shutil

    if created and out.is_dir() and not (out / "last.pt").exists():
        shutil.rmtree(out, ignore_errors=True)


def train(args: argparse.Namespace) -> int:
    """Train as the arguments say and print where the model is."""
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = TrainConfig().steps if args.steps is None else args.steps
    config = TrainConfig(steps=steps, supervised_steps=args.supervised_steps, learning_rate=args.lr,
                         sequences_per_step=args.sequences_per_step, frames=args.frames,
                         crop=args.crop, window=args.window, validate_every=args.validate_every,
                         checkpoint_every=args.checkpoint_every, max_minutes=args.max_minutes, seed=args.seed,
                         average=args.average)
    if args.loss in VM_CONFIGS:
        model_config, loss_config = VM_CONFIGS[args.loss]
        model_config = replace(model_config, velocity_scale=args.velocity_scale, image_size=args.image_size)
    else:
        model_config = ModelConfig(velocity_scale=args.velocity_scale, image_size=args.image_size)
        loss_config = ABLATIONS[args.loss]
    budget = {name: value for name, value in (("steps", args.steps), ("max_minutes", args.max_minutes))
              if value is not None} if args.resume else None
    trainer = Trainer(args.data + oversampled(args.oversample), args.out, config, model_config, loss_config,
                      init=args.init, resume=args.resume, budget=budget, device=args.device)
    state = trainer.run(progress=not args.quiet)
    if trainer.rank == 0:
        print(f"trained {state.step} steps in {state.seconds / 60:.1f} min; best validation loss "
              f"{state.best_validation:.4f}; model: {args.out / 'best.pt'}")
    return 0


def initial_weights(spec: str) -> Path:
    """``--init``: a checkpoint path, or ``bundled`` for the package's model."""
    return BUNDLED_MODEL if spec == "bundled" else Path(spec)


def oversampled(pairs: list[list[str]]) -> list[Path]:
    """The inputs of ``--oversample FILE K``: FILE K times (the trainer draws a file as often as it is
    listed, and holds none listed more than once out for validation)."""
    inputs: list[Path] = []
    for name, count in pairs:
        if not count.isdigit() or int(count) < 2:
            raise InputError(f"--oversample takes a file and a whole number of 2 or more, got {count!r}", Path(name))
        inputs.extend([Path(name)] * int(count))
    return inputs
