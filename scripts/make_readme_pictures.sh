#!/usr/bin/env bash
# The pictures in the README: the shipped simulated example tracked with the bundled model (adapted to
# it for ADAPT steps), its report, and one still of each picture copied into docs/images/.
# Usage: scripts/make_readme_pictures.sh [ADAPT]   (run from the repository root, deeptag installed)
set -euo pipefail
adapt=${1:-150}
work=$(mktemp -d)
ring=$(python -c "
import json, numpy as np
from deeptag.phantom import example_path
d = np.load(example_path()); g = json.loads(str(d['params_json']))['geometry']
cx, cy = d['lv_centre']; print(f\"{cx:.1f},{cy:.1f},{g['endo_radius']:.1f},{g['endo_radius'] + g['wall_thickness']:.1f}\")")
deeptag track --example --adapt "$adapt" --report --lv "$ring" --out "$work/demo"
mkdir -p docs/images
frame=$(python -c "
import json; s = json.load(open('$work/demo/summary.json')); print(f\"{(s['frames'] * 3) // 10:03d}\")")
for name in tag_grid landmarks motion_quiver lagrangian_maps registration uncertainty; do
  cp "$work/demo/pictures/${name}_${frame}.png" "docs/images/${name}.png"
done
for name in strain_curves bullseye segments; do
  cp "$work/demo/pictures/${name}.png" "docs/images/${name}.png"
done
python -c "
import json; s = json.load(open('$work/demo/summary.json')); print('model:', s['model'], '| frame shown: $frame')"
rm -rf "$work"
