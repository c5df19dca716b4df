"""Tests for lecture_code.classifier: cosine logits, the linear head, training helpers (chapter 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax
from sklearn.metrics.pairwise import cosine_similarity

from lecture_code.classifier import LinearClassifier, NormalizedClassifier, fit, fit_bias

F64 = torch.float64


def _x(n=20, d=8, seed=0, dtype=torch.float32):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- NormalizedClassifier ---------------------------------------------------------------------


def test_cosines_match_sklearn():
    head = NormalizedClassifier(8, 5, scale=3.0, seed=1).double()
    x = _x(dtype=F64)
    ref = cosine_similarity(x.numpy(), head.weight.detach().numpy())  # (20, 5)
    np.testing.assert_allclose(head.cosines(x).detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(head(x).detach().numpy(), 3.0 * ref, rtol=1e-12, atol=1e-12)


def test_logits_lie_in_minus_s_to_s():
    for s in (1.0, 16.0, 30.0):
        z = NormalizedClassifier(8, 5, scale=s)(_x(200))
        assert z.abs().max().item() <= s


def test_input_along_a_class_vector_gets_logit_s():
    head = NormalizedClassifier(8, 5, scale=7.0).double()
    w = head.weight.detach()
    z = head(2.5 * w)  # each row points along one class vector
    torch.testing.assert_close(torch.diagonal(z), torch.full((5,), 7.0, dtype=F64))
    torch.testing.assert_close(head(-w).diagonal(), torch.full((5,), -7.0, dtype=F64))


def test_invariant_to_input_and_weight_norms():
    head = NormalizedClassifier(8, 5, scale=4.0).double()
    x = _x(dtype=F64)
    z = head(x)
    torch.testing.assert_close(head(10.0 * x), z)
    with torch.no_grad():
        head.weight.mul_(torch.arange(1, 6, dtype=F64)[:, None])  # rescale each class vector
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
    torch.testing.assert_close(a.weight, NormalizedClassifier(8, 5, seed=7).weight)
    assert not torch.equal(a.weight, NormalizedClassifier(8, 5, seed=8).weight)


@pytest.mark.parametrize("scale", [0, -1.0, float("inf"), float("nan"), "16", True])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        NormalizedClassifier(8, 5, scale=scale)


@pytest.mark.parametrize("cls", [NormalizedClassifier, LinearClassifier])
def test_bad_sizes_and_inputs(cls):
    with pytest.raises(ValueError, match="in_features"):
        cls(0, 5)
    with pytest.raises(ValueError, match="num_classes"):
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


# --- LinearClassifier -------------------------------------------------------------------------


def test_linear_head_matches_formula_and_decomposition():
    head = LinearClassifier(8, 5, seed=2).double()
    with torch.no_grad():
        head.bias.copy_(torch.arange(5, dtype=F64))
    x = _x(dtype=F64)
    W, b = head.weight.detach(), head.bias.detach()
    torch.testing.assert_close(head(x), x @ W.T + b)
    # without the bias the logit is ‖w_k‖ ‖x‖ cos θ_k
    nobias = LinearClassifier(8, 5, bias=False, seed=2).double()
    cos = torch.tensor(cosine_similarity(x.numpy(), W.numpy()))
    torch.testing.assert_close(nobias(x), x.norm(dim=1, keepdim=True) * W.norm(dim=1) * cos)


# --- fit ----------------------------------------------------------------------------------------


def test_fit_lowers_the_loss_and_is_deterministic():
    x = _x(60, 4, seed=3)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    runs = []
    for _ in range(2):
        head = NormalizedClassifier(4, 3, scale=8.0, seed=0)
        runs.append(fit(head, x, y, steps=60, lr=0.1))
    assert runs[0] == runs[1]
    assert runs[0][-1] < 0.7 * runs[0][0]


def test_fit_rejects_bad_labels():
    head = LinearClassifier(4, 3)
    with pytest.raises(ValueError, match="0..2"):
        fit(head, _x(5, 4), torch.tensor([0, 1, 2, 3, 0]), steps=1)
    with pytest.raises(ValueError, match="labels but X has"):
        fit(head, _x(5, 4), torch.tensor([0, 1]), steps=1)
    with pytest.raises(TypeError, match="int64"):
        fit(head, _x(5, 4), torch.zeros(5), steps=1)


# --- fit_bias: the gauge and L2 --------------------------------------------------------------


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

    return full(minimize(objective, np.zeros(len(free)), method="BFGS", options={"gtol": 1e-10}).x)


@pytest.mark.parametrize("fixed", [None, 0, 2])
def test_penalized_optimum_matches_scipy(fixed):
    b = fit_bias(Y, 3, l2=0.05, fixed=fixed).numpy()
    np.testing.assert_allclose(b, _scipy_optimum(0.05, fixed), atol=1e-6)


def test_penalized_optimum_depends_on_the_gauge():
    p = {fx: scipy_softmax(fit_bias(Y, 3, l2=0.05, fixed=fx).numpy()) for fx in (None, 0, 2)}
    assert np.abs(p[None] - p[0]).max() > 0.03 and np.abs(p[None] - p[2]).max() > 0.03
    # all K free: the CE gradient is orthogonal to 1, so the penalty drives Σ b_k to 0
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
    np.testing.assert_allclose(b.numpy(), _scipy_optimum_for(y, 3, 0.1), atol=1e-6)
    p = scipy_softmax(b.numpy())
    assert 0 < p[2] < 1 / 3  # the penalty keeps the unseen class away from probability 0


def _scipy_optimum_for(y, K, l2):
    f = np.bincount(y.numpy(), minlength=K) / len(y)
    res = minimize(lambda b: -(f * scipy_log_softmax(b)).sum() + l2 * (b**2).sum(), np.zeros(K),
                   method="BFGS", options={"gtol": 1e-10})
    return res.x
