"""Tests of lecture_code.fisher_hessian: the Hessian of the cross-entropy is
the Gauss–Newton (Fisher) matrix plus the residual term (eq-fisher-hessian)."""

import pytest
import torch

from lecture_code.convexity import softmax_regression_hessian
from lecture_code.fisher_hessian import (
    cross_entropy_hessian,
    hessian_residual,
    linear_logits,
    tanh_mlp_logits,
)
from lecture_code.natgrad import gauss_newton


@pytest.fixture
def toy():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=gen)
    return X, y, gen


def test_tanh_mlp_logits_equal_torch_layers(toy):
    X, _, gen = toy
    xi = torch.randn(31, generator=gen, dtype=torch.float64)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)
    ).double()
    torch.nn.utils.vector_to_parameters(xi, net.parameters())
    with torch.no_grad():
        torch.testing.assert_close(tanh_mlp_logits(xi, X), net(X))
    with pytest.raises(ValueError, match="hidden·\\(D\\+1\\)"):
        tanh_mlp_logits(xi[:30], X)


def test_linear_logits_equal_a_linear_layer(toy):
    X, _, gen = toy
    xi = torch.randn(12, generator=gen, dtype=torch.float64)
    W = xi.reshape(3, 4)
    torch.testing.assert_close(linear_logits(xi, X), X @ W[:, :3].T + W[:, 3])
    with pytest.raises(ValueError, match="K·\\(D\\+1\\)"):
        linear_logits(xi[:10], X)


def test_hessian_is_gauss_newton_plus_residual_for_the_mlp(toy):
    X, y, gen = toy
    xi = torch.randn(31, generator=gen, dtype=torch.float64)
    H = cross_entropy_hessian(tanh_mlp_logits, xi, X, y)

    # an independent second derivative: central differences of the gradient
    def grad(t):
        t = t.clone().requires_grad_()
        loss = torch.nn.functional.cross_entropy(tanh_mlp_logits(t, X), y)
        return torch.autograd.grad(loss, t)[0]

    h = 1e-5
    ref = torch.stack(
        [
            (grad(xi + h * e) - grad(xi - h * e)) / (2 * h)
            for e in torch.eye(31)
        ]
    )
    torch.testing.assert_close(H, ref, atol=1e-8, rtol=0)
    G = gauss_newton(tanh_mlp_logits, xi, X)
    R = hessian_residual(tanh_mlp_logits, xi, X, y)
    torch.testing.assert_close(H, G + R, atol=1e-12, rtol=0)
    assert R.abs().max() > 1e-2  # a curved model: the residual term matters


def test_linear_model_hessian_is_the_fisher(toy):
    X, y, gen = toy
    xi = torch.randn(12, generator=gen, dtype=torch.float64)
    W = xi.reshape(3, 4)
    H = cross_entropy_hessian(linear_logits, xi, X, y)
    torch.testing.assert_close(
        H,
        softmax_regression_hessian(W[:, :3], W[:, 3], X, 0.0),
        atol=1e-12,
        rtol=0,
    )
    torch.testing.assert_close(
        hessian_residual(linear_logits, xi, X, y),
        torch.zeros(12, 12, dtype=torch.float64),
        atol=1e-14,
        rtol=0,
    )


def test_errors(toy):
    X, y, gen = toy
    xi = torch.randn(12, generator=gen, dtype=torch.float64)
    with pytest.raises(TypeError, match="logits_fn must be a function"):
        cross_entropy_hessian("linear", xi, X, y)
    with pytest.raises(ValueError, match="y must have shape"):
        hessian_residual(linear_logits, xi, X, y[:5])
    with pytest.raises(ValueError, match="xi must have"):
        cross_entropy_hessian(linear_logits, xi[None], X, y)
