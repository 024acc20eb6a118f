"""The network's pairs run a few at a time (bounded memory for long sequences): same fields as one batch."""
import torch

from deeptag.model import DeepTagNet, ModelConfig
from deeptag.track import predict_fields, predict_pairs


def test_pairs_in_batches_equal_one_batch():
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=32)).eval()
    frames = torch.rand(8, 1, 32, 32)
    with torch.inference_mode():
        whole = predict_pairs(model, frames, pairs_per_batch=100)
        for size in (1, 3, 7):
            for a, b in zip(whole, predict_pairs(model, frames, pairs_per_batch=size)):
                assert a.shape[0] == 7
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        fields = predict_fields(model, frames)
    torch.testing.assert_close(fields["inf_forward"], whole[0], rtol=1e-5, atol=1e-6)
    assert fields["lagrangian"].shape == (7, 2, 32, 32)
