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


def test_kl_matches_the_dense_formula():
    """Against Eq. 15 written with explicit D and L = D - A matrices on a 4x3 grid."""
    torch.manual_seed(2)
    h, w, lam = 4, 3, 10.0
    mean, log_var = torch.randn(1, 2, h, w), torch.randn(1, 2, h, w)
    n = h * w
    adjacency = np.zeros((n, n))
    for r in range(h):
        for c in range(w):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < h and c + dc < w:
                    i, j = r * w + c, (r + dr) * w + c + dc
                    adjacency[i, j] = adjacency[j, i] = 1
    degree = np.diag(adjacency.sum(1))
    laplacian = degree - adjacency
    total = 0.0
    for ch in range(2):
        mu = mean[0, ch].numpy().ravel().astype(np.float64)
        var = np.exp(log_var[0, ch].numpy().ravel().astype(np.float64))
        total += 0.5 * (lam * np.sum(np.diag(degree) * var) - np.sum(np.log(var)) + lam * mu @ laplacian @ mu)
    assert math.isclose(float(kl_laplacian_prior(mean, log_var, lam)), total / (2 * n), rel_tol=1e-5)


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
