"""Tests for lecture_code.validate: each validator's accepted kinds and
errors, and the promise that the same mistake gets the same exception and
the same message from every public function."""

import math

import numpy as np
import pytest
import torch

from lecture_code import validate as v
from lecture_code.classifier import NormalizedClassifier
from lecture_code.convexity import (
    classification_margins,
    gradient_descent_on_logits,
    lse_hessian,
)
from lecture_code.discrete import gumbel_noise, gumbel_softmax, relaxed_grads
from lecture_code.dual import mirror_descent_step, natural_gradient_step_free
from lecture_code.fisher import (
    categorical_fisher,
    check_interior,
    kl_divergence,
    monte_carlo_fisher,
)
from lecture_code.maxent import kl_to_uniform, solve_conditional_maxent
from lecture_code.natgrad import gnb_diag, hutchinson_diag, per_sample_grads
from lecture_code.optim import adam_step
from lecture_code.simplex import check_simplex, smooth_labels
from lecture_code.softmax import log_softmax, softmax, softmax_jacobian
from lecture_code.temperature import (
    distillation_loss,
    entropy_tau_derivative,
    fisher_information_lambda,
    label_smoothing_logits,
    reliability_bins,
    shuffle_non_target,
    soft_target_loss,
)
from lecture_code.vonmises import von_mises_density

Z = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64)
Y = torch.tensor([0, 2])


# --- the validators one by one
# ------------------------------------------------------------------


@pytest.mark.parametrize(
    "x",
    [
        0.5,
        1,
        np.float32(0.5),
        np.float64(0.5),
        np.int64(2),
        torch.tensor(0.5),
        np.array(0.5),
    ],
)
def test_number_accepts_python_numpy_and_one_element_tensors(x):
    assert v.number(x, "x") == float(x) and isinstance(v.number(x, "x"), float)


@pytest.mark.parametrize(
    "x, exc, match",
    [
        (True, TypeError, "x must be a number, got bool"),
        (np.bool_(True), TypeError, "x must be a number, got bool"),
        ("1", TypeError, "x must be a number, got str"),
        (None, TypeError, "x must be a number, got NoneType"),
        (
            torch.ones(2),
            ValueError,
            r"x must be a single number, got an array of shape \(2,\)",
        ),
        (float("nan"), ValueError, "x must be a finite number, got nan"),
        (math.inf, ValueError, "x must be a finite number, got inf"),
    ],
)
def test_number_errors(x, exc, match):
    with pytest.raises(exc, match=match):
        v.number(x, "x")


def test_positive_and_interval():
    assert (
        v.positive(np.float32(0.25), "tau") == 0.25
        and v.positive(0, "lam", allow_zero=True) == 0.0
    )
    for bad, msg in [
        (0, "tau must be a finite number > 0, got 0"),
        (-1.0, "tau must be a finite number > 0, got -1.0"),
        (math.inf, "tau must be a finite number > 0, got inf"),
    ]:
        with pytest.raises(ValueError, match=msg):
            v.positive(bad, "tau")
    with pytest.raises(
        ValueError, match="lam must be a finite number >= 0, got -1"
    ):
        v.positive(-1, "lam", allow_zero=True)
    with pytest.raises(TypeError, match="tau must be a number, got str"):
        v.positive("1", "tau")
    assert v.in_interval(1.0, "top_p", 0.0, 1.0, closed="right") == 1.0
    with pytest.raises(
        ValueError, match=r"top_p must be a number in \(0, 1\], got 0.0"
    ):
        v.in_interval(0.0, "top_p", 0.0, 1.0, closed="right")
    with pytest.raises(
        ValueError, match=r"w must be a number in \[0, 1\), got 1"
    ):
        v.in_interval(1, "w", 0.0, 1.0, closed="left")


def test_integer_and_positive_int():
    assert (
        v.positive_int(np.int32(3), "n") == 3
        and type(v.positive_int(np.int32(3), "n")) is int
    )
    assert v.integer(0, "n", minimum=0) == 0
    for bad, exc, msg in [
        (2.5, TypeError, "n must be an integer, got float"),
        (True, TypeError, "n must be an integer, got bool"),
        ("3", TypeError, "n must be an integer, got str"),
        (0, ValueError, "n must be a positive integer, got 0"),
    ]:
        with pytest.raises(exc, match=msg):
            v.positive_int(bad, "n")
    with pytest.raises(ValueError, match="k must be an integer >= 2, got 1"):
        v.integer(1, "k", minimum=2)
    with pytest.raises(
        ValueError, match=r"k must be an integer in \[0, 3\], got 4"
    ):
        v.integer(4, "k", minimum=0, maximum=3)


def test_flag_choice_generator_function():
    assert v.flag(np.bool_(True), "hard") is True
    with pytest.raises(TypeError, match="hard must be True or False, got 1"):
        v.flag(1, "hard")
    assert v.choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(
        ValueError, match=r"mode must be one of \('a', 'b'\), got 'c'"
    ):
        v.choice("c", "mode", ("a", "b"))
    g = torch.Generator()
    assert v.generator(g) is g and v.generator(None) is None
    with pytest.raises(
        TypeError, match="generator must be a torch.Generator or None, got int"
    ):
        v.generator(0)
    with pytest.raises(
        TypeError, match="rng must be a torch.Generator, got NoneType"
    ):
        v.generator(None, "rng", optional=False)
    with pytest.raises(
        TypeError, match="f must be a function x -> y, got str"
    ):
        v.function("f", "f", "x -> y")


def test_as_tensor_and_as_array():
    assert v.as_tensor([1, 2], "z").dtype == torch.get_default_dtype()
    assert v.as_tensor([1.0], "z", dtype=torch.float64).dtype == torch.float64
    t = torch.zeros(2, dtype=torch.float64)
    assert v.as_tensor(t, "z") is t  # floating tensors pass through
    assert v.as_tensor(torch.tensor([1, 2]), "z").is_floating_point()
    for bad, exc, msg in [
        (
            "ab",
            TypeError,
            "z must be a tensor or an array of numbers, got str",
        ),
        (
            torch.tensor([True]),
            TypeError,
            "z must hold real numbers, got dtype torch.bool",
        ),
        (
            [[1, 2], [3]],
            TypeError,
            "z must be a tensor or an array of numbers",
        ),
    ]:
        with pytest.raises(exc, match=msg):
            v.as_tensor(bad, "z")
    with pytest.raises(
        ValueError, match=r"z must have 2 dimensions, got shape \(3,\)"
    ):
        v.as_tensor(torch.zeros(3), "z", ndim=2)
    with pytest.raises(
        ValueError, match=r"z must be finite \(no NaN or inf\)"
    ):
        v.as_tensor([0.0, math.inf], "z", finite=True)
    with pytest.raises(ValueError, match="z contains NaN"):
        v.as_tensor([0.0, math.nan], "z", nan=False)
    # inf allowed unless finite=True
    assert v.as_tensor([0.0, math.inf], "z", nan=False)[1] == math.inf
    a = v.as_array(torch.tensor([1.0, 2.0], requires_grad=True), "p")
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert isinstance(
        v.to_numpy(torch.ones(2, requires_grad=True)), np.ndarray
    )
    with pytest.raises(ValueError, match="p contains NaN"):
        v.as_array([math.nan], "p")
    with pytest.raises(
        ValueError,
        match=r"p must have a last axis of length K >= 1, got shape \(0,\)",
    ):
        v.as_array([], "p")
    with pytest.raises(
        TypeError, match="p must be an array of numbers, got str"
    ):
        v.as_array("ab", "p")


def test_axis_and_logits():
    assert v.axis(torch.zeros(2, 3), np.int64(0), "z") == 0
    with pytest.raises(TypeError, match="dim must be an integer, got float"):
        v.axis(torch.zeros(3), 0.0, "z")
    with pytest.raises(
        ValueError, match=r"dim=2 is out of range for z with shape \(3,\)"
    ):
        v.axis(torch.zeros(3), 2, "z")
    with pytest.raises(
        ValueError, match="z must have at least one dimension, got a scalar"
    ):
        v.axis(torch.tensor(1.0), -1, "z")
    with pytest.raises(ValueError, match="z is empty along dim=-1"):
        v.axis(torch.zeros(2, 0), -1, "z")
    z, d = v.logits([0.0, -math.inf], "z")
    assert d == -1 and z[1] == -math.inf
    for bad, msg in [
        ([0.0, math.nan], "z contains NaN"),
        ([0.0, math.inf], r"z contains \+inf"),
        ([-math.inf, -math.inf], "z has a row that is all -inf"),
    ]:
        with pytest.raises(ValueError, match=msg):
            v.logits(bad, "z")


def test_probabilities_tolerance_policy():
    assert v.prob_atol(torch.float64) == pytest.approx(2**-26) and v.prob_atol(
        torch.float32
    ) == pytest.approx(2**-11.5)
    p = v.probabilities([0.5, 0.5 + 1e-9])  # within √ε of float64
    assert isinstance(p, np.ndarray)
    t = torch.tensor([0.5, 0.5 + 1e-4])  # float32: within √ε = 3.5e-4
    assert v.probabilities(t) is t
    with pytest.raises(
        ValueError,
        match="p must sum to 1 along the last axis, got a sum of 1.0001",
    ):
        # the same numbers in float64 are off by far more than √ε
        v.probabilities(t.double())
    with pytest.raises(
        ValueError, match="p must be non-negative, got a minimum entry of -0.5"
    ):
        v.probabilities([1.5, -0.5])
    with pytest.raises(ValueError, match="p contains NaN"):
        v.probabilities([math.nan, 1.0])
    assert v.probabilities([2.0, 0.0], normalized=False)[0] == 2.0
    with pytest.raises(
        ValueError, match="p lies on the boundary of the simplex"
    ):
        v.probabilities([1.0, 0.0], interior=True)
    with pytest.raises(ValueError, match="p needs K >= 2 categories"):
        v.probabilities([1.0], interior=True)


def test_labels():
    assert v.labels(np.array([0, 2]), 2, 3).dtype == torch.int64 and v.labels(
        [1], None, 2
    ).tolist() == [1]
    for bad, exc, msg in [
        (
            torch.tensor([0.0, 1.0], dtype=torch.float64),
            TypeError,
            "y must hold integer class labels, got dtype torch.float64",
        ),
        (
            [True, False],
            TypeError,
            "y must hold integer class labels, got dtype torch.bool",
        ),
        ("ab", TypeError, "y must hold integer class labels, got str"),
        ([0, 1, 1], ValueError, r"y must have shape \(2,\), got \(3,\)"),
        ([0, 3], ValueError, "y must lie in 0..2, got values from 0 to 3"),
    ]:
        with pytest.raises(exc, match=msg):
            v.labels(bad, 2, 3)


# --- the same mistake, the same answer, everywhere
# --------------------------------------------

TAU_CALLS = {
    "softmax": lambda tau: softmax(Z, temperature=tau),
    "log_softmax": lambda tau: log_softmax(Z, temperature=tau),
    "gumbel_softmax": lambda tau: gumbel_softmax(
        Z, tau, generator=torch.Generator().manual_seed(0)
    ),
    "entropy_tau_derivative": lambda tau: entropy_tau_derivative(Z, tau),
    "soft_target_loss": lambda tau: soft_target_loss(Z, Z, tau),
    "label_smoothing_logits": lambda tau: label_smoothing_logits(
        Y, 3, 0.5, tau
    ),
    "relaxed_grads": lambda tau: relaxed_grads(
        Z[0], lambda y: y[:, 0], tau, 2
    ),
}


@pytest.mark.parametrize("name", TAU_CALLS)
def test_a_numpy_temperature_is_a_number_everywhere(name):
    TAU_CALLS[name](np.float32(0.5))  # accepted wherever 0.5 is
    TAU_CALLS[name](np.int64(2))


def _error(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    # softmax calls its τ "temperature"
    return info.type, str(info.value).replace("temperature", "tau")


@pytest.mark.parametrize(
    "bad", [0.0, -1.0, math.nan, True, "0.5", torch.ones(2)]
)
def test_a_bad_temperature_gets_one_answer(bad):
    answers = {
        name: _error(lambda: call(bad)) for name, call in TAU_CALLS.items()
    }
    assert len(set(answers.values())) == 1, answers


@pytest.mark.parametrize(
    "bad, answer",
    [
        (-1.0, (ValueError, "lr must be a finite number > 0, got -1.0")),
        (0, (ValueError, "lr must be a finite number > 0, got 0")),
        (True, (TypeError, "lr must be a number, got bool")),
    ],
)
def test_a_bad_step_size_gets_one_answer(bad, answer):
    calls = {
        "natural_gradient_step_free": lambda: natural_gradient_step_free(
            [0.0, 1.0], [0.1, 0.2], bad
        ),
        "mirror_descent_step": lambda: mirror_descent_step(
            [0.2, 0.3, 0.5], [0.1, 0.2], bad
        ),
        "adam_step": lambda: adam_step(
            torch.zeros(2), torch.ones(2), {}, lr=bad
        ),
        "gradient_descent_on_logits": lambda: gradient_descent_on_logits(
            [0.0, 1.0], [0.5, 0.5], lr=bad, steps=2
        ),
    }
    for name, call in calls.items():
        assert _error(call) == answer, name


def test_float_labels_get_one_answer():
    yf = torch.tensor([0.0, 2.0], dtype=torch.float64)
    calls = {
        "distillation_loss": (
            lambda: distillation_loss(Z, Z, yf, 2.0),
            "labels",
        ),
        "reliability_bins": (
            lambda: reliability_bins(softmax(Z), yf),
            "labels",
        ),
        "shuffle_non_target": (
            lambda: shuffle_non_target(Z, yf, torch.Generator()),
            "labels",
        ),
        "classification_margins": (
            lambda: classification_margins(
                torch.zeros(3, 2), torch.zeros(3), Z[:, :2], yf
            ),
            "y",
        ),
        "per_sample_grads": (lambda: per_sample_grads(Z, softmax(Z), yf), "y"),
        "solve_conditional_maxent": (
            lambda: solve_conditional_maxent(np.ones((2, 3, 1)), yf),
            "y",
        ),
        "smooth_labels": (lambda: smooth_labels(yf, 3, 0.1), "y"),
    }
    for name, (call, arg) in calls.items():
        assert _error(call) == (
            TypeError,
            f"{arg} must hold integer class labels, got dtype torch.float64",
        ), name


@pytest.mark.parametrize(
    "bad, answer",
    [
        (2.5, (TypeError, "{} must be an integer, got float")),
        (0, (ValueError, "{} must be a positive integer, got 0")),
        (np.int64(0), (ValueError, "{} must be a positive integer, got 0")),
    ],
)
def test_a_bad_count_gets_one_answer(bad, answer):
    calls = {
        "n_samples": lambda: monte_carlo_fisher([0.5, 0.5], "logits", bad),
        "n_probes": lambda: hutchinson_diag(
            lambda U: U, 3, bad, torch.Generator()
        ),
        "n_draws": lambda: gnb_diag(
            lambda t, X: t[None],
            torch.zeros(2, dtype=torch.float64),
            torch.zeros(1, 1),
            torch.Generator(),
            bad,
        ),
        "n_bins": lambda: reliability_bins(softmax(Z), Y, bad),
        "n": lambda: relaxed_grads(Z[0], lambda y: y[:, 0], 1.0, bad),
        "in_features": lambda: NormalizedClassifier(bad, 3),
    }
    for name, call in calls.items():
        assert _error(call) == (answer[0], answer[1].format(name)), name


@pytest.mark.parametrize(
    "bad, answer",
    [
        ([1.5, -0.5], "p must be non-negative, got a minimum entry of -0.5"),
        ([0.5, 0.6], "p must sum to 1 along the last axis, got a sum of 1.1"),
        ([math.nan, 1.0], "p contains NaN"),
    ],
)
def test_a_bad_probability_vector_gets_one_answer(bad, answer):
    q = [0.5, 0.5]
    calls = {
        "softmax_jacobian": lambda: softmax_jacobian(
            p=torch.tensor(bad, dtype=torch.float64)
        ),
        "lse_hessian": lambda: lse_hessian(bad),
        "check_simplex": lambda: check_simplex(bad),
        "check_interior": lambda: check_interior(bad),
        "categorical_fisher": lambda: categorical_fisher(bad),
        "kl_divergence": lambda: kl_divergence(bad, q),
        "kl_to_uniform": lambda: kl_to_uniform(bad),
    }
    for name, call in calls.items():
        assert _error(call) == (ValueError, answer), name


def test_a_bad_generator_and_bad_angles_get_clear_answers():
    assert _error(lambda: gumbel_noise(3, generator=1)) == (
        TypeError,
        "generator must be a torch.Generator or None, got int",
    )
    assert _error(lambda: shuffle_non_target(Z, Y, None)) == (
        TypeError,
        "generator must be a torch.Generator, got NoneType",
    )
    assert _error(lambda: von_mises_density([0.0, math.inf], 1.0)) == (
        ValueError,
        "theta must be finite (no NaN or inf)",
    )
    assert _error(lambda: fisher_information_lambda(Z, -1.0)) == (
        ValueError,
        "lam must be a finite number >= 0, got -1.0",
    )
