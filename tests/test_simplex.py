"""Tests of lecture_code.simplex: definitions, coordinates, and clear errors
on bad input."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lecture_code import simplex as sx

weights = arrays(
    np.float64, st.integers(1, 6), elements=st.floats(0.0, 10.0)
).filter(lambda w: w.sum() > 1e-3)


@given(weights)
def test_normalized_weights_are_in_simplex(w):
    p = w / w.sum()
    assert sx.in_simplex(p)
    assert bool(sx.in_interior(p)) == bool((p > 0).all())


@settings(max_examples=200)
@given(arrays(np.float64, 3, elements=st.floats(1e-6, 1.0)))
def test_barycentric_round_trip(w):
    p = w / w.sum()
    back = sx.cartesian_to_barycentric(sx.barycentric_to_cartesian(p))
    np.testing.assert_allclose(back, p, atol=1e-12)


@given(st.floats(-2, 2), st.floats(-2, 2))
def test_cartesian_round_trip_and_membership(x, y):
    p = sx.cartesian_to_barycentric([x, y])
    np.testing.assert_allclose(
        sx.barycentric_to_cartesian(p), [x, y], atol=1e-12
    )
    np.testing.assert_allclose(p.sum(), 1.0, atol=1e-12)
    # Membership of the triangle by an independent test: same side of each edge
    # as the opposite corner. Points within 1e-9 of an edge are left out: there
    # the answer depends on the tolerance.
    T = sx.TRIANGLE
    cross = lambda u, v: u[0] * v[1] - u[1] * v[0]
    sides = []
    for i in range(3):
        a, b, c = T[(i + 1) % 3], T[(i + 2) % 3], T[i]
        # signed distance (|b-a|=1)
        sides.append(
            cross(b - a, np.array([x, y]) - a) * np.sign(cross(b - a, c - a))
        )
    assume(min(abs(d) for d in sides) > 1e-9)
    assert bool(sx.in_simplex(p, atol=1e-12)) == all(d > 0 for d in sides)


def test_vertices_are_one_hot_and_map_to_corners():
    np.testing.assert_array_equal(sx.vertices(4), np.eye(4))
    np.testing.assert_allclose(
        sx.barycentric_to_cartesian(sx.vertices(3)), sx.TRIANGLE
    )


def test_simplex_grid_counts_and_interior():
    for n, K in [(10, 3), (4, 4), (6, 2)]:
        pts = sx.simplex_grid(n, K)
        assert len(pts) == math.comb(n + K - 1, K - 1)
        assert sx.in_simplex(pts).all()
        assert len(np.unique(pts.round(12), axis=0)) == len(pts)
    inner = sx.simplex_grid(10, 3, interior=True)
    assert len(inner) == math.comb(9, 2) and (inner > 0).all()


def test_support_and_distance_to_boundary():
    assert sx.support([0.5, 0.5, 0.0]).tolist() == [True, True, False]
    np.testing.assert_allclose(
        sx.distance_to_boundary(np.full(3, 1 / 3)),
        math.sqrt(2) / (2 * math.sqrt(3)),
    )
    np.testing.assert_allclose(
        sx.distance_to_boundary(np.full(5, 0.2)), 1 / math.sqrt(20)
    )
    assert sx.distance_to_boundary([1.0, 0.0, 0.0]) == 0.0


def test_distance_to_boundary_matches_brute_force():
    # Walk from p along 3601 in-plane directions at once; find each exit by
    # bisection.
    p = np.array([0.5, 0.3, 0.2])
    ang = np.linspace(0, 2 * np.pi, 3601)
    d = np.stack([np.cos(ang), np.sin(ang)], axis=1)  # (N, 2)
    start = sx.barycentric_to_cartesian(p)
    lo, hi = np.zeros(len(ang)), np.full(len(ang), 2.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        inside = (
            sx.cartesian_to_barycentric(start + mid[:, None] * d) >= 0
        ).all(axis=1)
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    # The drawn triangle has side 1; Δ² in R³ has side √2, so scale by √2.
    np.testing.assert_allclose(
        lo.min() * math.sqrt(2), sx.distance_to_boundary(p), rtol=1e-5
    )


def test_dirichlet_samples_are_in_simplex():
    P = sx.sample_dirichlet(100, [1.0, 2.0, 3.0], seed=0)
    assert P.shape == (100, 3) and sx.in_simplex(P).all()


# fmt: off
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: sx.vertices(0), ValueError, "K must be a positive integer"),
        (lambda: sx.vertices(2.5), TypeError,
         "K must be an integer, got float"),
        (lambda: sx.check_simplex([0.5, 0.6]), ValueError, "must sum to 1"),
        (lambda: sx.check_simplex([1.5, -0.5]), ValueError, "non-negative"),
        (lambda: sx.in_simplex([np.nan, 1.0]), ValueError, "contains NaN"),
        (lambda: sx.in_simplex([]), ValueError, "last axis of length K >= 1"),
        (lambda: sx.in_simplex("abc"), TypeError, "array of numbers"),
        (lambda: sx.barycentric_to_cartesian([0.5, 0.5]), ValueError,
         "one row per coordinate"),
        (lambda: sx.cartesian_to_barycentric([1.0, 2.0, 3.0]), ValueError,
         "length 2"),
        (lambda: sx.simplex_grid(0), ValueError,
         "n must be a positive integer"),
        (lambda: sx.sample_dirichlet(3, [1.0, 0.0]), ValueError,
         "alpha must be"),
        (lambda: sx.distance_to_boundary([1.0]), ValueError, "K >= 2"),
    ],
)
# fmt: on
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_new_figure_fixed_margins_or_constrained():
    from lecture_code.plot import new_figure

    fig, ax = new_figure(4.0, 3.0, margins=dict(left=0.2, bottom=0.25))
    assert fig.get_layout_engine() is None
    assert ax.get_position().x0 == pytest.approx(
        0.2
    ) and ax.get_position().y0 == pytest.approx(0.25)
    fig2, axes = new_figure(6.0, 3.0, ncols=2)
    assert fig2.get_layout_engine() is not None and len(axes) == 2


def test_new_figures_share_one_math_typesetter():
    import io

    from lecture_code.plot import new_figure

    renderers = []
    for _ in range(2):
        fig, ax = new_figure(2.0, 2.0, margins=dict(left=0.2, bottom=0.2))
        ax.set_xlabel("$e_1$")
        fig.savefig(io.BytesIO(), format="png")
        renderers.append(fig.canvas.get_renderer())
    assert renderers[0] is not renderers[1]
    # "$e_1$" is typeset once
    assert renderers[0].mathtext_parser is renderers[1].mathtext_parser


# --- label smoothing
# --------------------------------------------------------------------------


def test_smooth_labels_matches_torch_label_smoothing():
    import torch

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (7,), generator=gen)
    for eps in (0.0, 0.1, 0.5, 1.0):
        target = torch.tensor(sx.smooth_labels(y.numpy(), 4, eps))
        ours = -(target * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
        ref = torch.nn.functional.cross_entropy(z, y, label_smoothing=eps)
        assert abs(ours.item() - ref.item()) < 1e-14


def test_smooth_labels_lie_on_the_segment_to_the_centre():
    T = sx.smooth_labels([0, 2], 3, 0.3)
    assert sx.in_interior(T).all()
    np.testing.assert_allclose(
        T[0], 0.7 * np.eye(3)[0] + 0.3 * np.full(3, 1 / 3), atol=1e-15
    )
    np.testing.assert_array_equal(
        sx.smooth_labels([1], 3, 0.0), [[0.0, 1.0, 0.0]]
    )


def test_smooth_labels_errors():
    with pytest.raises(ValueError, match="eps"):
        sx.smooth_labels([0], 3, 1.5)
    with pytest.raises(ValueError, match="0..2"):
        sx.smooth_labels([3], 3, 0.1)
    with pytest.raises(TypeError, match="integer"):
        sx.smooth_labels([0.5], 3, 0.1)


# --- directions, segments, projection
# --------------------------------------------------------------------------


def test_feasible_fraction_interior_edge_vertex():
    # the interior: every way; an edge: half; a vertex: its 60° corner
    assert sx.feasible_fraction([0.5, 0.3, 0.2]) == 1.0
    assert sx.feasible_fraction([0.5, 0.5, 0.0]) == 0.5
    assert sx.feasible_fraction([0.0, 0.0, 1.0]) == pytest.approx(1 / 6)
    # far from the boundary (step > distance) a point loses directions
    near = [0.9, 0.05, 0.05]
    assert sx.feasible_fraction(near, eps=0.2, n_directions=360) < 1.0


def test_feasible_fraction_errors():
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        sx.feasible_fraction([0.5, 0.5])
    with pytest.raises(ValueError, match="eps must be"):
        sx.feasible_fraction([1.0, 0.0, 0.0], eps=0.0)
    with pytest.raises(ValueError, match="must sum to 1"):
        sx.feasible_fraction([0.5, 0.5, 0.5])


def test_distance_to_segment_matches_dense_sampling():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3), rng.normal(size=3)
    points = rng.normal(size=(50, 3))
    s = np.linspace(0, 1, 200_001)[:, None]  # the segment, densely
    seg = a + s * (b - a)  # (S, 3)
    brute = np.sqrt(((points[:, None] - seg[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(
        sx.distance_to_segment(points, a, b), brute, atol=1e-5
    )
    # points on the segment: distance 0
    np.testing.assert_allclose(
        sx.distance_to_segment(seg[::50_000], a, b), 0.0, atol=1e-15
    )


def test_distance_to_line_against_projection():
    rng = np.random.default_rng(0)
    a, b, pts = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(7, 3))
    # least squares: the nearest point a + s(b - a) of the whole line
    s = np.linalg.lstsq((b - a)[:, None], (pts - a).T, rcond=None)[0][0]
    nearest = a + s[:, None] * (b - a)
    np.testing.assert_allclose(
        sx.distance_to_segment(pts, a, b, segment=False),
        np.linalg.norm(pts - nearest, axis=1),
        atol=1e-14,
    )


def test_distance_to_segment_errors():
    with pytest.raises(ValueError, match="must differ"):
        sx.distance_to_segment(np.zeros((2, 3)), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="must differ"):
        sx.distance_to_segment(np.ones((2, 3)), np.ones(3), np.ones(3), False)
    with pytest.raises(TypeError, match="segment"):
        sx.distance_to_segment(np.zeros((2, 3)), np.ones(3), np.zeros(3), "no")
    with pytest.raises(ValueError, match="shape \\(T, K\\)"):
        sx.distance_to_segment(np.zeros((2, 3)), np.ones(2), np.zeros(2))


def sort_projection(z):
    """Closed-form Euclidean projection onto the simplex (Held et al. 1974,
    Duchi et al. 2008): p = max(z - θ, 0)."""
    u = np.sort(z)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, len(z) + 1)
    rho = k[u - css / k > 0][-1]
    return np.maximum(z - css[rho - 1] / rho, 0.0)


def test_project_to_simplex_matches_the_sort_formula():
    rng = np.random.default_rng(5)
    for z in rng.normal(scale=1.5, size=(20, 4)):
        p = sx.project_to_simplex(z)
        np.testing.assert_allclose(p, sort_projection(z), atol=1e-7)
        assert sx.in_simplex(p, atol=1e-9)
    # a point of the simplex is its own projection
    np.testing.assert_allclose(
        sx.project_to_simplex([0.2, 0.3, 0.5]), [0.2, 0.3, 0.5], atol=1e-8
    )


def test_project_to_simplex_errors():
    with pytest.raises(ValueError, match="one vector"):
        sx.project_to_simplex(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        sx.project_to_simplex([np.inf, 0.0])


def test_frame_figure_defaults_and_overrides():
    from lecture_code.plot import frame_figure

    fig, (ax_l, ax_r) = frame_figure(6.0, 3.0, ncols=2, top=0.88)
    assert fig.get_layout_engine() is None
    assert ax_l.get_position().x0 == pytest.approx(0.02)
    assert ax_r.get_position().x1 == pytest.approx(0.98)
    assert ax_l.get_position().y1 == pytest.approx(0.88)
    assert ax_l.get_position().y0 == pytest.approx(0.02)
