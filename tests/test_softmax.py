"""Tests for lecture_code.softmax: agreement with torch, bad input, extremes
(chapter 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import entropy as scipy_entropy

from lecture_code.softmax import (
    as_logits,
    centre_logits,
    entropy,
    log_softmax,
    logsumexp,
    naive_softmax,
    softmax,
    softmax_jacobian,
)

F64 = torch.float64
finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
logit_rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 7)),
    elements=finite,
)
temperatures = st.floats(0.05, 20.0)


# --- agreement with torch in float64
# ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(z=logit_rows, tau=temperatures)
def test_softmax_matches_torch(z, tau):
    z = torch.tensor(z)
    torch.testing.assert_close(
        softmax(z, temperature=tau),
        torch.softmax(z / tau, dim=-1),
        rtol=1e-12,
        atol=1e-14,
    )


@settings(max_examples=60, deadline=None)
@given(z=logit_rows, tau=temperatures)
def test_log_softmax_matches_torch(z, tau):
    z = torch.tensor(z)
    torch.testing.assert_close(
        log_softmax(z, temperature=tau),
        torch.log_softmax(z / tau, dim=-1),
        rtol=1e-12,
        atol=1e-12,
    )


@settings(max_examples=60, deadline=None)
@given(z=logit_rows)
def test_logsumexp_matches_torch(z):
    z = torch.tensor(z)
    torch.testing.assert_close(
        logsumexp(z), torch.logsumexp(z, dim=-1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_other_axes_match_torch(dim):
    z = torch.randn(
        3, 5, dtype=F64, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(softmax(z, dim=dim), torch.softmax(z, dim=dim))
    torch.testing.assert_close(
        log_softmax(z, dim=dim), torch.log_softmax(z, dim=dim)
    )
    torch.testing.assert_close(
        logsumexp(z, dim=dim), torch.logsumexp(z, dim=dim)
    )


def test_numpy_integer_dim_is_accepted():
    z = torch.randn(2, 3, dtype=F64)
    torch.testing.assert_close(
        softmax(z, dim=np.int64(0)), torch.softmax(z, dim=0)
    )


def test_gradients_match_torch():
    z = torch.randn(
        4,
        6,
        dtype=F64,
        generator=torch.Generator().manual_seed(2),
        requires_grad=True,
    )
    w = torch.randn(
        4, 6, dtype=F64, generator=torch.Generator().manual_seed(3)
    )
    for ours, ref in [
        (softmax, torch.softmax),
        (log_softmax, torch.log_softmax),
    ]:
        (g_ours,) = torch.autograd.grad(
            (ours(z, temperature=0.7) * w).sum(), z
        )
        (g_ref,) = torch.autograd.grad((ref(z / 0.7, dim=-1) * w).sum(), z)
        torch.testing.assert_close(g_ours, g_ref)
    (g_lse,) = torch.autograd.grad(logsumexp(z).sum(), z)
    # ∇ LSE = softmax
    torch.testing.assert_close(g_lse, torch.softmax(z, dim=-1))


# --- the Jacobian
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("K", [1, 2, 3, 7])
def test_jacobian_matches_autograd(K):
    z = torch.randn(K, dtype=F64, generator=torch.Generator().manual_seed(K))
    J_auto = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, dim=-1), z
    )
    torch.testing.assert_close(
        softmax_jacobian(z), J_auto, rtol=1e-12, atol=1e-14
    )
    torch.testing.assert_close(
        softmax_jacobian(p=torch.softmax(z, dim=-1)),
        J_auto,
        rtol=1e-12,
        atol=1e-14,
    )


def test_jacobian_batched_and_structure():
    z = torch.randn(
        5, 4, dtype=F64, generator=torch.Generator().manual_seed(4)
    )
    J = softmax_jacobian(z)  # (5, 4, 4)
    assert J.shape == (5, 4, 4)
    for b in range(5):
        J_auto = torch.autograd.functional.jacobian(lambda t: softmax(t), z[b])
        torch.testing.assert_close(J[b], J_auto)
    torch.testing.assert_close(J, J.transpose(-1, -2))  # symmetric
    # 1 is in the kernel
    torch.testing.assert_close(
        J @ torch.ones(4, dtype=F64), torch.zeros(5, 4, dtype=F64)
    )
    assert (torch.linalg.matrix_rank(J) == 3).all()  # rank K - 1


def test_jacobian_row_of_the_source():
    # seed 002 prints d p_1 / d z for z = (1, 2, 3); the last entry rounds to
    # -0.0599, not -0.0598.
    row = softmax_jacobian(torch.tensor([1.0, 2.0, 3.0], dtype=F64))[0]
    assert np.round(row.numpy(), 4).tolist() == [0.0819, -0.022, -0.0599]


def test_jacobian_argument_errors():
    with pytest.raises(TypeError, match="exactly one"):
        softmax_jacobian()
    with pytest.raises(TypeError, match="exactly one"):
        softmax_jacobian(torch.zeros(3), p=torch.ones(3) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        softmax_jacobian(p=torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="p must be non-negative"):
        softmax_jacobian(p=torch.tensor([1.5, -0.5]))


# --- properties
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(z=logit_rows, c=st.floats(-1e3, 1e3))
def test_shift_invariance(z, c):
    z = torch.tensor(z)
    torch.testing.assert_close(
        softmax(z + c), softmax(z), rtol=1e-9, atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(z=arrays(np.float64, 6, elements=st.floats(-20, 20)))
def test_order_is_never_reversed(z):
    # In floating point two logits closer than the rounding step (hypothesis
    # found 1e-35 vs 0) get the same probability, so only the weak form z_i >
    # z_j ⇒ p_i >= p_j survives.
    p = softmax(torch.tensor(z)).numpy()
    bigger = z[:, None] > z[None, :]
    assert (p[:, None] >= p[None, :])[bigger].all()


@settings(max_examples=60, deadline=None)
@given(k=arrays(np.int64, 6, elements=st.integers(-80, 80), unique=True))
def test_order_is_preserved_for_separated_logits(k):
    z = k / 4.0  # distinct logits at least 0.25 apart
    p = softmax(torch.tensor(z)).numpy()
    assert (np.argsort(z) == np.argsort(p)).all()


def test_argmax_limit():
    z = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    assert softmax(z, temperature=1e-3).tolist() == [0.0, 0.0, 1.0]
    tie = softmax(torch.tensor([3.0, 3.0, 1.0], dtype=F64), temperature=1e-3)
    # ties share the mass
    torch.testing.assert_close(tie, torch.tensor([0.5, 0.5, 0.0], dtype=F64))
    flat = softmax(z, temperature=1e6)
    torch.testing.assert_close(
        flat, torch.full((3,), 1 / 3, dtype=F64), rtol=1e-5, atol=1e-6
    )


def test_seed_worked_example():
    z = np.array([1.0, 2.0, 3.0])  # float64 in, float64 out
    assert np.round(softmax(z).numpy(), 4).tolist() == [0.09, 0.2447, 0.6652]
    assert np.round(log_softmax(z).numpy(), 4).tolist() == [
        -2.4076,
        -1.4076,
        -0.4076,
    ]


# --- bad input and extremes
# -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logits_of_magnitude_1e4(dtype):
    z = torch.tensor([1e4, 0.0, -1e4], dtype=dtype)
    p = softmax(z)
    assert p.dtype == dtype and torch.isfinite(p).all()
    # exp(-1e4) underflows to exactly 0 in both dtypes
    assert p.tolist() == [1.0, 0.0, 0.0]
    torch.testing.assert_close(p, torch.softmax(z, dim=-1))
    lp = log_softmax(z)
    # finite, where log(p) would give -inf
    assert lp.tolist() == [0.0, -1e4, -2e4]
    torch.testing.assert_close(lp, torch.log_softmax(z, dim=-1))
    assert torch.isneginf(torch.log(p)).sum() == 2
    assert logsumexp(z).item() == 1e4
    # all large, differences small
    near = torch.tensor([1e4, 1e4 - 1, 1e4 - 2], dtype=dtype)
    torch.testing.assert_close(
        softmax(near), softmax(torch.tensor([2.0, 1.0, 0.0], dtype=dtype))
    )
    # the naive formula overflows
    assert torch.isnan(naive_softmax(near)).all()


def test_naive_softmax_overflow_and_agreement():
    assert torch.isnan(naive_softmax([1000.0, 1001.0, 1002.0])).all()
    z = torch.randn(
        3, 4, dtype=F64, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(naive_softmax(z), torch.softmax(z, dim=-1))


def test_float32_rounds_tiny_probability_to_zero():
    z32 = torch.tensor([10.0, 0.0, -100.0])
    p32 = softmax(z32)
    # e^-110 ≈ 1.7e-48 is below the smallest float32 (1.4e-45)
    assert p32[2].item() == 0.0
    assert softmax(z32.double())[2].item() > 0.0
    assert torch.isneginf(torch.log(p32)[2])
    assert math.isclose(log_softmax(z32)[2].item(), -110.0, rel_tol=1e-6)


def test_minus_inf_mask():
    z = torch.tensor(
        [[1.0, -math.inf, 2.0, 0.5], [-math.inf, 0.0, -math.inf, -math.inf]],
        dtype=F64,
    )
    p = softmax(z)
    assert p[0, 1].item() == 0.0 and p[1].tolist() == [0.0, 1.0, 0.0, 0.0]
    torch.testing.assert_close(p, torch.softmax(z, dim=-1))
    # masked = removed
    torch.testing.assert_close(p[0, [0, 2, 3]], softmax(z[0, [0, 2, 3]]))
    torch.testing.assert_close(log_softmax(z), torch.log_softmax(z, dim=-1))
    torch.testing.assert_close(logsumexp(z), torch.logsumexp(z, dim=-1))
    zg = z.clone().requires_grad_(True)
    (softmax(zg)[:, 1].sum()).backward()
    assert torch.isfinite(zg.grad).all()


@pytest.mark.parametrize("fn", [softmax, log_softmax, logsumexp])
def test_all_minus_inf_row_raises(fn):
    z = torch.tensor([[0.0, 1.0], [-math.inf, -math.inf]])
    with pytest.raises(ValueError, match="all -inf"):
        fn(z)


@pytest.mark.parametrize("fn", [softmax, log_softmax, logsumexp])
def test_nan_raises(fn):
    with pytest.raises(ValueError, match="NaN"):
        fn(torch.tensor([0.0, float("nan"), 1.0]))


def test_plus_inf_raises():
    with pytest.raises(ValueError, match=r"\+inf"):
        softmax(torch.tensor([0.0, math.inf]))


@pytest.mark.parametrize("fn", [softmax, log_softmax, logsumexp])
def test_empty_category_axis_raises(fn):
    with pytest.raises(ValueError, match="empty"):
        fn(torch.empty(0))
    with pytest.raises(ValueError, match="empty"):
        fn(torch.empty(3, 0))


def test_empty_batch_is_fine():
    z = torch.empty(0, 3)
    assert (
        softmax(z).shape == (0, 3)
        and log_softmax(z).shape == (0, 3)
        and logsumexp(z).shape == (0,)
    )


def test_scalar_raises():
    with pytest.raises(ValueError, match="at least one dimension"):
        softmax(torch.tensor(1.0))


def test_integer_tensors_are_converted():
    zi = torch.tensor([1, 2, 3])
    p = softmax(zi)
    assert p.dtype == torch.get_default_dtype()
    torch.testing.assert_close(p, torch.softmax(zi.float(), dim=-1))
    torch.testing.assert_close(
        log_softmax(zi), torch.log_softmax(zi.float(), dim=-1)
    )
    torch.testing.assert_close(
        logsumexp(np.array([1, 2, 3])), torch.logsumexp(zi.float(), dim=-1)
    )
    assert softmax([1, 2, 3]).dtype == torch.get_default_dtype()


@pytest.mark.parametrize(
    "fn", [softmax, log_softmax, logsumexp, naive_softmax]
)
def test_wrong_dim(fn):
    with pytest.raises(ValueError, match="out of range"):
        fn(torch.zeros(2, 3), dim=2)
    with pytest.raises(ValueError, match="out of range"):
        fn(torch.zeros(2, 3), dim=-3)
    with pytest.raises(TypeError, match="dim must be an int"):
        fn(torch.zeros(2, 3), dim=1.0)
    with pytest.raises(TypeError, match="dim must be an int"):
        fn(torch.zeros(2, 3), dim=True)


@pytest.mark.parametrize("tau", [0, 0.0, -1.0, math.inf, math.nan])
def test_bad_temperature_values(tau):
    with pytest.raises(ValueError, match="temperature"):
        softmax([1.0, 2.0], temperature=tau)
    with pytest.raises(ValueError, match="temperature"):
        log_softmax([1.0, 2.0], temperature=tau)


@pytest.mark.parametrize("tau", ["1", None, True, [1.0]])
def test_bad_temperature_types(tau):
    with pytest.raises(TypeError, match="temperature"):
        softmax([1.0, 2.0], temperature=tau)


def test_temperature_accepts_numpy_and_tensor():
    ref = softmax([1.0, 2.0, 3.0], temperature=0.5)
    torch.testing.assert_close(
        softmax([1.0, 2.0, 3.0], temperature=np.float32(0.5)), ref
    )
    torch.testing.assert_close(
        softmax([1.0, 2.0, 3.0], temperature=torch.tensor(0.5)), ref
    )
    with pytest.raises(ValueError, match="single number"):
        softmax([1.0, 2.0], temperature=torch.tensor([0.5, 1.0]))


def test_tiny_temperature_gives_one_hot_not_nan():
    z = torch.tensor([1.0, 2.0, 3.0])  # float32: z / 1e-39 overflows to inf
    # the unshifted division breaks
    assert torch.isnan(torch.softmax(z / 1e-39, dim=-1)).all()
    assert softmax(z, temperature=1e-39).tolist() == [0.0, 0.0, 1.0]
    lp = log_softmax(z, temperature=1e-39)
    assert lp[2].item() == 0.0 and not torch.isnan(lp).any()


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        b"xy",
        [1.0, "a"],
        torch.tensor([True, False]),
        torch.tensor([1j, 2j]),
    ],
)
def test_non_numeric_input_raises(bad):
    with pytest.raises(TypeError):
        softmax(bad)


def test_as_logits():
    t = as_logits([1, 2])
    assert t.is_floating_point()
    z = torch.tensor([1.0], dtype=F64)
    assert as_logits(z) is z  # floating tensors pass through untouched


# --- entropy
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(z=arrays(np.float64, st.integers(1, 8), elements=finite))
def test_entropy_matches_scipy(z):
    p = torch.softmax(torch.tensor(z), dim=-1)
    assert math.isclose(
        entropy(p).item(),
        scipy_entropy(p.numpy()),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def test_entropy_special_points():
    assert entropy([1.0, 0.0, 0.0]).item() == 0.0  # 0 log 0 = 0, no NaN
    assert math.isclose(
        entropy(torch.full((5,), 0.2, dtype=F64)).item(),
        math.log(5),
        rel_tol=1e-12,
    )
    torch.testing.assert_close(
        entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=F64)),
        torch.tensor([math.log(2), 0.0], dtype=F64),
    )


def test_entropy_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        entropy([0.5, -0.1, 0.6])
    with pytest.raises(ValueError, match="NaN"):
        entropy([0.5, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        entropy(torch.empty(0))


def test_centre_logits_is_the_gauge_representative():
    z = torch.tensor([[1.0, 2.0, 6.0], [0.0, -3.0, 3.0]], dtype=torch.float64)
    c = centre_logits(z)
    torch.testing.assert_close(c.sum(-1), torch.zeros(2, dtype=z.dtype))
    # the same point of the simplex, and z - c is a multiple of 1
    torch.testing.assert_close(softmax(c), softmax(z))
    assert ((z - c) - (z - c)[:, :1]).abs().max() == 0
    # on log p it inverts softmax: the centred log-ratio
    p = softmax(z)
    torch.testing.assert_close(softmax(centre_logits(torch.log(p))), p)
    torch.testing.assert_close(centre_logits(torch.log(p)), c)
    torch.testing.assert_close(centre_logits(z.T, dim=0), c.T)  # another axis


def test_centre_logits_errors():
    with pytest.raises(ValueError, match="finite"):
        centre_logits([0.0, -math.inf])
    with pytest.raises(TypeError, match="z must be"):
        centre_logits("abc")
