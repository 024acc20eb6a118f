"""The same model tracked by two versions of deeptag's code, side by side: what a code change moved.

Runs benchmarks/bundled_model.py once against the package as it was at REV (checked out in a temporary
git worktree) and once against the working tree, in turn on the same machine, and prints both figures
and their ratio (after / before) for every method and data set.

    python benchmarks/before_after.py REV [bundled_model.py options, e.g. --sequences 20 --no-baselines]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent


def figures(source: Path, options: list[str], label: str) -> dict:
    """bundled_model.py's mean figures with the package imported from ``source``."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(HERE)])}
        print(f"--- {label} ({source})", flush=True)
        subprocess.run([sys.executable, str(HERE / "bundled_model.py"), *options, "--json", str(out)],
                       env=env, check=True)
        return json.loads(out.read_text())


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    revision, options = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "before"
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "-q", str(tree), revision],
                       check=True)
        try:
            before = figures(tree / "src", options, f"before: {revision}")
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(tree)], check=True)
    after = figures(REPOSITORY / "src", options, "after: working tree")
    print(f"\nbefore = the code at {revision}, after = the working tree; same model, same sequences")
    for data, unit in (("simulated", "myocardium EPE, px"), ("real", "mean landmark distance, px")):
        for method, value in before[data].items():
            new = after[data].get(method)
            if new is not None:
                print(f"  {data} ({unit}) {method:>22}: before {value:.3f}, after {new:.3f}, "
                      f"ratio {new / value:.3f}")


if __name__ == "__main__":
    main()
