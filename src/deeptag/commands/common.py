"""Arguments and steps shared by several subcommands."""
from __future__ import annotations

import argparse
import platform
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from ..adapt import AdaptConfig
from ..checkpoint import load_model
from ..errors import InputError
from ..model import DeepTagNet
from ..preprocess import INTENSITY_MODES
from ..threads import default_threads


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="a deeptag checkpoint, or official:PATH for the authors' published weights "
                             "(default: the model bundled with the package)")
    parser.add_argument("--intensity", choices=INTENSITY_MODES, default=None,
                        help="intensity normalisation (default: the one the model was trained with, 'sequence' for "
                             "the bundled model and the published weights): 'sequence' divides the whole sequence "
                             "so that its brightest 1.5 %% of pixels saturate, 'median' divides each frame by twice "
                             "its median (section 4.1), 'none' keeps frames that are in [0, 1] already")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (default: the cores that other processes are not busy on when "
                             "the command starts, at least 1; PyTorch's own default of one per core runs several "
                             "times slower when another process holds a core)")
    add_device_argument(parser)


DEVICE_HELP = ("where the networks run: cpu, cuda (the first GPU; each process's own under torchrun) or cuda:K "
               "(GPU K); a GPU adapts a 192-grid sequence in seconds instead of minutes")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device``, the same on every command that runs a network; ``device_from_args`` checks it."""
    parser.add_argument("--device", default="cpu", help=DEVICE_HELP)


def device_from_args(args: argparse.Namespace) -> torch.device:
    """The ``--device`` asked for, checked before anything is written: one that this PyTorch cannot use
    is an input error, not a crash halfway through the output."""
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device: '{args.device}' is not a device (cpu, cuda, cuda:K)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {args.device}: this PyTorch sees no CUDA GPU (torch {torch.__version__})")
        if device.index is not None and device.index >= count:
            raise InputError(f"--device {args.device}: there are {count} CUDA GPU(s), numbered from 0")
    elif device.type != "cpu":
        raise InputError(f"--device {args.device}: only cpu and cuda are supported")
    return device


def device_description(device: torch.device) -> str:
    """What results record about where they were computed."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def model_from_args(args: argparse.Namespace) -> tuple[DeepTagNet, str]:
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be a number of CPU threads >= 1, got {args.threads}")
    if getattr(args, "device", "cpu") == "cpu" or args.threads:  # a GPU run keeps PyTorch's default for its little CPU work
        torch.set_num_threads(args.threads or default_threads())
    return load_model(model_spec(args.model))


def model_spec(spec: str | None) -> str | None:
    """``--model`` as ``load_model`` takes it: 'bundled' is the package's model (as for train --init);
    ``official:`` must name a file of the authors' weights, not a deeptag checkpoint."""
    from ..checkpoint import OFFICIAL_PREFIX, read_checkpoint

    if spec is None or spec == "bundled":
        return None
    if spec.startswith(OFFICIAL_PREFIX):
        path = spec[len(OFFICIAL_PREFIX):]
        if not path:
            raise InputError(f"--model {OFFICIAL_PREFIX} needs the path of the authors' weights, "
                             f"e.g. {OFFICIAL_PREFIX}deeptag_official_weights.pth")
        try:
            read_checkpoint(path)
        except InputError:
            return spec  # not a deeptag checkpoint: load_official checks it
        raise InputError(f"is a deeptag checkpoint, not the authors' weights; pass --model {path}", path)
    return spec


def add_adapt_argument(parser: argparse.ArgumentParser) -> None:
    """``--adapt STEPS``: test-time adaptation, on by default (the bundled network alone misreads line
    tags and is coarser on the real sequence: docs/results/index.md); ``--adapt 0`` runs the network
    alone (the paper's method)."""
    steps = AdaptConfig().steps
    parser.add_argument("--adapt", type=str, nargs="?", const=steps, default=steps, metavar="STEPS",
                        help="refine the network's fields on this sequence with STEPS steps of the unsupervised "
                             f"loss first (test-time adaptation; default {steps}, under a minute for 20 frames "
                             "on the bundled model's 192 grid, 2-core CPU); 0: the network alone, as in the paper")


def adapt_from_args(args: argparse.Namespace) -> AdaptConfig | None:
    """The adaptation ``--adapt`` asks for; None for 0 steps. A bare ``--adapt`` just before the input
    (argparse hands it the input: ``track --adapt scan.npz``) means the default steps on that input."""
    from pathlib import Path

    steps = args.adapt
    if isinstance(steps, str):
        try:
            steps = int(steps)
        except ValueError:
            if getattr(args, "sequence", False) is not None:
                raise InputError(f"--adapt takes a number of steps, got '{steps}'") from None
            args.sequence, steps = Path(steps), AdaptConfig().steps
    if steps < 0:
        raise InputError(f"--adapt must be a number of steps >= 0, got {steps}")
    return AdaptConfig(steps=steps) if steps else None


@contextmanager
def adaptation_progress(adapt: AdaptConfig | None, quiet: bool, label: str = "adapting"
                        ) -> Iterator[Callable[[int], object] | None]:
    """A bar on stderr over the adaptation's steps (steps done, rate, time left), its ``update`` given
    to ``track_sequence``; None (no bar) without adaptation, with ``--quiet``, or when stderr is not a
    terminal."""
    if adapt is None or quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=adapt.steps, desc=label, unit="step", file=sys.stderr, leave=False) as bar:
        yield bar.update


def describe_model(model_name: str, adapt: AdaptConfig | None) -> str:
    """The model's name as results record it, saying whether and how long it was adapted."""
    return model_name + (f", adapted to the sequence for {adapt.steps} steps" if adapt else "")
