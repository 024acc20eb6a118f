"""Copy a training checkpoint into the package as the bundled default model (src/deeptag/models/default.pt).

Keeps the weights, the configurations and how it was trained; drops the optimiser state, so the file
stays small.   Usage: python scripts/bundle_checkpoint.py RUN/best.pt
"""
import sys

from deeptag.checkpoint import BUNDLED_MODEL, read_checkpoint, save_checkpoint
from deeptag.model import DeepTagNet, ModelConfig

saved = read_checkpoint(sys.argv[1])
model = DeepTagNet(ModelConfig(**saved["model_config"]))
model.load_state_dict(saved["state_dict"])
BUNDLED_MODEL.parent.mkdir(exist_ok=True)
save_checkpoint(BUNDLED_MODEL, model, train_config=saved["train_config"], loss_config=saved["loss_config"],
                train_state=saved["train_state"])
print(f"bundled model: {BUNDLED_MODEL} ({BUNDLED_MODEL.stat().st_size / 1e6:.2f} MB), "
      f"step {saved['train_state']['step']}, validation loss {saved['train_state']['best_validation']:.4f}")
