"""The loss of Eq. 12 and its parts."""
import math

import numpy as np
import pytest
import torch

from deeptag import fields
from deeptag.losses import (ABLATIONS, DeepTagLoss, LossConfig, box_sums, gradient_smoothness,
                            kl_laplacian_prior, local_ncc)
from deeptag.model import DeepTagNet


def test_ncc_matches_monai_local_ncc():
    monai_losses = pytest.importorskip("monai.losses")
    torch.manual_seed(0)
    a, b = torch.rand(2, 1, 40, 36), torch.rand(2, 1, 40, 36)
    b = 0.6 * a + 0.4 * b
    reference = monai_losses.LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=9, kernel_type="rectangular")
    assert math.isclose(float(local_ncc(a, b)), -float(reference(a, b)), rel_tol=1e-4)


@pytest.mark.parametrize("window", [3, 9])
def test_box_sums_are_the_sums_over_the_zero_padded_window(window):
    channels = torch.rand(2, 3, 20, 17, dtype=torch.float64)
    direct = torch.nn.functional.avg_pool2d(channels, window, stride=1, padding=window // 2,
                                            count_include_pad=True) * window ** 2
    assert torch.allclose(box_sums(channels, window), direct, atol=1e-10)
    assert float(box_sums(channels, window)[0, 1, 10, 8]) == pytest.approx(
        float(channels[0, 1, 10 - window // 2:11 + window // 2, 8 - window // 2:9 + window // 2].sum()))


def test_ncc_is_one_for_linearly_related_images_and_lower_otherwise():
    torch.manual_seed(1)
    a = torch.rand(1, 1, 32, 32)
    assert float(local_ncc(a, 3.0 * a)) > 0.999
    assert float(local_ncc(a, torch.rand(1, 1, 32, 32))) < 0.3


def test_smoothness_of_a_linear_field():
    grid = fields.identity_grid(10, 10)
    field = torch.stack([0.3 * grid[:, 0], 0.0 * grid[:, 1]], dim=1)  # d(dy)/drow = 0.3
    # mean over the two channels of each difference: channel 0 along rows has 0.09, the rest 0
    assert math.isclose(float(gradient_smoothness(field)), 0.5 * (0.09 / 2), rel_tol=1e-5)
    assert float(gradient_smoothness(torch.ones(1, 2, 8, 8))) == 0.0


def frames_with_motion(n=4, size=32):
    rows, cols = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    shifted = [0.5 + 0.5 * torch.cos(2 * math.pi * (cols - 0.7 * t) / 6) * torch.cos(2 * math.pi * rows / 6) for t in range(n)]
    return torch.stack(shifted)[:, None]


def test_full_loss_has_every_term_and_gradients_reach_the_network():
    torch.manual_seed(3)
    model = DeepTagNet().train()
    loss, terms = DeepTagLoss()(model, frames_with_motion())
    assert set(terms) == {"kl", "sim_forward", "sim_backward", "smooth_inf", "smooth_lagrangian", "global"}
    assert math.isclose(float(loss.detach()), sum(terms.values()), rel_tol=1e-5)
    loss.backward()
    assert float(model.unet_model.enc[0].main.weight.grad.abs().sum()) > 0


def test_global_term_uses_the_lagrangian_fields():
    """With the true motion in the fields, the global term is lower than with no motion."""
    frames = frames_with_motion(n=3, size=48)
    loss = DeepTagLoss(LossConfig(beta=1.0))
    shift = torch.zeros(2, 2, 48, 48)
    shift[:, 1] = -0.7  # frame t(p - 0.7 in x) = frame t+1(p)
    lagrangian = loss.lagrangian(shift)
    assert torch.allclose(lagrangian[1, 1, 10:-10, 10:-10], torch.full((28, 28), -1.4), atol=1e-4)
    moved = loss.similarity(fields.warp(frames[[0, 0]], lagrangian), frames[1:])
    still = loss.similarity(frames[[0, 0]], frames[1:])
    assert float(moved) < float(still)


def test_every_ablation_is_a_configuration_that_runs():
    torch.manual_seed(4)
    model = DeepTagNet().train()
    frames = frames_with_motion(n=9, size=32)
    seen = {}
    for name, config in ABLATIONS.items():
        loss, terms = DeepTagLoss(config)(model, frames)
        assert torch.isfinite(loss)
        seen[name] = set(terms)
    assert "sim_backward" not in seen["A2"] and "sim_backward" in seen["A3"]
    assert "smooth_inf" in seen["A4"] and "global" not in seen["A4"]
    assert "global" in seen["A5"] and "global" in seen["A6"] and "smooth_lagrangian" not in seen["A6"]
    assert seen["full"] == {"kl", "sim_forward", "sim_backward", "smooth_inf", "smooth_lagrangian", "global"}


def test_window_starts_of_the_four_frame_constraint():
    loss = DeepTagLoss(ABLATIONS["A5"])
    assert loss.window_starts(10).tolist() == [0, 0, 0, 0, 4, 4, 4, 4, 8]
    assert DeepTagLoss().window_starts(4).tolist() == [0, 0, 0]


# --- Every weight of Eq. 12, measured against terms computed by hand -------------------------------
# The paper's weights (section 4.4) and those of the ablations (section 4.5.2) and VoxelMorph baselines,
# written out here independently of the configurations in deeptag.losses.
PAPER = dict(pairs="consecutive", kl=True, sim="ncc", gamma=-0.5, backward=True, alpha1=5.0, alpha2=1.0, beta=0.5)
NONE = dict(PAPER, backward=False, alpha1=0.0, alpha2=0.0, beta=0.0)
EXPECTED_WEIGHTS = {
    "A1": dict(NONE, pairs="reference"),
    "A2": NONE,
    "A3": dict(NONE, backward=True),
    "A4": dict(NONE, backward=True, alpha1=5.0),
    "A5": dict(NONE, backward=True, alpha1=5.0, beta=0.5),
    "A6": dict(NONE, backward=True, alpha1=5.0, beta=0.5),
    "full": PAPER,
    "vm-ssd": dict(NONE, kl=False, sim="ssd", ssd_scale=1.0, alpha1=0.01),
    "vm-ncc": dict(NONE, kl=False, gamma=-1.0, alpha1=1.0),
    "vm-dif": dict(NONE, sim="ssd", ssd_scale=1.0 / (2 * 0.02 ** 2)),
}


def loss_config(name):
    from deeptag.losses import VM_CONFIGS
    return ABLATIONS[name] if name in ABLATIONS else VM_CONFIGS[name][1]


class FixedFields(torch.nn.Module):
    """A stand-in network that returns a given velocity (mean) and log-variance for every call."""

    def __init__(self, velocity, log_var, steps=7):
        super().__init__()
        self.velocity, self.log_var, self.steps = velocity, log_var, steps

    def forward(self, moving, fixed, stochastic=None):
        from deeptag.model import PairFields
        assert len(moving) == len(self.velocity)
        return PairFields.integrated(self.velocity, self.log_var, self.velocity, self.steps)


def monai_ncc(a, b):
    """Squared local NCC over 9x9 windows from MONAI (its loss is minus this)."""
    monai_losses = pytest.importorskip("monai.losses")
    return -float(monai_losses.LocalNormalizedCrossCorrelationLoss(
        spatial_dims=2, kernel_size=9, kernel_type="rectangular")(a, b))


def dense_kl(mean, log_var, lam, mean_weight):
    """0.5 [tr(lam D Sigma) - sum log Sigma] + mean_weight mu^T (lam L) mu per latent variable, with
    explicit degree and Laplacian matrices of the 4-neighbour grid graph."""
    _, channels, h, w = mean.shape
    n = h * w
    adjacency = np.zeros((n, n))
    for r in range(h):
        for c in range(w):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < h and c + dc < w:
                    i, j = r * w + c, (r + dr) * w + c + dc
                    adjacency[i, j] = adjacency[j, i] = 1
    degree = adjacency.sum(1)
    laplacian = np.diag(degree) - adjacency
    total = 0.0
    for b in range(mean.shape[0]):
        for ch in range(channels):
            mu = mean[b, ch].double().numpy().ravel()
            var = np.exp(log_var[b, ch].double().numpy().ravel())
            total += 0.5 * (lam * np.sum(degree * var) - np.sum(np.log(var))) + mean_weight * lam * mu @ laplacian @ mu
    return total / mean.numel()


def numpy_smoothness(displacement):
    """Mean squared forward difference along rows and along columns, averaged over the two."""
    u = displacement.detach().double().numpy()
    return 0.5 * (np.mean(np.diff(u, axis=-2) ** 2) + np.mean(np.diff(u, axis=-1) ** 2))


@pytest.mark.parametrize("name", list(EXPECTED_WEIGHTS))
def test_image_terms_have_the_published_weights(name):
    """With zero motion every warp is the identity, so each image term is its weight times the NCC (from
    MONAI) or the mean squared difference of the frames it compares: the forward term frame n against
    n+1 (frame 0 against n for A1), the backward term the reverse, the global term frame 0 against n."""
    expected = EXPECTED_WEIGHTS[name]
    torch.manual_seed(5)
    frames = torch.rand(5, 1, 24, 24)
    pairs = 4
    model = FixedFields(torch.zeros(pairs, 2, 24, 24), torch.full((pairs, 2, 24, 24), -3.0))
    _, terms = DeepTagLoss(loss_config(name))(model, frames)
    moving = frames[[0] * pairs] if expected["pairs"] == "reference" else frames[:-1]
    fixed, first = frames[1:], frames[[0] * pairs]

    def measure(a, b):
        return monai_ncc(a, b) if expected["sim"] == "ncc" else float(((a - b) ** 2).mean())

    weight = expected["gamma"] if expected["sim"] == "ncc" else expected["ssd_scale"]
    assert terms["sim_forward"] == pytest.approx(weight * measure(moving, fixed), rel=1e-4)
    if expected["backward"]:
        assert terms["sim_backward"] == pytest.approx(weight * measure(fixed, moving), rel=1e-4)
    else:
        assert "sim_backward" not in terms
    if expected["beta"]:
        # Eq. 11-12: beta * L_g with L_g = -NCC, the same -0.5 NCC per frame as the pair terms at the
        # paper's weights
        assert terms["global"] == pytest.approx(-expected["beta"] * monai_ncc(first, fixed), rel=1e-4)
    else:
        assert "global" not in terms
    assert ("kl" in terms) == expected["kl"]


def test_a1_and_a2_register_different_pairs():
    """A1 compares frame 0 with every frame, A2 consecutive frames: on a pattern that drifts, they differ."""
    frames = frames_with_motion(n=5, size=24)
    model = FixedFields(torch.zeros(4, 2, 24, 24), torch.zeros(4, 2, 24, 24))
    a1 = DeepTagLoss(ABLATIONS["A1"])(model, frames)[1]["sim_forward"]
    a2 = DeepTagLoss(ABLATIONS["A2"])(model, frames)[1]["sim_forward"]
    assert a1 == pytest.approx(-0.5 * monai_ncc(frames[[0] * 4], frames[1:]), rel=1e-4)
    assert abs(a1 - a2) > 1e-3


def smooth_velocity(pairs, size, seed):
    """A smooth random velocity for ``pairs`` pairs, a few pixels in amplitude, zero after the first pair."""
    torch.manual_seed(seed)
    coarse = torch.randn(1, 2, 4, 4) * 1.5
    velocity = torch.zeros(pairs, 2, size, size)
    velocity[0] = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0]
    return velocity


@pytest.mark.parametrize("name", list(EXPECTED_WEIGHTS))
def test_smoothness_and_kl_terms_have_the_published_weights(name):
    """The INF smoothness is alpha1 times |grad u|^2 of the forward (and backward) fields; with motion in
    the first pair only, every Lagrangian field is that pair's forward field, so the Lagrangian smoothness
    is alpha2 times its |grad u|^2; the KL is the dense formula, twice with the backward direction (Eq. 9)."""
    expected = EXPECTED_WEIGHTS[name]
    config = loss_config(name)
    pairs, size = 4, 16
    velocity = smooth_velocity(pairs, size, seed=7)
    log_var = -3.0 + 0.3 * torch.randn(pairs, 2, size, size)
    model = FixedFields(velocity, log_var)
    frames = torch.rand(pairs + 1, 1, size, size)
    _, terms = DeepTagLoss(config)(model, frames)
    out = model(frames[:-1], frames[1:])
    if expected["alpha1"]:
        smooth = numpy_smoothness(out.forward)
        if expected["backward"]:
            smooth += numpy_smoothness(out.backward)
        assert terms["smooth_inf"] == pytest.approx(expected["alpha1"] * smooth, rel=1e-4)
    else:
        assert "smooth_inf" not in terms
    if expected["alpha2"]:
        assert terms["smooth_lagrangian"] == pytest.approx(expected["alpha2"] * numpy_smoothness(out.forward[:1]),
                                                           rel=1e-4)
    else:
        assert "smooth_lagrangian" not in terms
    if expected["kl"]:
        kl = dense_kl(velocity, log_var, 10.0, config.kl_mean_weight)
        assert terms["kl"] == pytest.approx((2 if expected["backward"] else 1) * kl, rel=1e-4)


@pytest.mark.parametrize("mean_weight", [0.5, 1.0, 0.125])
def test_kl_mean_weight_scales_only_the_smoothness_of_the_mean(mean_weight):
    torch.manual_seed(8)
    mean, log_var = torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 4)
    assert float(kl_laplacian_prior(mean, log_var, 10.0, mean_weight)) == pytest.approx(
        dense_kl(mean, log_var, 10.0, mean_weight), rel=1e-5)


@pytest.mark.parametrize("steps", [5, 7])
def test_scaling_and_squaring_takes_the_configured_number_of_squarings(steps):
    """For a linear velocity v(p) = B p the 2^-T scaling and T squarings give, away from the border,
    exactly ((I + B / 2^T)^(2^T) - I) p: T = 5 and T = 7 differ measurably for this B."""
    size, centre = 64, 31.5
    b = torch.tensor([[0.0, -0.5], [0.5, 0.0]], dtype=torch.float64)  # a rotation rate
    grid = fields.identity_grid(size, size, dtype=torch.float64)[0] - centre  # (2, H, W): row, column
    velocity = torch.einsum("ij,jhw->ihw", b, grid)[None]
    integrated = fields.integrate_velocity(velocity, steps)[0]
    interior = (slice(None), slice(24, 40), slice(24, 40))

    def exact(t):
        step = torch.linalg.matrix_power(torch.eye(2, dtype=torch.float64) + b / 2 ** t, 2 ** t)
        return torch.einsum("ij,jhw->ihw", step - torch.eye(2, dtype=torch.float64), grid)

    assert torch.allclose(integrated[interior], exact(steps)[interior], atol=1e-6)
    other = 7 if steps == 5 else 5
    assert (integrated[interior] - exact(other)[interior]).abs().max() > 1e-3
