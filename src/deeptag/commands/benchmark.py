"""``deeptag benchmark``: the paper's Tables 1 and 2 and Figures 8 and 10 on the user's sequences."""
from __future__ import annotations

import argparse
import functools
from dataclasses import asdict
from pathlib import Path

import torch

from .. import __version__
from ..adapt import AdaptConfig
from ..baselines import BASELINES
from ..baselines.voxelmorph import track_network
from ..benchmark import (METHODS, Case, Method, device_description, length_unit, load_case, markdown_table,
                         phase_curves, run_benchmark, summary_rows, train_method, write_curves_csv,
                         whole_frame, write_rows_csv, write_runs_csv)
from ..benchmark_plots import plot_phase_curves
from ..checkpoint import OFFICIAL_PREFIX, load_model, read_checkpoint
from ..errors import InputError
from ..losses import LossConfig
from ..model import ModelConfig
from ..outputs import result_directory, write_json
from ..preprocess import INTENSITY_MODES
from ..train import TrainConfig, expand_inputs
from . import QUIET_HELP
from .common import add_device_argument, device_from_args

GROUPS = {"all": list(METHODS), "table1": [n for n, m in METHODS.items() if m.table == 1],
          "table2": [n for n, m in METHODS.items() if m.table == 2]}
TABLES = {1: ("table1", "figure8", "Table 1: motion tracking against the baselines",
              "Figure 8: RMS error across the cardiac cycle"),
          2: ("table2", "figure10", "Table 2: ablation study",
              "Figure 10: RMS error across the cardiac cycle, ablations")}


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "benchmark", help="the paper's Tables 1 and 2 and Figures 8 and 10 on your sequences",
        description="Run HARP, TV-L1 optical flow, the VoxelMorph baselines, DeepTag and its ablations on "
                    "the same sequences with landmarks, side by side in one process, and write the tables "
                    "(Markdown and CSV) and the per-phase figures (PNG). Networks without a checkpoint "
                    "(--models) are trained first on --train-data under one budget.")
    parser.add_argument("data", type=Path, nargs="+", help="sequences with 'landmarks', or folders of .npz sequences")
    parser.add_argument("--methods", nargs="+", default=["all"], metavar="NAME",
                        choices=list(METHODS) + list(GROUPS),
                        help="methods to run: " + ", ".join(METHODS) + "; or the groups table1, table2, all "
                             "(default: all)")
    parser.add_argument("--models", nargs="+", default=[], metavar="NAME=CHECKPOINT",
                        help="trained networks to use instead of training them, e.g. A1=runs/a1/best.pt; "
                             f"deeptag=CHECKPOINT or deeptag={OFFICIAL_PREFIX}PATH for the DeepTag row "
                             "(default: the model bundled with the package)")
    parser.add_argument("--train-data", type=Path, nargs="+",
                        help="sequences (or folders) to train the networks that have no --models entry "
                             "(default: none; then every network needs one)")
    parser.add_argument("--train-out", type=Path,
                        help="keep the networks trained here in this folder, one run folder per method, and "
                             "resume the runs found there (default: models/ inside the result folder)")
    parser.add_argument("--train-steps", type=int, default=defaults.steps, help="training steps of every network")
    parser.add_argument("--crop", type=int, help="train on random square crops of this size (faster on a CPU; "
                                                 "default: the whole network grid)")
    parser.add_argument("--window", type=int, help="train on runs of this many consecutive frames "
                                                   "(default: the whole sequence, padded to 25 frames)")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate (paper: 5e-4)")
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every,
                        help="steps between validations of the networks trained here")
    parser.add_argument("--train-seed", type=int, default=defaults.seed, help="seed of the training runs")
    parser.add_argument("--velocity-scale", type=float, default=1.0,
                        help="multiplier of the velocity head of every network trained here")
    parser.add_argument("--image-size", type=int, default=ModelConfig().image_size,
                        help="network grid of the networks trained here (paper and bundled model: 192)")
    parser.add_argument("--adapt", type=int, default=0, metavar="STEPS",
                        help="refine every network's fields on each sequence with STEPS steps of that "
                             "network's own loss before tracking (test-time adaptation, as track --adapt; "
                             "timed as part of the method)")
    parser.add_argument("--phase-bins", type=int, default=10, help="bins of the cardiac cycle in the figures")
    add_device_argument(parser)
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's, one per core)")
    parser.add_argument("--intensity", choices=INTENSITY_MODES, default=None,
                        help="intensity normalisation of the networks' input (as in deeptag track; default: each "
                             "model's own)")
    parser.add_argument("--out", type=Path, required=True, help="result folder (must not exist, unless --force)")
    parser.add_argument("--force", action="store_true", help="replace an existing result folder")
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    parser.set_defaults(run=run)


def selected_methods(names: list[str]) -> list[str]:
    """The methods named (groups expanded), in the tables' order."""
    chosen = {method for name in names for method in GROUPS.get(name, [name])}
    return [name for name in METHODS if name in chosen]


def parse_models(entries: list[str], methods: list[str]) -> dict[str, str]:
    """``NAME=CHECKPOINT`` entries as a dict; each NAME must be a selected network."""
    models = {}
    for entry in entries:
        name, separator, spec = entry.partition("=")
        if not separator or not spec:
            raise InputError(f"--models takes NAME=CHECKPOINT, got '{entry}'")
        if name not in METHODS or not METHODS[name].learned:
            raise InputError(f"--models: '{name}' is not a network; networks: "
                             + ", ".join(n for n, m in METHODS.items() if m.learned))
        if name not in methods:
            raise InputError(f"--models gives a checkpoint for '{name}', which --methods does not select")
        models[name] = spec
    return models


def check_training_needs(methods: list[str], models: dict[str, str], train_data: list[Path] | None) -> list[str]:
    """The networks to train; refuses a selection that cannot run."""
    to_train = [n for n in methods if METHODS[n].configs is not None and n not in models]
    if to_train and not train_data:
        raise InputError("no checkpoint for " + ", ".join(to_train) + ": pass --models NAME=CHECKPOINT for each, "
                         "or --train-data FOLDER to train them here")
    return to_train


def load_deeptag(models: dict[str, str]) -> tuple[torch.nn.Module, str]:
    """The model of the DeepTag row: the given checkpoint, else the bundled one."""
    try:
        return load_model(models.get("deeptag"))
    except InputError as error:
        if "deeptag" in models:
            raise
        raise InputError(f"the DeepTag row needs a model and {error.problem.split(';')[0]}: pass "
                         f"--models deeptag=CHECKPOINT (or deeptag={OFFICIAL_PREFIX}PATH for the authors' "
                         "weights)", error.path) from None


def stored_loss_config(spec: str) -> dict | None:
    """The loss configuration saved with a project checkpoint (None for the authors' weights)."""
    return None if spec.startswith(OFFICIAL_PREFIX) else read_checkpoint(spec).get("loss_config")


def network_tracker(method: Method, model: torch.nn.Module, intensity: str | None, device: torch.device,
                    adapt_steps: int = 0):
    """``track_network`` for ``method``; with ``adapt_steps``, each sequence's fields are first refined
    with the method's own loss (the paper's Eq. 12 for the DeepTag row)."""
    loss = method.configs[1] if method.configs else LossConfig()
    adapt = AdaptConfig(steps=adapt_steps, loss=loss) if adapt_steps else None
    return functools.partial(track_network, model, pairs=method.pairs, intensity=intensity, device=device,
                             adapt=adapt)


def write_tables(folder: Path, runs, methods: list[str], bins: int, unit: str) -> list[str]:
    """Tables (Markdown, CSV) and figures (PNG, with their data as CSV) for each table that has rows;
    returns the Markdown of the tables written."""
    texts = []
    for table, (table_name, figure_name, title, figure_title) in TABLES.items():
        names = [n for n in methods if METHODS[n].table == table]
        rows = summary_rows(runs, names)
        if not rows:
            continue
        text = markdown_table(rows, title)
        (folder / f"{table_name}.md").write_text(text, encoding="utf-8")
        write_rows_csv(folder / f"{table_name}.csv", rows)
        curves = phase_curves(runs, names, bins)
        write_curves_csv(folder / f"{figure_name}.csv", curves, bins)
        plot_phase_curves(folder / f"{figure_name}.png", curves, {n: METHODS[n].label for n in names}, unit,
                          figure_title)
        texts.append(text)
    return texts


def load_networks(names: list[str], models: dict[str, str]) -> tuple[dict, dict[str, dict]]:
    """The networks ``names`` from their checkpoints (``models``; the DeepTag row may use the bundled
    model), and where each came from, with the loss configuration stored in its checkpoint."""
    networks, sources = {}, {}
    for name in names:
        networks[name], description = load_deeptag(models) if name == "deeptag" else load_model(models[name])
        sources[name] = {"model": description}
        if name in models:
            sources[name]["checkpoint_loss_config"] = stored_loss_config(models[name])
    return networks, sources


def method_record(name: str, source: dict) -> dict:
    """What ``benchmark.json`` says about one method."""
    method = METHODS[name]
    record = {"label": method.label, "table": method.table, "pairs": method.pairs, **source}
    if method.configs:
        record.update(model_config=asdict(method.configs[0]), loss_config=asdict(method.configs[1]))
    return record


def run(args: argparse.Namespace) -> int:
    device = device_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.adapt < 0:
        raise InputError(f"--adapt must be a number of steps >= 0, got {args.adapt}")
    if args.phase_bins < 1:
        raise InputError(f"--phase-bins must be at least 1, got {args.phase_bins}")
    methods = selected_methods(args.methods)
    models = parse_models(args.models, methods)
    to_train = check_training_needs(methods, models, args.train_data)
    train_inputs = expand_inputs(args.train_data) if to_train else []
    cases: list[Case] = [load_case(path) for path in expand_inputs(args.data)]
    say = (lambda text: None) if args.quiet else print
    # checkpoints given are read before any training, so that a wrong path fails at once
    networks, sources = load_networks([n for n in methods if METHODS[n].learned and n not in to_train], models)
    train_config = TrainConfig(steps=args.train_steps, learning_rate=args.lr, crop=args.crop, window=args.window,
                               validate_every=args.validate_every, seed=args.train_seed)
    protect = [*args.data, *(args.train_data or []), *([args.train_out] if args.train_out else [])]
    with result_directory(args.out, args.force, protect) as folder:
        for name in to_train:
            say(f"training {name} ({args.train_steps} steps)")
            run_folder = (args.train_out or folder / "models") / name
            models[name] = str(train_method(METHODS[name], train_inputs, run_folder, train_config,
                                            args.velocity_scale, progress=not args.quiet,
                                            image_size=args.image_size, device=device))
            trained, trained_source = load_networks([name], models)
            networks.update(trained)
            shown = str(run_folder / "best.pt") if args.train_out else f"models/{name}/best.pt"
            sources[name] = {"trained_here": shown, **trained_source[name]}
        trackers = {name: network_tracker(METHODS[name], networks[name], args.intensity, device, args.adapt)
                    if name in networks else whole_frame(BASELINES[name]) for name in methods}
        synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        runs = run_benchmark(trackers, cases, progress=say, synchronize=synchronize)
        unit = length_unit(cases)
        texts = write_tables(folder, runs, methods, args.phase_bins, unit)
        write_runs_csv(folder / "per_sequence.csv", runs)
        device_text = device_description(device)
        write_json(folder / "benchmark.json", {
            "deeptag_version": __version__, "device": device_text, "unit": unit,
            "sequences": [str(case.sequence.source) for case in cases], "phase_bins": args.phase_bins,
            "methods": {name: method_record(name, sources.get(name, {})) for name in methods},
            "adapt_steps": args.adapt,
            "train_config": {**asdict(train_config), "velocity_scale": args.velocity_scale,
                             "image_size": args.image_size} if to_train else None,
            "train_data": [str(p) for p in train_inputs]})
    print("\n".join(texts))
    print(f"timings: {device_text}")
    print(f"results: {args.out}")
    return 0
