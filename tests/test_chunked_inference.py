"""The network's pairs, and adapted fields' pairs, run a few at a time (bounded memory for long sequences):
same fields as one batch."""
import torch

from deeptag.adapt import AdaptedFields
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


def test_adapted_fields_in_batches_equal_one_call_on_all_pairs():
    """Adapted fields (every pair of their sequence) give a batch of pairs at a time, as the network does."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=32)).eval()
    frames = torch.rand(8, 1, 32, 32)
    adapted = AdaptedFields(model, frames[:-1], frames[1:], 4)
    with torch.no_grad():
        adapted.correction.normal_(0.0, 1.0)  # motion that differs between pairs
    with torch.inference_mode():
        whole = adapted(frames[:-1], frames[1:])
        for size in (1, 3, 7):
            forward, backward, log_var = predict_pairs(adapted, frames, pairs_per_batch=size)
            torch.testing.assert_close(forward, whole.forward, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(backward, whole.backward, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(log_var, whole.log_var)
    assert float(whole.forward.abs().max()) > 0.5
