"""The network, its deterministic inference, and the model loader."""
import pytest
import torch

from deeptag.checkpoint import load_model, save_checkpoint
from deeptag.errors import InputError
from deeptag.model import DeepTagNet, ModelConfig

from conftest import OFFICIAL_WEIGHTS, needs_real_data


def test_shapes_and_bidirectional_fields(random_model):
    def smooth_images():  # smooth inputs give the smooth velocities of real pairs
        return torch.nn.functional.interpolate(torch.rand(3, 1, 8, 8), size=(64, 64), mode="bicubic", align_corners=True)

    x, y = smooth_images(), smooth_images()
    out = random_model(x, y)
    for name in ("mean", "log_var", "velocity", "forward", "backward"):
        assert getattr(out, name).shape == (3, 2, 64, 64)
    # the backward field is the inverse of the forward one: their composition is close to zero
    from deeptag.fields import compose
    assert compose(out.backward, out.forward)[..., 8:-8, 8:-8].abs().max() < 0.05 * out.forward.abs().max() + 1e-3


def test_channels_last_weights_give_the_contiguous_layouts_fields():
    """The convolutions run channels-last (faster on a CPU); the fields come out in the usual layout and
    equal, to rounding, those of the same weights in the contiguous layout, in value and gradient."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=64))
    convolutions = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convolutions)
    x, y = torch.rand(3, 1, 64, 64), torch.rand(3, 1, 64, 64)
    results = []
    for layout in (torch.channels_last, torch.contiguous_format):
        model.to(memory_format=layout)
        model.zero_grad()
        out = model(x, y, stochastic=False)
        assert all(getattr(out, name).is_contiguous() for name in ("mean", "log_var", "forward", "backward"))
        (out.forward.square().mean() + out.log_var.mean()).backward()
        results.append((out.forward.detach(), [p.grad.clone() for p in model.parameters()]))
    (fast, fast_grads), (usual, usual_grads) = results
    assert torch.allclose(fast, usual, atol=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(fast_grads, usual_grads))


def test_inference_is_deterministic_and_training_samples(random_model):
    x, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    assert torch.equal(random_model(x, y).velocity, random_model(x, y).velocity)
    assert torch.equal(random_model(x, y).velocity, random_model(x, y).mean)
    random_model.train()
    with torch.no_grad():
        random_model.flow_log_sigma.bias.fill_(0.0)
    assert not torch.equal(random_model(x, y).velocity, random_model(x, y).velocity)


def test_a_fresh_network_passes_its_input_through_to_the_heads():
    """The U-Net's last features must depend on the input at a usable scale, or training plateaus
    (PyTorch's default initialisation gave a per-pixel standard deviation of about 0.005 here)."""
    torch.manual_seed(0)
    network = DeepTagNet()
    pair = torch.rand(1, 2, 96, 96)
    features = network.unet_model(pair)
    assert features.std(dim=(2, 3)).min() > 0.05
    other = network.unet_model(torch.rand(1, 2, 96, 96))
    assert (features - other).abs().mean() > 0.05


def test_uniform_noise_model_uses_its_expected_latent():
    model = DeepTagNet(ModelConfig(noise="uniform")).eval()
    x, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    out = model(x, y)
    assert torch.allclose(out.velocity, out.mean + 0.5 * torch.exp(0.5 * out.log_var))


def test_checkpoint_round_trip_keeps_weights_and_config(tmp_path, random_model):
    random_model.config.velocity_scale = 4.0
    path = tmp_path / "m.pt"
    save_checkpoint(path, random_model, step=7)
    loaded, name = load_model(path)
    assert loaded.config.velocity_scale == 4.0 and "checkpoint" in name
    x, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    assert torch.equal(loaded(x, y).forward, random_model(x, y).forward)


def test_loader_refuses_pickled_code_and_other_files(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "deeptag-checkpoint-v1", "payload": Evil()}, evil)
    with pytest.raises(InputError, match="evil.pt"):
        load_model(evil)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a readable"):
        load_model(text)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.pt")
    state_only = tmp_path / "state.pt"
    torch.save(DeepTagNet().state_dict(), state_only)
    with pytest.raises(InputError, match="official:"):
        load_model(state_only)


@needs_real_data()
def test_published_weights_load_into_the_project_network():
    model, name = load_model(f"official:{OFFICIAL_WEIGHTS}")
    assert "official" in name and model.config.noise == "uniform" and not model.training
