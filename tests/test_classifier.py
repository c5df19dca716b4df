"""Tests for lecture_code.classifier: cosine logits, the linear head,
training helpers (chapter 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax
from sklearn.metrics.pairwise import cosine_similarity

from lecture_code.classifier import (
    LinearClassifier,
    NormalizedClassifier,
    etf_max_prob,
    fit,
    fit_bias,
    fit_with,
    gauge_sums,
    max_prob_bound,
    simplex_etf,
)

F64 = torch.float64


def _x(n=20, d=8, seed=0, dtype=torch.float32):
    return torch.randn(
        n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype
    )


# --- NormalizedClassifier ----------------------------------------------------


def test_cosines_match_sklearn():
    head = NormalizedClassifier(8, 5, scale=3.0, seed=1).double()
    x = _x(dtype=F64)
    ref = cosine_similarity(x.numpy(), head.weight.detach().numpy())  # (20, 5)
    np.testing.assert_allclose(
        head.cosines(x).detach().numpy(), ref, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        head(x).detach().numpy(), 3.0 * ref, rtol=1e-12, atol=1e-12
    )


def test_logits_lie_in_minus_s_to_s():
    for s in (1.0, 16.0, 30.0):
        z = NormalizedClassifier(8, 5, scale=s)(_x(200))
        assert z.abs().max().item() <= s


def test_input_along_a_class_vector_gets_logit_s():
    head = NormalizedClassifier(8, 5, scale=7.0).double()
    w = head.weight.detach()
    z = head(2.5 * w)  # each row points along one class vector
    torch.testing.assert_close(
        torch.diagonal(z), torch.full((5,), 7.0, dtype=F64)
    )
    torch.testing.assert_close(
        head(-w).diagonal(), torch.full((5,), -7.0, dtype=F64)
    )


def test_invariant_to_input_and_weight_norms():
    head = NormalizedClassifier(8, 5, scale=4.0).double()
    x = _x(dtype=F64)
    z = head(x)
    torch.testing.assert_close(head(10.0 * x), z)
    with torch.no_grad():
        # rescale each class vector
        head.weight.mul_(torch.arange(1, 6, dtype=F64)[:, None])
    torch.testing.assert_close(head(x), z)


def test_zero_input_gives_uniform_logits():
    z = NormalizedClassifier(8, 5)(torch.zeros(1, 8))
    assert z.tolist() == [[0.0] * 5]


def test_seeded_init_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = NormalizedClassifier(8, 5, seed=7)
    after = torch.rand(1)
    assert before.item() == after.item()
    torch.testing.assert_close(
        a.weight, NormalizedClassifier(8, 5, seed=7).weight
    )
    assert not torch.equal(a.weight, NormalizedClassifier(8, 5, seed=8).weight)


@pytest.mark.parametrize("scale", [0, -1.0, float("inf"), float("nan")])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        NormalizedClassifier(8, 5, scale=scale)


@pytest.mark.parametrize("scale", ["16", True])
def test_scale_of_the_wrong_kind(scale):
    with pytest.raises(TypeError, match="scale must be a number"):
        NormalizedClassifier(8, 5, scale=scale)


@pytest.mark.parametrize("cls", [NormalizedClassifier, LinearClassifier])
def test_bad_sizes_and_inputs(cls):
    with pytest.raises(ValueError, match="in_features"):
        cls(0, 5)
    with pytest.raises(
        TypeError, match="num_classes must be an integer, got float"
    ):
        cls(8, 2.5)
    head = cls(8, 5)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\)"):
        head(torch.zeros(3, 7))
    with pytest.raises(TypeError, match="floating"):
        head(torch.zeros(3, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch tensor"):
        head(np.zeros((3, 8)))
    with pytest.raises(ValueError, match="NaN or inf"):
        head(torch.full((3, 8), float("nan")))


# --- LinearClassifier --------------------------------------------------------


def test_linear_head_matches_formula_and_decomposition():
    head = LinearClassifier(8, 5, seed=2).double()
    with torch.no_grad():
        head.bias.copy_(torch.arange(5, dtype=F64))
    x = _x(dtype=F64)
    W, b = head.weight.detach(), head.bias.detach()
    torch.testing.assert_close(head(x), x @ W.T + b)
    # without the bias the logit is ‖w_k‖ ‖x‖ cos ω_k
    nobias = LinearClassifier(8, 5, bias=False, seed=2).double()
    cos = torch.tensor(cosine_similarity(x.numpy(), W.numpy()))
    torch.testing.assert_close(
        nobias(x), x.norm(dim=1, keepdim=True) * W.norm(dim=1) * cos
    )


# --- fit ---------------------------------------------------------------------


def test_fit_lowers_the_loss_and_is_deterministic():
    x = _x(60, 4, seed=3)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    runs = []
    for _ in range(2):
        head = NormalizedClassifier(4, 3, scale=8.0, seed=0)
        runs.append(fit(head, x, y, steps=60, lr=0.1))
    assert runs[0] == runs[1]
    assert runs[0][-1] < 0.7 * runs[0][0]


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fit_is_the_gradient_step_written_out(weight_decay):
    # ξ ← ξ - η(∇L + ρξ), by hand in float64
    x = _x(40, 4, seed=1).double()
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    head = LinearClassifier(4, 3, seed=0).double()
    W, b = head.weight.detach().clone(), head.bias.detach().clone()
    losses = fit(head, x, y, steps=25, lr=0.3, weight_decay=weight_decay)
    by_hand = []
    for _ in range(25):
        W.requires_grad_(True), b.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(x @ W.T + b, y)
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W = W - 0.3 * (gW + weight_decay * W)
            b = b - 0.3 * (gb + weight_decay * b)
        by_hand.append(loss.item())
    assert losses == pytest.approx(by_hand, rel=1e-12, abs=1e-14)
    torch.testing.assert_close(head.weight.detach(), W, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(head.bias.detach(), b, rtol=1e-12, atol=1e-14)


def test_fit_rejects_bad_labels():
    head = LinearClassifier(4, 3)
    with pytest.raises(ValueError, match="0..2"):
        fit(head, _x(5, 4), torch.tensor([0, 1, 2, 3, 0]), steps=1)
    with pytest.raises(
        ValueError, match=r"y must have shape \(5,\), got \(2,\)"
    ):
        fit(head, _x(5, 4), torch.tensor([0, 1]), steps=1)
    with pytest.raises(TypeError, match="int64"):
        fit(head, _x(5, 4), torch.zeros(5), steps=1)


# --- fit_bias: the gauge and L2 ----------------------------------------------


Y = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
FREQ = np.array([0.6, 0.3, 0.1])


@pytest.mark.parametrize("fixed", [None, 0, 1, 2])
def test_without_penalty_every_gauge_gives_the_frequencies(fixed):
    b = fit_bias(Y, 3, l2=0.0, fixed=fixed)
    np.testing.assert_allclose(scipy_softmax(b.numpy()), FREQ, atol=1e-8)
    if fixed is not None:
        assert b[fixed].item() == 0.0


def _scipy_optimum(l2, fixed):
    free = [k for k in range(3) if k != fixed]

    def full(t):
        b = np.zeros(3)
        b[free] = t
        return b

    def objective(t):
        b = full(t)
        return -(FREQ * scipy_log_softmax(b)).sum() + l2 * (b**2).sum()

    return full(
        minimize(
            objective,
            np.zeros(len(free)),
            method="BFGS",
            options={"gtol": 1e-10},
        ).x
    )


@pytest.mark.parametrize("fixed", [None, 0, 2])
def test_penalized_optimum_matches_scipy(fixed):
    b = fit_bias(Y, 3, l2=0.05, fixed=fixed).numpy()
    np.testing.assert_allclose(b, _scipy_optimum(0.05, fixed), atol=1e-6)


def test_penalized_optimum_depends_on_the_gauge():
    p = {
        fx: scipy_softmax(fit_bias(Y, 3, l2=0.05, fixed=fx).numpy())
        for fx in (None, 0, 2)
    }
    assert (
        np.abs(p[None] - p[0]).max() > 0.03
        and np.abs(p[None] - p[2]).max() > 0.03
    )
    # all K free: the CE gradient is orthogonal to 1, so the penalty
    # drives Σ b_k to 0
    assert abs(fit_bias(Y, 3, l2=0.05).sum().item()) < 1e-9


def test_fit_bias_errors():
    with pytest.raises(ValueError, match="l2"):
        fit_bias(Y, 3, l2=-1.0)
    with pytest.raises(ValueError, match="fixed"):
        fit_bias(Y, 3, fixed=3)
    with pytest.raises(ValueError, match="at least one"):
        fit_bias(torch.tensor([], dtype=torch.int64), 3)
    with pytest.raises(TypeError, match="int64"):
        fit_bias([0, 1], 3)
    with pytest.raises(ValueError, match="0..2"):
        fit_bias(torch.tensor([0, 5]), 3)


def test_fit_bias_with_an_unseen_class():
    y = torch.tensor([0, 0, 1])  # class 2 never occurs
    b = fit_bias(y, 3, l2=0.1)
    assert torch.isfinite(b).all()
    np.testing.assert_allclose(
        b.numpy(), _scipy_optimum_for(y, 3, 0.1), atol=1e-6
    )
    p = scipy_softmax(b.numpy())
    # the penalty keeps the unseen class away from probability 0
    assert 0 < p[2] < 1 / 3


def _scipy_optimum_for(y, K, l2):
    f = np.bincount(y.numpy(), minlength=K) / len(y)
    res = minimize(
        lambda b: -(f * scipy_log_softmax(b)).sum() + l2 * (b**2).sum(),
        np.zeros(K),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    return res.x


# --- fit_with: torch.optim and the gauge -------------------------------------


def _toy(seed=4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(80, 3, generator=gen, dtype=F64)
    y = torch.randint(0, 5, (80,), generator=gen)
    return x, y


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_keeps_both_gauge_components(momentum):
    x, y = _toy()
    head = LinearClassifier(3, 5, seed=1).double()
    w0, b0 = gauge_sums(head)
    log = fit_with(
        head,
        x,
        y,
        torch.optim.SGD(head.parameters(), lr=0.3, momentum=momentum),
        steps=150,
    )
    assert (log.bias_sum - b0).abs().max() < 1e-13
    assert (log.weight_sum - w0).abs().max() < 1e-13
    assert log.loss[-1] < 0.9 * log.loss[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adam(p, lr=0.05),
        lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.01),
    ],
)
def test_adam_moves_the_gauge(make):
    x, y = _toy()
    head = LinearClassifier(3, 5, seed=1).double()
    w0, b0 = gauge_sums(head)
    log = fit_with(head, x, y, make(head.parameters()), steps=150)
    assert (log.bias_sum - b0).abs().max() > 1e-2
    assert (log.weight_sum - w0).abs().max() > 1e-2


def test_sgd_weight_decay_shrinks_the_gauge_geometrically():
    x, y = _toy()
    head = LinearClassifier(3, 5, seed=1).double()
    # move to another gauge: the same model, different sums
    with torch.no_grad():
        head.bias.add_(2.0)
        head.weight.add_(torch.tensor([0.5, -1.0, 0.3], dtype=F64))
    w0, b0 = gauge_sums(head)
    lr, rho, steps = 0.2, 0.05, 100
    log = fit_with(
        head,
        x,
        y,
        torch.optim.SGD(head.parameters(), lr=lr, weight_decay=rho),
        steps=steps,
    )
    decay = (1 - lr * rho) ** torch.arange(1, steps + 1, dtype=F64)
    torch.testing.assert_close(log.bias_sum, b0 * decay, atol=1e-12, rtol=0)
    torch.testing.assert_close(
        log.weight_sum, decay[:, None] * w0, atol=1e-12, rtol=0
    )


def test_gauge_shift_does_not_change_predictions():
    x, _ = _toy()
    head = LinearClassifier(3, 5, seed=1).double()
    z = head(x)
    with torch.no_grad():
        head.bias.add_(1.5)
        # W ↦ W + 1aᵀ
        head.weight.add_(torch.tensor([0.5, -1.0, 0.3], dtype=F64))
    torch.testing.assert_close(
        torch.softmax(head(x), -1), torch.softmax(z, -1), atol=1e-14, rtol=0
    )


def test_fit_with_errors_and_no_bias():
    x, y = _toy()
    head = LinearClassifier(3, 5, bias=False).double()
    log = fit_with(
        head, x, y, torch.optim.SGD(head.parameters(), lr=0.1), steps=3
    )
    assert (
        log.bias_sum is None
        and log.weight_sum.shape == (3, 3)
        and len(log.loss) == 3
    )
    with pytest.raises(TypeError, match="optimizer"):
        fit_with(head, x, y, "sgd", steps=1)
    with pytest.raises(TypeError, match="X"):
        fit_with(head, "x", y, torch.optim.SGD(head.parameters()), steps=1)
    with pytest.raises(ValueError, match="X"):
        fit_with(head, x[0], y, torch.optim.SGD(head.parameters()), steps=1)
    with pytest.raises(ValueError, match="steps"):
        fit_with(
            head, x, y, torch.optim.SGD(head.parameters(), lr=0.1), steps=0
        )
    with pytest.raises(TypeError, match="weight"):
        gauge_sums(torch.nn.Identity())


# --- the scale bounds and the simplex ETF ------------------------------------


def test_max_prob_bound_is_the_softmax_of_the_extreme_logits():
    for s, K in ((1.0, 10), (3.0, 4), (0.0, 7)):
        z = torch.tensor([s] + [-s] * (K - 1), dtype=F64)
        assert (
            abs(max_prob_bound(s, K) - torch.softmax(z, 0)[0].item()) < 1e-15
        )


@pytest.mark.parametrize("K,d", [(3, 2), (10, 9), (10, 64), (4, 7)])
def test_simplex_etf_geometry(K, d):
    E = simplex_etf(K, d)
    assert E.shape == (K, d)
    G = E @ E.T
    torch.testing.assert_close(
        G,
        (1 + 1 / (K - 1)) * torch.eye(K, dtype=F64) - 1 / (K - 1),
        atol=1e-14,
        rtol=0,
    )
    assert E.sum(dim=0).abs().max() < 1e-14


def test_etf_max_prob_matches_a_head_with_etf_weights():
    K, s = 10, 1.0
    head = NormalizedClassifier(64, K, scale=s).double()
    E = simplex_etf(K, 64)
    with torch.no_grad():
        head.weight.copy_(E)
    p = torch.softmax(head(3.0 * E), dim=-1)  # inputs along each class vector
    torch.testing.assert_close(
        p.diagonal(),
        torch.full((K,), etf_max_prob(s, K), dtype=F64),
        atol=1e-14,
        rtol=0,
    )
    assert round(etf_max_prob(1.0, 10), 4) == 0.2524 and etf_max_prob(
        1.0, 10
    ) < max_prob_bound(1.0, 10)
    # for this arrangement, inputs along a class vector are the most
    # confident ones
    x = torch.randn(
        4000, 64, generator=torch.Generator().manual_seed(0), dtype=F64
    )
    assert torch.softmax(head(x), -1).max() < etf_max_prob(s, K)


def test_bound_errors():
    with pytest.raises(ValueError, match="scale"):
        max_prob_bound(-1.0, 10)
    with pytest.raises(ValueError, match="num_classes"):
        etf_max_prob(1.0, 1)
    with pytest.raises(ValueError, match="dim"):
        simplex_etf(10, 8)
