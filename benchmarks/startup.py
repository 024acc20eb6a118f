"""Whole-process cost of ``deeptag strain`` and ``deeptag report`` on a track result, with and without PyTorch.

Neither command needs a network (issue 26), so neither should pay for importing PyTorch. Each
configuration runs as its own process from nothing, timed from launch to exit; its CPU seconds (user +
system) come from that child's own resource usage (``os.wait4``), which a machine shared with other
work disturbs less than the wall time. Runs are interleaved, one repeat of each in turn; medians and
their ratios to the first source tree are printed, with whether PyTorch ended up imported.

Source trees compared (``--tree NAME=SRC``, any number, listed first; SRC goes first on ``PYTHONPATH``):
- ``checkout``: this checkout as installed (always);
- ``checkout + import torch``: the same with PyTorch imported first, what a PyTorch import costs these
  commands on this machine (always);
- e.g. ``--tree before=/tmp/old/src`` after ``git archive REV src | tar -x -C /tmp/old``.

    python benchmarks/startup.py [--result DIR] [--repeats 5] [--tree NAME=SRC ...]

Without ``--result`` a result folder is made first with ``deeptag track --example --adapt 0``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs deeptag's main() in this process and says on stderr whether PyTorch was imported.
PROBE = """
import json, sys
{preload}
from deeptag.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"torch": "torch" in sys.modules, "deeptag": __import__("deeptag").__file__}}), file=sys.stderr)
sys.exit(code)
"""


def run_process(command: list[str], env: dict) -> dict:
    """Wall and CPU seconds of one child process from launch to exit, and its probe's last stderr line."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, **json.loads(stderr.strip().splitlines()[-1])}


def make_result(folder: Path) -> None:
    """A result folder of the simulated example tracked by the network alone (bundled model)."""
    subprocess.run([sys.executable, "-m", "deeptag", "track", "--example", "--adapt", "0", "--out", str(folder),
                    "--force", "--quiet"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path, help="a 'deeptag track' result folder of a short-axis slice "
                                                    "(default: the simulated example, tracked first)")
    parser.add_argument("--lv", default="96,96,20,32", help="the ring given to strain and report (default: "
                                                             "the example's LV, 96,96,20,32)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each process (median; default 5)")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=SRC",
                        help="another source tree to compare, e.g. before=/tmp/old/src")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    trees = {}
    for item in args.tree:
        name, _, src = item.partition("=")
        trees[name] = (str(Path(src).resolve()), "")
    trees |= {"checkout": (None, ""), "checkout + import torch": (None, "import torch")}
    with tempfile.TemporaryDirectory(prefix="deeptag_startup_") as tmp:
        result = Path(tmp) / "result"
        if args.result:
            shutil.copytree(args.result, result)
        else:
            make_result(result)
        commands = {
            "strain RESULT --lv": ["strain", str(result), "--lv", args.lv, "--force", "--quiet"],
            "report RESULT": ["report", str(result), "--force"],
            "report RESULT --lv": ["report", str(result), "--lv", args.lv, "--force"],
        }
        runs = {(c, t): [] for c in commands for t in trees}
        for _ in range(args.repeats):
            for command, argv in commands.items():
                for tree, (src, preload) in trees.items():
                    env = dict(os.environ)
                    if src:
                        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
                    done = run_process([sys.executable, "-c", PROBE.format(preload=preload), *argv], env)
                    if src and not done["deeptag"].startswith(src):
                        raise RuntimeError(f"tree {tree}: deeptag was imported from {done['deeptag']}, not {src}")
                    runs[command, tree].append(done)
    print(f"whole process, median of {args.repeats}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at the end; ratios to the first tree ('{next(iter(trees))}')")
    print(f"{'command':<22}{'tree':<28}{'wall s':>8}{'x':>7}{'CPU s':>8}{'x':>7}  torch imported")
    rows = []
    for command in commands:
        base = {key: statistics.median(r[key] for r in runs[command, next(iter(trees))]) for key in ("wall", "cpu")}
        for tree in trees:
            done = runs[command, tree]
            wall, cpu = (statistics.median(r[key] for r in done) for key in ("wall", "cpu"))
            torch_imported = sorted({r["torch"] for r in done})
            rows.append({"command": command, "tree": tree, "wall_s": wall, "cpu_s": cpu, "wall_ratio": wall / base["wall"],
                         "cpu_ratio": cpu / base["cpu"], "torch_imported": torch_imported,
                         "wall_all": [r["wall"] for r in done], "cpu_all": [r["cpu"] for r in done]})
            print(f"{command:<22}{tree:<28}{wall:8.2f}{wall / base['wall']:7.2f}{cpu:8.2f}{cpu / base['cpu']:7.2f}"
                  f"  {'/'.join(map(str, torch_imported))}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
