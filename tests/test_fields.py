"""Exact small cases and properties of the field operators."""
import math

import numpy as np
import torch

from deeptag import fields


def smooth_image(h=32, w=32):
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return (torch.sin(rows / 3.0) * torch.cos(cols / 4.0) + 0.1 * rows / h)[None, None]


def constant_field(dy, dx, h=32, w=32):
    field = torch.zeros(1, 2, h, w)
    field[:, 0], field[:, 1] = dy, dx
    return field


def smooth_velocity(h=32, w=32, amplitude=2.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, 2, 4, 4, generator=generator)
    return amplitude * torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)


def test_identity_warp_returns_the_image():
    image = smooth_image()
    assert torch.allclose(fields.warp(image, torch.zeros(1, 2, 32, 32)), image, atol=1e-6)


def test_integer_shift_pulls_back():
    image = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    warped = fields.warp(image, constant_field(1.0, 2.0, 8, 8))
    # warped(r, c) = image(r + 1, c + 2) where inside, zero outside
    assert torch.allclose(warped[0, 0, :7, :6], image[0, 0, 1:, 2:], atol=1e-4)
    assert torch.allclose(warped[0, 0, 7, :], torch.zeros(8), atol=1e-4)
    assert torch.allclose(warped[0, 0, :, 6:], torch.zeros(8, 2), atol=1e-4)


def test_subpixel_shift_is_bilinear():
    image = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    warped = fields.warp(image, constant_field(0.25, 0.5, 2, 2))
    assert math.isclose(float(warped[0, 0, 0, 0]), 0.75 * 5.0 + 0.25 * 25.0, rel_tol=1e-6)


def test_integrating_a_constant_velocity_gives_the_shift():
    velocity = constant_field(1.5, -0.75, 16, 16)
    displacement = fields.integrate_velocity(velocity)
    # inside, far from the zero padding, a constant velocity integrates to itself
    assert torch.allclose(displacement[..., 4:12, 4:12], velocity[..., 4:12, 4:12], atol=1e-4)


def test_known_rotation():
    """A rotation velocity v(p) = theta * J (p - c) integrates to the rotation by theta about c."""
    h = w = 65
    theta = 0.1
    grid = fields.identity_grid(h, w)
    centre = torch.tensor([32.0, 32.0]).view(1, 2, 1, 1)
    rel = grid - centre
    velocity = theta * torch.stack([rel[:, 1], -rel[:, 0]], dim=1)  # (dy, dx) = theta * (x, -y)
    displacement = fields.integrate_velocity(velocity, steps=7)
    cos, sin = math.cos(theta), math.sin(theta)
    expected = torch.stack([cos * rel[:, 0] + sin * rel[:, 1], -sin * rel[:, 0] + cos * rel[:, 1]], dim=1) - rel
    inner = (rel ** 2).sum(1, keepdim=True).sqrt() < 20  # the rotated point stays in the image
    error = (displacement - expected).abs()[inner.expand_as(displacement)]
    assert error.max() < 0.05


def test_composition_matches_the_analytic_composition():
    """Two affine pull-back maps: composing their displacements equals the displacement of the product."""
    h = w = 40
    grid = fields.identity_grid(h, w)
    a = torch.tensor([[1.02, 0.03], [-0.01, 0.98]])
    b = torch.tensor([[0.97, -0.02], [0.04, 1.01]])
    t_a, t_b = torch.tensor([0.5, -0.3]), torch.tensor([-0.2, 0.4])

    def affine(matrix, shift, points):
        return torch.einsum("ij,bjhw->bihw", matrix, points) + shift.view(1, 2, 1, 1)

    first = affine(a, t_a, grid) - grid
    second = affine(b, t_b, grid) - grid
    composed = fields.compose(first, second)
    expected = affine(b, t_b, affine(a, t_a, grid)) - grid
    assert torch.allclose(composed[..., 4:-4, 4:-4], expected[..., 4:-4, 4:-4], atol=1e-4)


def test_lagrangian_fields_follow_the_recursion():
    inf = torch.stack([smooth_velocity(seed=s)[0] for s in range(3)])
    lagrangian = fields.lagrangian_fields(inf)
    assert torch.equal(lagrangian[0], inf[0])
    assert torch.allclose(lagrangian[2:3], fields.compose(inf[2:3], fields.compose(inf[1:2], inf[0:1])), atol=1e-6)


def test_a_window_composed_from_its_first_lagrangian_field_continues_the_sequence():
    inf = torch.stack([smooth_velocity(seed=s)[0] for s in range(4)])
    whole = fields.lagrangian_fields(inf)
    window = fields.lagrangian_fields(inf[2:], initial=whole[1:2])  # frames 2.. from L_2
    assert torch.allclose(window, whole[2:], atol=1e-6)
    assert torch.equal(fields.lagrangian_fields(inf, initial=torch.zeros_like(inf[:1])), whole)


def test_warp_with_the_inverse_returns_the_image():
    rows, cols = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    image = (torch.sin(rows / 6.0) * torch.cos(cols / 8.0))[None, None]  # range [-1, 1]
    velocity = smooth_velocity(48, 48, amplitude=1.5)
    forward, backward = fields.integrate_velocity(velocity), fields.integrate_velocity(-velocity)
    restored = fields.warp(fields.warp(image, forward), backward)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert (restored - image)[inner].abs().max() < 0.02
    # and the two fields compose to (nearly) zero displacement
    assert fields.compose(backward, forward)[inner].abs().max() < 0.05


def test_integrated_smooth_velocities_have_positive_jacobians():
    folds_without_integration = 0
    for seed in range(5):
        velocity = smooth_velocity(amplitude=3.0, seed=seed)
        assert fields.count_nonpositive_jacobians(fields.integrate_velocity(velocity)) == 0
        folds_without_integration += fields.count_nonpositive_jacobians(velocity)
    assert folds_without_integration > 0  # used as a plain displacement, the same velocities fold


def test_jacobian_of_a_known_affine_field():
    grid = fields.identity_grid(10, 10)
    displacement = torch.stack([0.2 * grid[:, 0], -0.5 * grid[:, 1]], dim=1)  # diag(1.2, 0.5)
    assert torch.allclose(fields.jacobian_determinant(displacement), torch.full((1, 10, 10), 0.6), atol=1e-6)
    folding = torch.stack([-2.0 * grid[:, 0], 0 * grid[:, 1]], dim=1)
    assert fields.count_nonpositive_jacobians(folding) == 100


def test_gradients_flow_through_the_composition_layer():
    inf = (0.5 * torch.randn(4, 2, 16, 16)).requires_grad_()
    fields.lagrangian_fields(inf)[-1].pow(2).sum().backward()
    assert all(float(inf.grad[t].abs().sum()) > 0 for t in range(4))


def test_points_and_channels_swap_order():
    points = torch.tensor([[3.0, 7.0]])
    assert torch.equal(fields.points_to_coords(points), torch.tensor([[7.0, 3.0]]))
    field = torch.zeros(1, 2, 10, 10)
    field[0, 0, 7, 3], field[0, 1, 7, 3] = 1.5, -2.5  # dy, dx at row 7, column 3
    assert torch.allclose(fields.sample_at_points(field, points[None]), torch.tensor([[[-2.5, 1.5]]]))


def test_track_points_inverts_the_pull_back_field():
    """With a constant pull-back displacement d, a frame-0 point p0 is at p0 - d in the later frame."""
    lagrangian = torch.cat([constant_field(1.0, 2.0), constant_field(-0.5, 3.0)])
    points = torch.tensor([[10.0, 12.0], [15.5, 20.25]])
    tracks = fields.track_points(lagrangian, points)
    assert tracks.shape == (3, 2, 2)
    assert torch.allclose(tracks[0], points)
    assert torch.allclose(tracks[1], points - torch.tensor([2.0, 1.0]), atol=1e-5)
    assert torch.allclose(tracks[2], points - torch.tensor([3.0, -0.5]), atol=1e-5)


def test_track_points_with_a_smooth_field_satisfies_the_definition():
    lagrangian = fields.integrate_velocity(smooth_velocity(amplitude=2.0))
    points = torch.tensor([[12.0, 14.0], [18.3, 9.7]])
    tracked = fields.track_points(lagrangian, points)[1]
    back = tracked + fields.sample_at_points(lagrangian, tracked[None])[0]
    assert np.allclose(back.numpy(), points.numpy(), atol=1e-3)
