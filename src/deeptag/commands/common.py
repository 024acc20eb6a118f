"""Arguments and steps shared by several subcommands."""
from __future__ import annotations

import argparse

import torch

from ..checkpoint import load_model
from ..model import DeepTagNet
from ..preprocess import INTENSITY_MODES


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="a deeptag checkpoint, or official:PATH for the authors' published weights "
                             "(default: the model bundled with the package)")
    parser.add_argument("--intensity", choices=INTENSITY_MODES, default="auto",
                        help="intensity normalisation: 'median' divides each frame by twice its median "
                             "(section 4.1), 'none' keeps it, 'auto' (default) keeps frames already in "
                             "[0, 1] and normalises others")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")


def model_from_args(args: argparse.Namespace) -> tuple[DeepTagNet, str]:
    if args.threads:
        torch.set_num_threads(args.threads)
    return load_model(args.model)

