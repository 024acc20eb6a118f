"""Issue 30's myocardium-aware adaptation terms against independent computation: the near-incompressibility
penalty on analytic fields, the edge-weighted smoothness and KL against Eq. 12's with unit weights, and the
blood-pool weights of a ring."""
import math

import numpy as np
import pytest
import torch

from deeptag import fields
from deeptag.adapt import AdaptConfig, AdaptedFields, TissueLoss, adapt_model, tissue_maps
from deeptag.losses import (DeepTagLoss, edge_weighted_kl_mean, edge_weighted_smoothness, edge_weights,
                            gradient_smoothness, kl_laplacian_prior, log_circumferential_stretch,
                            log_jacobian_penalty)
from deeptag.model import DeepTagNet, ModelConfig
from deeptag.myocardium import define_myocardium
from deeptag.preprocess import GridMapping
from deeptag.track import network_regions

SIZE = 33
CENTRE = torch.tensor([16.0, 16.0])  # (row, column)


def linear_field(matrix: np.ndarray) -> torch.Tensor:
    """Pull-back displacement ``u(p) = (A - I)(p - c)`` (1, 2, H, W) in (row, column) order: ``I + grad u = A``."""
    grid = fields.identity_grid(SIZE, SIZE, dtype=torch.float64)[0] - CENTRE.double()[:, None, None]
    a = torch.as_tensor(np.asarray(matrix, dtype=np.float64) - np.eye(2))
    return torch.einsum("ij,jhw->ihw", a, grid)[None]


def everywhere() -> torch.Tensor:
    return torch.ones(1, 1, SIZE, SIZE, dtype=torch.float64)


@pytest.mark.parametrize("matrix", [
    [[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]],  # rotation
    [[1.0, 0.4], [0.0, 1.0]],  # simple shear
    [[1.25, 0.0], [0.0, 0.8]],  # stretch along rows, shortening along columns: area kept
])
def test_incompressibility_penalty_is_zero_for_area_preserving_fields(matrix):
    penalty = log_jacobian_penalty(linear_field(matrix), torch.zeros(1, dtype=torch.float64), everywhere())
    assert float(penalty) == pytest.approx(0.0, abs=1e-12)


def test_incompressibility_penalty_of_a_uniform_dilation():
    scale = 1.1  # every frame-0 length is 1.1 times the current one: det(I + grad u) = 1.21
    field = linear_field(np.diag([scale, scale]))
    assert float(log_jacobian_penalty(field, torch.zeros(1, dtype=torch.float64), everywhere())) \
        == pytest.approx((2 * math.log(1.1)) ** 2, rel=1e-9)
    assert float(log_jacobian_penalty(field, torch.tensor([math.log(1.21)], dtype=torch.float64), everywhere())) \
        == pytest.approx(0.0, abs=1e-12)
    # a hand value: target log 1.1 (through-plane stretch 1.1), (2 log 1.1 - log 1.1)^2 = (log 1.1)^2
    assert float(log_jacobian_penalty(field, torch.tensor([math.log(1.1)], dtype=torch.float64), everywhere())) \
        == pytest.approx(0.0090840, rel=1e-4)
    # only where the weight is
    weight = torch.zeros(1, 1, SIZE, SIZE, dtype=torch.float64)
    weight[..., 10:20, 10:20] = 1.0
    field = field.clone()
    field[..., :5, :] = 0.0  # changed where the weight is zero: no effect
    assert float(log_jacobian_penalty(field, torch.zeros(1, dtype=torch.float64), weight)) \
        == pytest.approx((2 * math.log(1.1)) ** 2, rel=1e-9)


def test_circumferential_stretch_of_analytic_fields():
    centre = CENTRE.double()[None]
    dilation = log_circumferential_stretch(linear_field(np.diag([1.1, 1.1])), centre)
    # a current fibre of length 1 came from one of length 1.1: stretch 1 / 1.1, anywhere but the centre
    assert torch.allclose(dilation[0, 5:12, 20:28], torch.tensor(-math.log(1.1), dtype=torch.float64))
    angle = 0.3
    rotation = linear_field([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    assert torch.allclose(log_circumferential_stretch(rotation, centre)[0, 5:12, 20:28],
                          torch.zeros(7, 8, dtype=torch.float64), atol=1e-12)


def test_unit_edge_weights_give_the_eq12_terms():
    torch.manual_seed(0)
    field = torch.randn(3, 2, 12, 14)
    region = torch.zeros(3, 1, 12, 14)
    rows, cols = edge_weights(region, 0.1)
    assert torch.all(rows == 1) and torch.all(cols == 1)
    assert torch.allclose(edge_weighted_smoothness(field, rows, cols), gradient_smoothness(field))
    log_var = torch.randn(3, 2, 12, 14)
    full = kl_laplacian_prior(field, log_var, 10.0, 0.5)
    trace_only = kl_laplacian_prior(torch.zeros_like(field), log_var, 10.0, 0.5)
    assert torch.allclose(trace_only + edge_weighted_kl_mean(field, rows, cols, 10.0, 0.5), full)


def test_edges_touching_the_region_are_weighted():
    region = torch.zeros(1, 1, 6, 6)
    region[..., 2:4, 2:4] = 1.0
    rows, cols = edge_weights(region, 0.25)
    assert rows[0, 0, 1, 2] == 0.25 and rows[0, 0, 2, 2] == 0.25 and rows[0, 0, 3, 2] == 0.25  # into, inside, out
    assert rows[0, 0, 0, 2] == 1.0 and rows[0, 0, 1, 1] == 1.0 and cols[0, 0, 2, 0] == 1.0
    assert float(rows.sum() + cols.sum()) == pytest.approx(60 - 0.75 * 12)  # 12 of the 60 edges touch it: 4 inside, 8 out


def ring_frames(model_size: int = 48):
    centre, scale = (model_size - 1) / 2, model_size / 48
    myocardium = define_myocardium((model_size, model_size), ring=f"{centre},{centre},{9 * scale},{15 * scale}")
    regions = network_regions(myocardium, GridMapping.full_frame(model_size, model_size, model_size))
    torch.manual_seed(0)
    model = DeepTagNet(ModelConfig(image_size=model_size)).eval()  # a fresh network: next to no motion
    frames = torch.rand(4, 1, model_size, model_size)
    return myocardium, regions, model, frames


def test_blood_pool_weights_are_zero_in_the_pool_only():
    myocardium, regions, model, frames = ring_frames()
    adapted = AdaptedFields(model, frames[:-1], frames[1:], 4)
    maps = tissue_maps(adapted, frames, regions, margin=2)[48]
    rows, cols = np.indices((48, 48))
    radius = np.hypot(cols - 23.5, rows - 23.5)
    pool = maps["pool"][:, 0].numpy()
    assert pool.shape == (4, 48, 48)
    assert np.all(pool[:, radius < 9 - 2 - 1.5] == 1)  # deep in the cavity
    assert np.all(pool[:, radius > 9 - 2 + 0.5] == 0)  # within the margin of the wall, the wall, outside
    tissue = maps["tissue"][:, 0].numpy()
    assert np.all(tissue[:, myocardium.mask] > 0.99) and np.all(tissue[:, (radius < 8) | (radius > 16)] < 0.01)
    assert torch.allclose(maps["centre"], torch.tensor([23.5, 23.5]), atol=0.05)
    config = AdaptConfig(pool_weight=0.0)
    weight = 1.0 - (1.0 - config.pool_weight) * maps["pool"]
    assert torch.all(weight[maps["pool"] == 1] == 0) and torch.all(weight[maps["pool"] == 0] == 1)


def test_tissue_loss_with_neutral_weights_is_eq12():
    _, regions, model, frames = ring_frames(32)
    config = AdaptConfig(ncc_window=5, pool_smoothness=1.0)  # every myocardium-aware term neutral
    adapted = AdaptedFields(model, frames[:-1], frames[1:], 4)
    maps = tissue_maps(adapted, frames, regions, margin=2)
    eq12, terms = DeepTagLoss(config.objective())(adapted, frames)
    tissue, tissue_terms = TissueLoss(config, maps)(adapted, frames)
    assert float(tissue.detach()) == pytest.approx(float(eq12.detach()), rel=1e-5)
    assert set(terms) == set(tissue_terms)
    assert maps[32]["pool"].sum() > 0
    pooled, _ = TissueLoss(AdaptConfig(ncc_window=5, pool_weight=0.0, pool_smoothness=1.0), maps)(adapted, frames)
    assert float(pooled.detach()) != pytest.approx(float(eq12.detach()), rel=1e-5)
    with torch.no_grad():
        adapted.correction.normal_(0.0, 0.5)  # some motion, so that det J differs from the target
    _, terms = TissueLoss(AdaptConfig(ncc_window=5, pool_smoothness=1.0, incompressibility=1.0), maps)(adapted, frames)
    assert terms["incompressibility"] > 0


def test_the_myocardium_only_matters_when_a_tissue_term_is_on():
    _, regions, model, frames = ring_frames(32)
    neutral = AdaptConfig(steps=3, pool_smoothness=1.0)
    assert not neutral.tissue_aware() and AdaptConfig().tissue_aware()  # the default relaxes the pool's smoothness
    plain, _ = adapt_model(model, frames, neutral)
    given, _ = adapt_model(model, frames, neutral, myocardium=regions)
    assert torch.equal(plain.correction, given.correction)
    without, _ = adapt_model(model, frames, AdaptConfig(steps=3))  # no myocardium: Eq. 12 whatever the config
    assert torch.equal(plain.correction, without.correction)
    aware, record = adapt_model(model, frames, AdaptConfig(steps=3), myocardium=regions)
    assert record["steps"] == 3 and not torch.equal(plain.correction, aware.correction)
