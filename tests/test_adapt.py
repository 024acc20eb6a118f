"""Test-time adaptation: Eq. 12 minimised on the sequence itself refines the network's fields."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeptag.adapt import (AdaptConfig, AdaptedFields, TissueLoss, adapt_model, backward_in_runs, gaussian_blur,
                           tissue_maps)
from deeptag.baselines.voxelmorph import track_network
from deeptag.losses import ABLATIONS, DeepTagLoss, LossConfig
from deeptag.io import Sequence
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.track import track_sequence

SIZE, SHIFT, FRAMES = 48, 0.7, 5


def shifted_tags() -> Sequence:
    """Tags moving right by SHIFT pixels per frame, fading towards the border (so the motion is local)."""
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    window = np.exp(-((rows - 23.5) ** 2 + (cols - 23.5) ** 2) / (2 * 12.0 ** 2))
    images = [0.2 + 0.6 * window * (0.5 + 0.5 * np.cos(2 * np.pi * (cols - SHIFT * t) / 8)) for t in range(FRAMES)]
    return Sequence(images=np.stack(images).astype(np.float32), source="shifted tags")


def centre_error(lagrangian: np.ndarray) -> float:
    """Mean error of the Lagrangian x displacement in the centre, where the tags are clear."""
    truth = -SHIFT * np.arange(1, FRAMES)[:, None, None]
    return float(np.abs(lagrangian[:, 1, 16:32, 16:32] - truth).mean() + np.abs(lagrangian[:, 0, 16:32, 16:32]).mean())


def test_adaptation_recovers_motion_an_untrained_network_misses():
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=SIZE)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sequence = shifted_tags()
    plain = track_sequence(sequence, model, adapt=None)
    adapted = track_sequence(sequence, model, adapt=AdaptConfig(steps=60, blurred_fraction=0.2))
    assert centre_error(adapted.lagrangian) < 0.25 * centre_error(plain.lagrangian)
    assert centre_error(adapted.lagrangian) < 0.3
    assert adapted.seconds["adapt"] > 0 and plain.seconds["adapt"] < adapted.seconds["adapt"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched


def test_reference_pairs_adapt_with_their_own_loss():
    """Ablation A1 registers frame 0 to every frame: its adapted fields are the Lagrangian fields."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=SIZE)).eval()
    sequence = shifted_tags()
    points = np.array([[24.0, 24.0]])
    plain = track_network(model, sequence.images, points, pairs="reference")
    adapted = track_network(model, sequence.images, points, pairs="reference",
                            adapt=AdaptConfig(steps=60, blurred_fraction=0.2, loss=ABLATIONS["A1"]))
    assert centre_error(adapted.lagrangian) < 0.7 * centre_error(plain.lagrangian)
    assert abs(adapted.tracks[1, 0, 0] - (24.0 + SHIFT)) < 0.1  # the pair (0, 1) is a small step
    with pytest.raises(ValueError, match="consecutive"):
        track_sequence(sequence, model, adapt=AdaptConfig(steps=1, loss=ABLATIONS["A1"]))


def test_adapted_fields_start_from_the_network_and_refuse_other_pairs():
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=32))
    frames = torch.rand(4, 1, 32, 32)
    # the spacing is given on a 96 grid: 6 there is a node every 2 pixels of this 32 grid
    adapted, record = adapt_model(model, frames, AdaptConfig(steps=0, control_spacing=6))
    assert record["steps"] == 0 and record["last_loss"] is None
    assert torch.allclose(adapted(frames[:-1], frames[1:]).velocity, model(frames[:-1], frames[1:], stochastic=False).velocity)
    assert isinstance(adapted, AdaptedFields) and adapted.correction.shape == (3, 2, 16, 16)
    with pytest.raises(ValueError, match="one sequence"):
        adapted(frames[:-2], frames[1:-1])


def test_coarse_level_is_the_same_motion_in_half_grid_pixels():
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=32))
    frames = torch.rand(3, 1, 32, 32)
    adapted, _ = adapt_model(model, frames, AdaptConfig(steps=0))
    with torch.no_grad():
        adapted.network_velocity.zero_()
        adapted.correction.fill_(0.8)  # a uniform velocity of 0.8 pixels of the 32 grid
    coarse = adapted(frames[:-1, :, ::2, ::2], frames[1:, :, ::2, ::2])
    assert coarse.forward.shape == (2, 2, 16, 16)
    assert torch.allclose(coarse.velocity, torch.full_like(coarse.velocity, 0.4))
    assert torch.allclose(coarse.log_var.exp(), torch.nn.functional.avg_pool2d(adapted.log_var.exp(), 2) / 4,
                          rtol=0.05)  # the standard deviation halves with the pixel size
    with pytest.raises(ValueError, match="one sequence"):
        adapted(frames[:-1, :, ::4, ::4], frames[1:, :, ::4, ::4])


def test_coarse_to_fine_adaptation_recovers_the_motion():
    """Most steps on the half grid, the last ones on the full grid: as close as all steps on the full grid."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=SIZE)).eval()
    sequence = shifted_tags()
    fine = track_sequence(sequence, model, adapt=AdaptConfig(steps=60, blurred_fraction=0.2, coarse_fraction=0))
    coarse = track_sequence(sequence, model, adapt=AdaptConfig(steps=60, blurred_fraction=0.2, coarse_fraction=0.7))
    assert centre_error(coarse.lagrangian) < 0.3
    assert centre_error(coarse.lagrangian) < centre_error(fine.lagrangian) + 0.1


def test_objective_scales_the_smoothness_and_sets_the_window_of_any_loss():
    loss = LossConfig(alpha1=3.0, alpha2=2.0, beta=0.25, pairs="reference")
    objective = AdaptConfig(smoothness_scale=0.4, ncc_window=7, loss=loss).objective()
    assert (objective.alpha1, objective.alpha2, objective.ncc_window) == pytest.approx((1.2, 0.8, 7))
    assert (objective.pairs, objective.beta) == ("reference", 0.25)
    assert AdaptConfig(smoothness_scale=1.0, ncc_window=None).objective() == AdaptConfig().loss


def test_blur_keeps_the_mean_and_removes_tags():
    cols = torch.arange(64, dtype=torch.float32)
    tags = (0.5 + 0.5 * torch.cos(2 * np.pi * cols / 4)).expand(1, 1, 64, 64).contiguous()
    blurred = gaussian_blur(tags, 2.0)
    assert torch.allclose(blurred[..., 16:48, 16:48].mean(), tags.mean(), atol=1e-3)
    assert blurred[..., 16:48, 16:48].std() < 0.01 * tags.std()


@pytest.mark.slow
def test_adapted_bundled_model_tracks_the_real_sequence_better_than_tv_l1():
    """The headline figure of the README: the bundled model with the default adaptation on the one real
    sequence (TV-L1 scores 2.04 px there, the published network 1.86 px, no motion 5.70 px)."""
    from conftest import REAL_SEQUENCE

    from deeptag.checkpoint import load_model
    from deeptag.io import read_sequence
    from deeptag.metrics import landmark_summary

    if not REAL_SEQUENCE.is_file():
        pytest.skip(f"real sequence not found at {REAL_SEQUENCE} (it is not part of the repository)")
    sequence = read_sequence(REAL_SEQUENCE)
    model, _ = load_model(None)
    result = track_sequence(sequence, model, sequence.landmarks[0], adapt=AdaptConfig())
    assert landmark_summary(result.tracks, sequence.landmarks)["mean_px"] < 1.9


def ring_regions(size: int) -> torch.Tensor:
    """A frame-0 myocardium ring and the cavity it encloses, (2, 1, S, S), as ``adapt_model`` takes them."""
    rows, cols = np.indices((size, size))
    radius = np.hypot(rows - (size - 1) / 2, cols - (size - 1) / 2)
    wall, cavity = (radius >= 0.25 * size) & (radius <= 0.4 * size), radius < 0.25 * size
    return torch.from_numpy(np.stack([wall, cavity])[:, None].astype(np.float32))


def moving_sequence(frames: int = 9, size: int = 32) -> tuple[AdaptedFields, torch.Tensor]:
    """Adapted fields of a fresh network on random frames, with a random correction, so that every pair
    moves and the Lagrangian fields (the global term) couple the pairs."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=size)).eval()
    images = torch.rand(frames, 1, size, size)
    adapted = AdaptedFields(model, images[:-1], images[1:], 4)
    with torch.no_grad():
        adapted.correction.normal_(0.0, 1.0)
    return adapted, images


@pytest.mark.parametrize("tissue", [False, True], ids=["eq12", "myocardium-aware"])
@pytest.mark.parametrize("coarse", [False, True], ids=["full-grid", "half-grid"])
@pytest.mark.parametrize("pairs_per_run", [2, 3])
def test_loss_and_gradients_in_runs_equal_all_pairs_at_once(pairs_per_run, coarse, tissue):
    """One adaptation step over runs of pairs (each but the last recomputed in the backward pass) against
    plain autograd through the whole sequence: same loss, same gradient of every pair's correction, the
    first pairs' included (they reach the last frames through the Lagrangian composition)."""
    adapted, frames = moving_sequence()
    config = AdaptConfig(pool_weight=0.5, pool_smoothness=0.1, incompressibility=1.0)
    loss = TissueLoss(config, tissue_maps(adapted, frames, ring_regions(32), margin=2)) if tissue \
        else DeepTagLoss(config.objective())
    images = F.interpolate(frames, size=(16, 16), mode="area") if coarse else frames

    whole, _ = loss(adapted, images)
    whole.backward()
    expected = adapted.correction.grad.clone()
    adapted.zero_grad(set_to_none=True)
    in_runs = backward_in_runs(loss, adapted, images, pairs_per_run)

    assert float(in_runs) == pytest.approx(float(whole.detach()), rel=1e-6)
    torch.testing.assert_close(adapted.correction.grad, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    assert float(expected[0].abs().max()) > 1e-3 * float(expected.abs().max())  # the first pair moves the loss


def test_a_step_keeps_one_run_of_pairs_for_its_backward_pass():
    """The tensors an adaptation step keeps for its backward pass are those of one run of pairs, the
    boundary fields and the parts: the same for a sequence twice as long (three times as many without runs)."""
    def saved_bytes(frames: int, pairs_per_run: int) -> int:
        adapted, images = moving_sequence(frames)
        storages: dict[int, int] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            backward_in_runs(DeepTagLoss(AdaptConfig().objective()), adapted, images, pairs_per_run)
        return sum(storages.values())

    short, long = saved_bytes(9, 4), saved_bytes(17, 4)  # runs of 4 pairs: 2 runs, then 4
    assert long < 1.1 * short
    assert saved_bytes(17, 100) > 1.8 * saved_bytes(9, 100)  # all pairs at once: it grows with the pairs


def test_adaptation_in_runs_ends_where_adaptation_of_all_pairs_at_once_does():
    """Both levels, blurred and sharp frames, with and without the myocardium: the same fields."""
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=32)).eval()
    frames = torch.rand(8, 1, 32, 32)
    config = AdaptConfig(steps=6, blurred_fraction=0.3, coarse_fraction=0.5)
    for regions in (None, ring_regions(32)):
        whole, record = adapt_model(model, frames, config, myocardium=regions, pairs_per_run=100)
        in_runs, record_in_runs = adapt_model(model, frames, config, myocardium=regions, pairs_per_run=3)
        assert record_in_runs["last_loss"] == pytest.approx(record["last_loss"], rel=1e-5)
        torch.testing.assert_close(in_runs.correction, whole.correction, rtol=1e-4, atol=1e-5)
        assert float(whole.correction.detach().abs().max()) > 0.1  # the steps moved the fields
