"""lecture_code.vonmises against scipy.stats.vonmises, plus bad input."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lecture_code.softmax import softmax
from lecture_code.vonmises import (
    von_mises_arc_mass,
    von_mises_density,
    von_mises_mean_resultant,
)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 3.0, 16.0, 700.0])
@pytest.mark.parametrize("mu", [0.0, 0.3, -2.5])
def test_density_matches_scipy(kappa, mu):
    theta = np.linspace(-math.pi, math.pi, 37)
    ours = von_mises_density(theta, kappa, mu)
    assert ours.dtype == torch.float64
    ref = (
        stats.vonmises(kappa, loc=mu).pdf(theta)
        if kappa > 0
        else np.full_like(theta, 1 / (2 * math.pi))
    )
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-300)


def test_large_kappa_does_not_overflow():
    d = von_mises_density([0.0, 1.0], 5000.0)
    assert torch.isfinite(d).all() and d[1] == 0 and d[0] > 1


@pytest.mark.parametrize("kappa", [0.5, 2.0, 8.0, 16.0])
def test_arc_mass_matches_scipy_cdf(kappa):
    mu = 0.3
    a = torch.tensor([-math.pi, -1.0, 0.2, 2.0], dtype=torch.float64)
    b = torch.tensor([math.pi, 0.0, 1.3, 3.1], dtype=torch.float64)
    ours = von_mises_arc_mass(a, b, kappa, mu)
    vm = stats.vonmises(kappa, loc=mu)
    ref = vm.cdf(b.numpy()) - vm.cdf(a.numpy())
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-11)
    assert abs(ours[0].item() - 1) < 1e-12  # the whole circle


def test_arc_mass_beyond_pi_wraps():
    # an arc written past +π is the same set of angles as its wrapped copy
    one = von_mises_arc_mass(2.8, 3.6, 4.0, 0.3)
    two = von_mises_arc_mass(2.8, math.pi, 4.0, 0.3) + von_mises_arc_mass(
        -math.pi, 3.6 - 2 * math.pi, 4.0, 0.3
    )
    assert abs(one - two) < 1e-12


def test_softmax_is_density_at_equally_spaced_points():
    K, kappa, theta_x = 6, 2.0, 0.3
    phi = 2 * math.pi * torch.arange(K, dtype=torch.float64) / K
    dens = von_mises_density(phi, kappa, theta_x)
    torch.testing.assert_close(
        dens / dens.sum(),
        softmax(torch.cos(phi - theta_x), 1 / kappa),
        atol=1e-14,
        rtol=0,
    )


@pytest.mark.parametrize("kappa", [0.0, 1.0, 4.0, 50.0])
def test_mean_resultant_matches_scipy(kappa):
    # E[cos θ] under the density, by scipy's own integration of its pdf
    ref = stats.vonmises(kappa).expect(np.cos) if kappa > 0 else 0.0
    assert abs(von_mises_mean_resultant(kappa).item() - ref) < 1e-9


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_kappa_raises(bad):
    with pytest.raises(ValueError, match="kappa"):
        von_mises_density([0.0], bad)


def test_bad_types_and_arcs_raise():
    with pytest.raises(TypeError, match="kappa"):
        von_mises_density([0.0], "2")
    with pytest.raises(ValueError, match="kappa must be a single number"):
        von_mises_density([0.0], torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="theta"):
        von_mises_density([float("nan")], 1.0)
    with pytest.raises(ValueError, match="a <= b"):
        von_mises_arc_mass(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="n must be an odd"):
        von_mises_arc_mass(0.0, 1.0, 1.0, n=100)
