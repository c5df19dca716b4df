"""Tests for lecture_code.linear_chain_crf: brute force, autograd, and
torchcrf (pytorch-crf 0.7.2)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crf import brute_force
from torchcrf import CRF

from lecture_code import bio, linear_chain_crf
from lecture_code import crf as lc
from lecture_code.linear_chain_crf import LinearChainCRF

pytestmark = pytest.mark.filterwarnings("ignore:where received a uint8")

BIO = bio.BIO_TAGS


def pair(K, batch_first=False, dtype=torch.float64, seed=0):
    """A torchcrf.CRF and a LinearChainCRF with the same parameters."""
    torch.manual_seed(seed)
    ref = CRF(K, batch_first=batch_first).to(dtype)
    torch.manual_seed(seed)
    ours = LinearChainCRF(K, batch_first=batch_first).to(dtype)
    return ref, ours


def random_case(
    B, T, K, batch_first=False, dtype=torch.float64, seed=0, ragged=True
):
    g = torch.Generator().manual_seed(seed)
    shape = (B, T) if batch_first else (T, B)
    emissions = torch.randn(*shape, K, generator=g, dtype=dtype) * 2
    tags = torch.randint(0, K, shape, generator=g)
    lengths = (
        torch.randint(1, T + 1, (B,), generator=g)
        if ragged
        else torch.full((B,), T)
    )
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    return emissions, tags, (mask if batch_first else mask.T.contiguous())


def test_grad_log_partition_equals_marginals():
    """∇_ψ log Z = node marginals and ∇_φ log Z = expected transition counts
    (eq-crf-grad-marginals)."""
    T, K = 4, 3
    g = torch.Generator().manual_seed(3)
    em = torch.randn(
        T, K, generator=g, dtype=torch.float64, requires_grad=True
    )
    crf = LinearChainCRF(K, batch_first=True).double()
    crf.log_partition(em[None]).sum().backward()
    _, _, marg = brute_force(
        em.detach(),
        crf.start_transitions.detach(),
        crf.transitions.detach(),
        crf.end_transitions.detach(),
    )
    torch.testing.assert_close(em.grad, marg, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        em.grad, crf.marginals(em.detach()[None])[0], rtol=1e-10, atol=1e-12
    )
    # pairwise: E[#(i -> j)] by enumeration
    paths = lc.all_paths(T, K)
    s = lc.sequence_score(
        em.detach(),
        paths,
        crf.transitions.detach(),
        crf.start_transitions.detach(),
        crf.end_transitions.detach(),
    )
    p = torch.softmax(s, 0)
    counts = torch.zeros(K, K, dtype=torch.float64)
    for t in range(T - 1):
        counts.index_put_((paths[:, t], paths[:, t + 1]), p, accumulate=True)
    torch.testing.assert_close(
        crf.transitions.grad, counts, rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(
        crf.start_transitions.grad, marg[0], rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(
        crf.end_transitions.grad, marg[-1], rtol=1e-10, atol=1e-12
    )


def test_gradcheck_log_likelihood():
    crf = LinearChainCRF(3).double()
    em, tags, mask = random_case(3, 5, 3, seed=4)
    em.requires_grad_(True)
    f = lambda e, s, tr, en: _with_params(crf, s, tr, en)(
        e, tags, mask, reduction="none"
    )
    assert torch.autograd.gradcheck(
        f,
        (
            em,
            crf.start_transitions.detach().clone().requires_grad_(),
            crf.transitions.detach().clone().requires_grad_(),
            crf.end_transitions.detach().clone().requires_grad_(),
        ),
    )


def _with_params(crf, s, tr, en):
    def call(e, tags, mask, reduction):
        # run forward with the given tensors as the parameters (they carry the
        # autograd graph)
        params = {
            "start_transitions": s,
            "transitions": tr,
            "end_transitions": en,
        }
        return torch.func.functional_call(
            crf, params, (e, tags, mask), {"reduction": reduction}
        )

    return call


@pytest.mark.parametrize(
    "dtype,rtol", [(torch.float32, 1e-5), (torch.float64, 1e-10)]
)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_agrees_with_torchcrf(dtype, rtol, batch_first, ragged):
    K = 5
    ref, ours = pair(K, batch_first, dtype, seed=1)
    em, tags, mask = random_case(
        6, 9, K, batch_first, dtype, seed=2, ragged=ragged
    )
    for m in (None, mask, mask.to(torch.uint8)):
        for red in ("none", "sum", "mean", "token_mean"):
            torch.testing.assert_close(
                ours(em, tags, m, reduction=red),
                ref(em, tags, m, reduction=red),
                rtol=rtol,
                atol=0,
            )
        e1, e2 = em.clone().requires_grad_(), em.clone().requires_grad_()
        ref.zero_grad(), ours.zero_grad()
        ref(e1, tags, m).backward()
        ours(e2, tags, m).backward()
        atol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(e2.grad, e1.grad, rtol=0, atol=atol)
        for p, q in zip(ours.parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=atol * 10)
        assert ours.decode(em, m) == ref.decode(em, m)
        torch.testing.assert_close(
            ours.log_partition(em, m),
            ref._compute_normalizer(*_tf(ref, em, m)),
            rtol=rtol,
            atol=0,
        )


def _tf(ref, em, m):
    if m is None:
        m = torch.ones(em.shape[:2], dtype=torch.bool)
    if ref.batch_first:
        return em.transpose(0, 1), m.transpose(0, 1).bool()
    return em, m.bool()


@settings(max_examples=40, deadline=None)
@given(
    B=st.integers(1, 5),
    T=st.integers(1, 12),
    K=st.integers(1, 7),
    seed=st.integers(0, 10_000),
    bf=st.booleans(),
)
def test_property_matches_torchcrf(B, T, K, seed, bf):
    ref, ours = pair(K, bf, torch.float64, seed=seed)
    em, tags, mask = random_case(B, T, K, bf, torch.float64, seed=seed)
    torch.testing.assert_close(
        ours(em, tags, mask, reduction="none"),
        ref(em, tags, mask, reduction="none"),
        rtol=1e-10,
        atol=1e-10,
    )
    assert ours.decode(em, mask) == ref.decode(em, mask)


def test_large_shapes_float32_agree():
    for B, T, K in [(32, 128, 9), (4, 300, 50)]:
        ref, ours = pair(K, True, torch.float32, seed=5)
        em, tags, mask = random_case(B, T, K, True, torch.float32, seed=6)
        torch.testing.assert_close(
            ours(em, tags, mask, "none"),
            ref(em, tags, mask, "none"),
            rtol=1e-5,
            atol=0,
        )
        assert ours.decode(em, mask) == ref.decode(em, mask)


def test_ties_give_the_same_paths_as_torchcrf():
    """Integer scores make many exact ties; both keep the first maximiser."""
    ref, ours = pair(4, True, torch.float32, seed=0)
    with torch.no_grad():
        for p, q in zip(ref.parameters(), ours.parameters()):
            p.copy_(torch.randint(-1, 2, p.shape).float())
            q.copy_(p)
    em = torch.randint(-2, 3, (8, 10, 4)).float()
    assert ours.decode(em) == ref.decode(em)


def test_mask_with_gaps_matches_torchcrf():
    ref, ours = pair(4, False, torch.float64, seed=7)
    em, tags, _ = random_case(4, 8, 4, False, torch.float64, seed=8)
    mask = torch.ones(8, 4, dtype=torch.bool)
    mask[3, 1] = mask[5:, 2] = mask[2, 3] = mask[6, 3] = False
    torch.testing.assert_close(
        ours(em, tags, mask, "none"),
        ref(em, tags, mask, "none"),
        rtol=1e-10,
        atol=1e-10,
    )
    assert ours.decode(em, mask) == ref.decode(em, mask)
    m = ours.marginals(em, mask)
    assert (m[~mask] == 0).all()
    torch.testing.assert_close(
        m.sum(-1)[mask], torch.ones(int(mask.sum()), dtype=torch.float64)
    )


def test_extreme_scores_fall_back_to_log_space():
    """Transition scores 200 apart underflow exp in float32; the result must
    still match."""
    ref, ours = pair(3, True, torch.float32, seed=9)
    with torch.no_grad():
        big = torch.tensor(
            [[0.0, -200.0, 5.0], [-150.0, 0.0, 0.0], [80.0, -90.0, 0.0]]
        )
        ref.transitions.copy_(big), ours.transitions.copy_(big)
    em, tags, mask = random_case(4, 6, 3, True, torch.float32, seed=10)
    em = em * 40
    np_args = [
        x.detach().numpy()
        for x in (
            ours.start_transitions,
            ours.transitions,
            ours.end_transitions,
        )
    ]
    # exp space fails here
    assert not linear_chain_crf._scaled_forward(
        em.transpose(0, 1).contiguous().numpy(),
        *np_args,
        mask.sum(1).numpy(),
        False,
    )[1]
    torch.testing.assert_close(
        ours(em, tags, mask, "none"),
        ref(em, tags, mask, "none"),
        rtol=1e-5,
        atol=1e-3,
    )
    m = ours.marginals(em, mask)
    torch.testing.assert_close(m.sum(-1)[mask], torch.ones(int(mask.sum())))


def test_same_initialisation_and_state_dict_as_torchcrf():
    ref, ours = pair(7, seed=11, dtype=torch.float32)
    for (n1, p), (n2, q) in zip(
        ref.named_parameters(), ours.named_parameters()
    ):
        assert n1 == n2 and torch.equal(p, q)
    assert all(
        -0.1 <= float(p.detach().min()) and float(p.detach().max()) <= 0.1
        for p in ours.parameters()
    )
    assert set(ours.state_dict()) == set(ref.state_dict())
    fresh = LinearChainCRF(7)
    fresh.load_state_dict(ref.state_dict())
    assert torch.equal(fresh.transitions, ref.transitions)
    assert repr(ours) == "LinearChainCRF(num_tags=7)"


def test_mixed_precision_promotes_like_torchcrf():
    ref, ours = pair(4, seed=12, dtype=torch.float32)
    em, tags, mask = random_case(3, 5, 4, dtype=torch.float64, seed=13)
    out = ours(em, tags, mask, "none")
    assert out.dtype == ref(em, tags, mask, "none").dtype == torch.float64
    torch.testing.assert_close(
        out, ref(em, tags, mask, "none"), rtol=1e-6, atol=0
    )


def test_half_precision_falls_back_and_stays_close():
    ref, ours = pair(4, seed=14, dtype=torch.float32)
    em, tags, mask = random_case(3, 5, 4, dtype=torch.float32, seed=15)
    torch.testing.assert_close(
        ours(em.bfloat16(), tags, mask, "none"),
        ref(em.bfloat16(), tags, mask, "none"),
        rtol=1e-5,
        atol=1e-5,
    )


def test_constraints_are_never_violated_and_match_brute_force():
    allowed, a_start, a_end = bio.bio_allowed_transitions(BIO)
    K = len(BIO)
    crf = LinearChainCRF(
        K,
        batch_first=True,
        allowed_transitions=allowed,
        allowed_start=a_start,
        allowed_end=a_end,
    ).double()
    g = torch.Generator().manual_seed(16)
    em = torch.randn(200, 12, K, generator=g, dtype=torch.float64) * 3
    em[:, :, [2, 4]] += 2.0  # make the I- tags tempting everywhere
    paths = crf.decode(em)
    assert bio.illegal_transitions(paths, allowed, a_start) == 0
    free = LinearChainCRF(K, batch_first=True).double()
    free.load_state_dict(crf.state_dict())
    assert bio.illegal_transitions(free.decode(em), allowed, a_start) > 0
    # log Z and the best path over legal paths only, by enumeration (start
    # constraint as -inf start score)
    small = em[:3, :4]
    start = crf.start_transitions.detach().masked_fill(~a_start, -torch.inf)
    for b in range(3):
        log_z, best, marg = brute_force(
            small[b],
            start,
            crf.transitions.detach(),
            crf.end_transitions.detach(),
            allowed,
        )
        torch.testing.assert_close(
            crf.log_partition(small[b : b + 1])[0],
            log_z,
            rtol=1e-12,
            atol=1e-12,
        )
        assert crf.decode(small[b : b + 1]) == [best]
        torch.testing.assert_close(
            crf.marginals(small[b : b + 1])[0], marg, rtol=1e-10, atol=1e-12
        )


def test_constrained_training_step_is_finite():
    allowed, a_start, _ = bio.bio_allowed_transitions(BIO)
    crf = LinearChainCRF(
        len(BIO),
        batch_first=True,
        allowed_transitions=allowed,
        allowed_start=a_start,
    )
    em = torch.randn(2, 5, len(BIO), requires_grad=True)
    tags = torch.tensor([[1, 2, 0, 3, 4], [0, 3, 4, 4, 0]])
    crf(em, tags).backward()
    assert (
        torch.isfinite(em.grad).all()
        and torch.isfinite(crf.transitions.grad).all()
    )
    assert (crf.transitions.grad[~allowed] == 0).all()
    with pytest.raises(ValueError, match="allowed_transitions forbids"):
        crf(em, torch.tensor([[1, 4, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="allowed_start forbids"):
        crf(em, torch.tensor([[2, 2, 0, 0, 0], [0, 0, 0, 0, 0]]))


def test_errors_match_torchcrf_messages():
    ref, ours = pair(3, seed=17)
    em, tags, mask = random_case(2, 4, 3, seed=18)
    cases = [
        ((em[0], tags), {}),  # 2-D emissions
        ((torch.randn(4, 2, 5, dtype=torch.float64), tags), {}),  # wrong K
        ((em, tags[:3]), {}),  # tags shape
        ((em, tags, mask[:3]), {}),  # mask shape
        # first step off
        (
            (
                em,
                tags,
                torch.cat([torch.zeros(1, 2, dtype=torch.bool), mask[1:]]),
            ),
            {},
        ),
        ((em, tags), {"reduction": "avg"}),
    ]
    for args, kwargs in cases:
        with pytest.raises(ValueError) as e_ref:
            ref(*args, **kwargs)
        with pytest.raises(ValueError) as e_ours:
            ours(*args, **kwargs)
        assert str(e_ours.value) == str(e_ref.value)
    with pytest.raises(ValueError, match="invalid number of tags: 0"):
        LinearChainCRF(0)
    with pytest.raises(
        ValueError, match="mask of the first timestep must all be on"
    ):
        ours.decode(em, torch.zeros(4, 2, dtype=torch.bool))


def test_errors_torchcrf_lacks():
    crf = LinearChainCRF(3, batch_first=True)
    em = torch.randn(2, 4, 3)
    with pytest.raises(
        ValueError,
        match=r"tags must lie in \[0, 3\), got 3 at time step 2 of sequence 1",
    ):
        crf(em, torch.tensor([[0, 1, 2, 0], [0, 1, 3, 0]]))
    with pytest.raises(ValueError, match=r"got -1"):
        crf(em, torch.tensor([[0, 1, 2, 0], [-1, 1, 2, 0]]))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    # padding may hold anything
    crf(em, torch.tensor([[0, 1, 2, 0], [0, 1, -100, -100]]), mask)
    with pytest.raises(TypeError, match="tags must be an integer tensor"):
        crf(em, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="mask must be a bool or uint8"):
        crf(em, torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(TypeError, match="floating-point"):
        crf.decode(torch.ones(2, 4, 3, dtype=torch.long))
    bad = em.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        crf(bad, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one time step"):
        crf.decode(torch.randn(2, 0, 3))
    with pytest.raises(TypeError, match="num_tags must be an int"):
        LinearChainCRF(3.0)
    with pytest.raises(
        ValueError, match=r"allowed_transitions must have shape \(3, 3\)"
    ):
        crf.set_constraints(torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool tensor"):
        crf.set_constraints(torch.ones(3, 3))
