"""Tests for lecture_code.simplex_paths: descent on KL(q ‖ p) against a
hand-written step and closed forms, the natural-gradient flow against
q + e^{-t}(p0 - q), offsets from a segment, and input validation (the
distance from a line is tested with lecture_code.simplex.distance_to_segment).
"""

import numpy as np
import pytest

from lecture_code.dual import mirror_descent_step
from lecture_code.experiments import lr_sweep
from lecture_code.fisher import (
    fisher_rao_distance,
    fisher_rao_geodesic,
    kl_divergence,
)
from lecture_code.simplex import distance_to_segment, sample_dirichlet
from lecture_code.simplex_paths import (
    descent_pair,
    descent_path,
    descent_sweep_run,
    kl_descent_iterates,
    natural_gradient_flow,
    offsets_along_segment,
)

Q = np.array([0.2, 0.3, 0.5])
P0 = np.array([0.7, 0.2, 0.1])


def test_gradient_descent_in_logits_is_z_minus_eta_p_minus_q():
    # ∇_z KL(q ‖ softmax z) = p - q: written out by hand
    path = descent_path(P0, Q, "logits", False, 0.5, 5)
    z, expected = np.log(P0), [P0]
    for _ in range(5):
        p = np.exp(z) / np.exp(z).sum()
        z = z - 0.5 * (p - Q)
        expected.append(np.exp(z) / np.exp(z).sum())
    np.testing.assert_allclose(path, np.array(expected), atol=1e-15)
    # gradient descent with a small step lowers KL(q ‖ p) every step
    assert np.all(np.diff(kl_divergence(Q, path)) < 0)


def test_natural_gradient_in_free_coordinates_walks_the_segment():
    # F_π̃⁻¹ ∇_π̃ L = π̃ - q̃: p_k = q + (1 - η)^k (p0 - q)
    path = descent_path(P0, Q, "free", True, 0.3, 8)
    expected = Q + (0.7 ** np.arange(9))[:, None] * (P0 - Q)
    np.testing.assert_allclose(path, expected, atol=1e-14)


def test_natural_gradient_in_logits_is_mirror_descent():
    # F_z⁺ (p - q) in logits: the step p·exp(η q/p)/Σ (chapter 7)
    one = descent_path(P0, Q, "logits", True, 0.5, 1)[1]
    mirror = P0 * np.exp(0.5 * Q / P0)
    np.testing.assert_allclose(one, mirror / mirror.sum(), atol=1e-15)


def test_path_stops_at_the_boundary_and_pair_is_both_paths():
    gd, ng = descent_pair(np.array([0.9, 0.08, 0.02]), Q, 2.0, 12)
    assert len(gd) == 13 and len(ng) < 13  # the natural gradient overshoots
    np.testing.assert_array_equal(
        ng, descent_path([0.9, 0.08, 0.02], Q, "logits", True, 2.0, 12)
    )


def test_sweep_run_is_the_fisher_rao_distance_after_n_steps():
    methods = {"gd": ("logits", False), "ng": ("free", True)}
    run = descent_sweep_run(Q, methods, 12)
    start = sample_dirichlet(1, np.ones(3), seed=3)[0]
    end = descent_path(start, Q, "logits", False, 1.0, 12)[-1]
    assert run("gd", 1.0, 3) == pytest.approx(
        float(fisher_rao_distance(end, Q)), abs=1e-15
    )
    # η = 1 in free coordinates reaches q in one step
    assert run("ng", 1.0, 3) < 1e-7
    # a step that leaves the simplex counts as diverged
    assert run("ng", 3.0, 0) == np.inf
    sweep = lr_sweep(run, {"gd": [1.0]}, seeds=range(2), steps=12)
    assert sweep.summary("gd").mean < 0.1


@pytest.mark.parametrize("coordinates", ["natural", "expectation"])
def test_kl_descent_iterates(coordinates):
    path = kl_descent_iterates(P0, Q, 0.3, 4, coordinates)
    assert path.shape == (5, 3)
    if coordinates == "expectation":
        expected = Q + (0.7 ** np.arange(5))[:, None] * (P0 - Q)
        np.testing.assert_allclose(path, expected, atol=1e-15)
    else:
        g = -Q[:-1] / P0[:-1] + Q[-1] / P0[-1]  # ∇_π̃ KL(q ‖ p), closed form
        np.testing.assert_allclose(
            path[1], mirror_descent_step(P0, g, 0.3), atol=1e-15
        )
        # small steps: close to the segment, O(η)
        fine = kl_descent_iterates(P0, Q, 0.01, 300, coordinates)
        off_line = distance_to_segment(fine, P0, Q, segment=False)
        assert off_line.max() < 0.1 * 0.03


def test_natural_gradient_flow_is_the_straight_line_in_p():
    t = np.linspace(0, 3, 31)
    flow = natural_gradient_flow(P0, Q, t)
    np.testing.assert_allclose(
        flow, Q + np.exp(-t)[:, None] * (P0 - Q), atol=1e-8
    )


def test_offsets_along_segment():
    a, b = np.array([0.49, 0.49, 0.02]), np.array([0.02, 0.49, 0.49])
    s_grid = np.linspace(0.01, 0.99, 50)
    # the segment itself has offset 0
    line = a + np.linspace(0, 1, 101)[:, None] * (b - a)
    np.testing.assert_allclose(
        offsets_along_segment(line, a, b, s_grid), 0, atol=1e-15
    )
    # the Fisher–Rao geodesic bows to one side; |offset| = distance to line
    fr = fisher_rao_geodesic(a, b, np.linspace(0, 1, 401))
    h = offsets_along_segment(fr, a, b, s_grid)
    assert np.all(h > 0) or np.all(h < 0)
    assert np.abs(h).max() == pytest.approx(
        distance_to_segment(fr, a, b, segment=False).max(), rel=1e-3
    )


# fmt: off
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: descent_path(P0, Q, "polar", True, 0.1, 3),
         ValueError, "coordinates"),
        (lambda: descent_path(P0, Q, "free", True, -0.1, 3), ValueError, "lr"),
        (lambda: descent_path(P0, Q, "free", True, 0.1, 0),
         ValueError, "n_steps"),
        (lambda: descent_path(P0, Q[:2] / Q[:2].sum(), "free", True, 0.1, 3),
         ValueError, "same K"),
        (lambda: descent_path(P0, Q, "free", "yes", 0.1, 3),
         TypeError, "natural"),
        (lambda: descent_path([1.0, 0.0, 0.0], Q, "free", True, 0.1, 3),
         ValueError, "p0"),
        (lambda: kl_descent_iterates(P0, Q, 0.1, 3, "logits"),
         ValueError, "coordinates"),
        (lambda: natural_gradient_flow(P0, Q, [[0.0, 1.0]]),
         ValueError, "t_eval"),
        (lambda: offsets_along_segment(np.array([P0, Q, P0]), P0, Q, [0.5]),
         ValueError, "steadily"),
        (lambda: descent_sweep_run(Q, {"gd": ("logits", False)}, 3)(
            "sgd", 0.1, 0), ValueError, "method"),
    ],
)
# fmt: on
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
