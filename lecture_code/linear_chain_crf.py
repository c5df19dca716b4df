"""A linear-chain CRF layer compatible with ``torchcrf.CRF`` (chapter 9,
"CRF：点からパスへ").

:class:`LinearChainCRF` is a drop-in replacement for ``torchcrf.CRF`` (PyPI
``pytorch-crf==0.7.2``): same constructor, parameters (``start_transitions``,
``end_transitions``, ``transitions``, initialised from U(-0.1, 0.1) in the same
order), ``forward`` returning the log-likelihood with reductions
``none|sum|mean|token_mean``, ``decode`` returning lists of tag ids, the same
mask rules and the same error messages for bad shapes. It is faster on CPU
because

- the forward recursion is a (B, K) × (K, K) matrix product per step in a
  rescaled exp space (eq-crf-scaled-forward) instead of a (B, K, K)
  log-sum-exp;
- the gradient of log Z is the vector of marginals (eq-crf-grad-marginals), so
  a custom ``autograd.Function`` computes it with one backward recursion
  instead of letting autograd retrace T steps;
- the gold-path score is gathered without a Python loop;
- Viterbi backtracking runs on an array, not with one ``.item()`` per tag.

Extras: :meth:`LinearChainCRF.log_partition`, :meth:`LinearChainCRF.marginals`
(forward–backward, eq-crf-marginals) and hard constraints
(``allowed_transitions``, e.g. from
:func:`lecture_code.bio.bio_allowed_transitions`) enforced as −∞ scores in
training and decoding. The one-sequence versions of the same recursions,
written to be read, are in :mod:`lecture_code.crf`.

Reference: Sutton & McCallum (2012) [Sutton2012] for the forward–backward
algorithm and the scaling trick.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

__all__ = ["LinearChainCRF"]


# ----------------------------------------------------------------------------
# Fast batched internals on NumPy arrays (CPU, float32/float64). Layout: time
# first, emissions (T, B, K); lengths (B,) >= 1 count the active (left-aligned)
# steps. NumPy is used because the per-step arrays are tiny: a NumPy call costs
# about a microsecond, a torch call several, and torch's thread pool stalls
# when the CPU is shared.
# ----------------------------------------------------------------------------


def _scaled_forward(em, start, trans, end, lengths, full):
    """Rescaled forward recursion in exp space (eq-crf-scaled-forward).

    With E = exp(φ - max φ) and P_t = exp(ψ_t - max_k ψ_t(k)), the recursion
    α̃_t = (α̂_{t-1} E) ⊙ P_t, c_t = Σ_j α̃_t(j), α̂_t = α̃_t / c_t keeps every
    α̂_t on the simplex, and
    log Z = Σ_t (log c_t + shifts) + log(α̂_{L-1} · exp(end - max end)).
    Returns log Z (B,), whether no scale underflowed (else use the log-space
    recursion) and the arrays the backward recursion needs.
    """
    T, B, K = em.shape
    # padded steps may hold -inf rows; they are never read
    with np.errstate(all="ignore"):
        m_em = em.max(axis=2, keepdims=True)  # (T, B, 1)
        P = np.exp(em - m_em)  # (T, B, K), entries in [0, 1]
        m_tr = trans.max() if np.isfinite(trans.max()) else trans.dtype.type(0)
        E = np.exp(trans - m_tr)  # (K, K)
        m_end = end.max()
        e_end = np.exp(end - m_end)  # (K,)
        s0 = start + em[0]  # (B, K)
        m0 = s0.max(axis=1, keepdims=True)  # (B, 1)
        alphas = np.empty_like(em)  # α̂_t, (T, B, K)
        scales = np.ones((T, B, 1), dtype=em.dtype)  # c_t
        np.exp(s0 - m0, out=alphas[0])
        np.sum(alphas[0], axis=1, keepdims=True, out=scales[0])
        alphas[0] /= scales[0]
        for t in range(1, T):
            a = alphas[t]
            np.dot(alphas[t - 1], E, out=a)  # (B, K) × (K, K)
            a *= P[t]
            np.sum(a, axis=1, keepdims=True, out=scales[t])
            a /= scales[t]
        steps = np.log(scales[1:, :, 0]) + m_em[1:, :, 0] + m_tr  # (T-1, B)
        if full:
            last, step_sum, used = (
                alphas[T - 1],
                steps.sum(axis=0),
                scales[:, :, 0],
            )
        else:
            valid = np.arange(T)[:, None] < lengths  # (T, B)
            last = alphas[lengths - 1, np.arange(B)]  # (B, K)
            step_sum = np.where(valid[1:], steps, 0).sum(axis=0)
            used = np.where(valid, scales[:, :, 0], 1)
        c_end = last @ e_end  # (B,)
        log_z = (
            m0[:, 0]
            + np.log(scales[0, :, 0])
            + step_sum
            + m_end
            + np.log(c_end)
        )
    tiny = np.finfo(em.dtype).tiny * 1e6
    ok = bool(
        (used > tiny).all()
        and (c_end > tiny).all()
        and np.isfinite(log_z).all()
    )
    return log_z, ok, (P, E, e_end, alphas, scales, c_end)


def _scaled_backward(P, E, e_end, alphas, scales, c_end, lengths, full):
    """Rescaled backward recursion: the marginals γ_t and the pairwise factors
    Q_t.

    β̂_{L-1} = exp(end - max end) / c_end and
    β̂_t = ((P_{t+1} ⊙ β̂_{t+1}) Eᵀ) / c_{t+1}; then γ_t = α̂_t ⊙ β̂_t
    (eq-crf-marginals), and the pairwise marginal of (y_{t-1}, y_t) = (i, j) is
    α̂_{t-1}(i) E_ij Q_t(j) with Q_t = P_t ⊙ β̂_t / c_t. Steps t >= L are set
    to zero.
    """
    T, B, K = alphas.shape
    betas = np.empty_like(alphas)  # β̂_t, (T, B, K)
    Q = np.zeros_like(alphas)  # P_t ⊙ β̂_t, divided by c_t below
    beta_last = e_end / c_end[:, None]  # (B, K)
    Et = np.ascontiguousarray(E.T)
    betas[T - 1] = beta_last
    with np.errstate(all="ignore"):
        if not full:
            is_last = lengths - 1 == np.arange(T)[:, None]  # (T, B)
        for t in range(T - 2, -1, -1):
            np.multiply(P[t + 1], betas[t + 1], out=Q[t + 1])
            b = betas[t]
            np.dot(Q[t + 1], Et, out=b)
            b /= scales[t + 1]
            # sequences that end at step t start their recursion here
            if not full:
                np.copyto(b, beta_last, where=is_last[t, :, None])
        gamma = alphas * betas  # (T, B, K)
        Q /= scales
        if not full:
            valid = (np.arange(T)[:, None] < lengths)[:, :, None]  # (T, B, 1)
            gamma, Q, alphas = (
                np.where(valid, x, 0) for x in (gamma, Q, alphas)
            )
    return gamma, Q, alphas


class _ChainCRF(torch.autograd.Function):
    """log Z(x) of every sequence from time-first emissions (T, B, K), for
    left-aligned masks.

    The backward pass uses ∇ log Z = marginals (eq-crf-grad-marginals): the
    gradient with respect to ψ_t(k) is p(y_t = k | x), with respect to φ(i, j)
    the expected number of i → j moves; one backward recursion, no autograd
    graph over the T steps.
    """

    @staticmethod
    def forward(ctx, emissions, start, transitions, end, lengths, full):
        em = np.ascontiguousarray(emissions.detach().numpy())  # (T, B, K)
        st, tr, en = (x.detach().numpy() for x in (start, transitions, end))
        log_z, ok, saved = _scaled_forward(
            em, st, tr, en, lengths.numpy(), full
        )
        ctx.saved = saved, lengths.numpy(), full
        return torch.from_numpy(np.ascontiguousarray(log_z)), torch.tensor(ok)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_z, _grad_ok):
        (P, E, e_end, alphas, scales, c_end), L, full = ctx.saved
        T, B, K = alphas.shape
        gamma, Q, alphas = _scaled_backward(
            P, E, e_end, alphas, scales, c_end, L, full
        )
        g = grad_log_z.detach().numpy().astype(alphas.dtype)[:, None]  # (B, 1)
        g_em = gamma * g  # (T, B, K)
        g_start = g_em[0].sum(axis=0)  # (K,)
        g_end = (g_em[T - 1] if full else g_em[L - 1, np.arange(B)]).sum(
            axis=0
        )
        # Σ_{t,b} α̂_{t-1}(i) E_ij Q_t(j) g_b, one matrix product
        # (K, (T-1)B) × ((T-1)B, K)
        g_tr = E * (alphas[:-1].reshape(-1, K).T @ (Q[1:] * g).reshape(-1, K))
        grads = [torch.from_numpy(x) for x in (g_em, g_start, g_tr, g_end)]
        return (
            *[
                gr if need else None
                for gr, need in zip(grads, ctx.needs_input_grad[:4])
            ],
            None,
            None,
        )


def _logspace_log_partition(emissions, start, transitions, end, mask):
    """log Z by the log-space forward recursion, exactly as torchcrf
    computes it (the fallback)."""
    score = start + emissions[0]  # (B, K)
    for t in range(1, emissions.shape[0]):
        via_i = score.unsqueeze(2) + transitions  # (B, K, K), [b, i, j]
        nxt = torch.logsumexp(via_i + emissions[t].unsqueeze(1), dim=1)
        score = torch.where(mask[t].unsqueeze(1), nxt, score)
    return torch.logsumexp(score + end, dim=1)


def _viterbi_batch(em, start, trans, end, mask, lengths, prefix):
    """Batched Viterbi on arrays: torchcrf's additions in torchcrf's order, so
    the same paths.

    Per step δ_t = max_i((δ_{t-1}(i) + φ(i, j)) + ψ_t(j)) with the first
    maximiser kept (as ``torch.max`` does); the paths are then read backwards
    for all sequences at once.
    """
    T, B, K = em.shape
    scores = np.empty_like(em)  # δ_t, (T, B, K)
    # best predecessor, (T-1, B, K)
    history = np.empty((max(T - 1, 0), B, K), dtype=np.int64)
    # previous tag i on axis 1, next tag j on axis 2
    buf = np.empty((B, K, K), dtype=em.dtype)
    np.add(start, em[0], out=scores[0])
    with np.errstate(invalid="ignore"):
        for t in range(1, T):
            np.add(scores[t - 1][:, :, None], trans, out=buf)
            buf += em[t][:, None, :]
            arg = history[t - 1]
            np.argmax(buf, axis=1, out=arg)  # (B, K)
            # the max itself
            scores[t] = np.take_along_axis(buf, arg[:, None, :], axis=1)[
                :, 0, :
            ]
            # a gap in the mask: carry the score over it, as torchcrf does
            if not prefix:
                np.copyto(scores[t], scores[t - 1], where=~mask[t][:, None])
    rows = np.arange(B)
    last = scores[lengths - 1, rows] if prefix else scores[T - 1]  # (B, K)
    final = last + end
    best_last = final.argmax(axis=1)
    if not np.isfinite(final[rows, best_last]).all():
        bad = int(np.flatnonzero(~np.isfinite(final[rows, best_last]))[0])
        raise ValueError(
            f"sequence {bad} has no path with a finite score: constraints or "
            "-inf emissions forbid every path"
        )
    # Read the paths backwards: path[p - 1] = history[p - 1][path[p]] for
    # p = seq_end, ..., 1.
    seq_end = lengths - 1
    paths = np.zeros((T, B), dtype=np.int64)
    paths[seq_end, rows] = cur = best_last
    for p in range(T - 1, 0, -1):
        cur = np.where(p <= seq_end, history[p - 1, rows, cur], cur)
        paths[p - 1] = cur
    return [paths[: seq_end[b] + 1, b].tolist() for b in range(B)]


# ----------------------------------------------------------------------------
# The module
# ----------------------------------------------------------------------------

_FAST_DTYPES = (torch.float32, torch.float64)
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class LinearChainCRF(nn.Module):
    """Linear-chain CRF, a faster drop-in replacement for ``torchcrf.CRF``
    (pytorch-crf 0.7.2).

    Parameters
    ----------
    num_tags : int
        Number of tags K.
    batch_first : bool
        If true, emissions are (B, T, K) and tags/masks (B, T); otherwise (T,
        B, K) and (T, B).
    allowed_transitions : torch.Tensor of bool, shape (K, K), optional
        Hard constraints: ``allowed_transitions[i, j]`` false forbids tag j
        right after tag i (its score becomes −∞ in :meth:`forward`,
        :meth:`log_partition`, :meth:`marginals` and :meth:`decode`). See
        :func:`lecture_code.bio.bio_allowed_transitions`.
    allowed_start, allowed_end : torch.Tensor of bool, shape (K,), optional
        Tags that may open / close a sequence.

    Notes
    -----
    ``start_transitions`` (K,), ``end_transitions`` (K,) and ``transitions``
    (K, K; entry ``[i, j]`` scores the move i → j) are drawn from U(-0.1, 0.1)
    in torchcrf's order, so the same seed gives the same parameters, and the
    ``state_dict`` keys are the same (constraints are buffers outside it).
    Masks are bool or uint8, their first step must be on; a mask with a gap
    inside a sequence is treated as torchcrf treats it. CPU float32/float64
    inputs take the fast path; other dtypes and devices fall back to torchcrf's
    log-space recursion (``decode`` always runs on the CPU, half precision in
    float32).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> crf = LinearChainCRF(3, batch_first=True)
    >>> emissions = torch.randn(2, 4, 3)
    >>> tags = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
    >>> crf(emissions, tags).shape  # the summed log-likelihood
    torch.Size([])
    >>> mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    >>> [len(path) for path in crf.decode(emissions, mask=mask)]
    [4, 2]
    """

    def __init__(
        self,
        num_tags: int,
        batch_first: bool = False,
        *,
        allowed_transitions=None,
        allowed_start=None,
        allowed_end=None,
    ) -> None:
        if isinstance(num_tags, bool) or not isinstance(
            num_tags, (int, np.integer)
        ):
            raise TypeError(
                f"num_tags must be an int, got {type(num_tags).__name__}"
            )
        if num_tags <= 0:
            raise ValueError(f"invalid number of tags: {num_tags}")
        super().__init__()
        self.num_tags = int(num_tags)
        self.batch_first = batch_first
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.register_buffer("allowed_transitions", None, persistent=False)
        self.register_buffer("allowed_start", None, persistent=False)
        self.register_buffer("allowed_end", None, persistent=False)
        self.reset_parameters()
        self.set_constraints(allowed_transitions, allowed_start, allowed_end)

    def reset_parameters(self) -> None:
        """Initialise the three score tensors from U(-0.1, 0.1), as torchcrf
        does."""
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def set_constraints(
        self, allowed_transitions=None, allowed_start=None, allowed_end=None
    ) -> None:
        """Set hard constraints (bool tensors, true = allowed); call with no
        arguments to remove them."""
        K = self.num_tags
        for name, value, shape in (
            ("allowed_transitions", allowed_transitions, (K, K)),
            ("allowed_start", allowed_start, (K,)),
            ("allowed_end", allowed_end, (K,)),
        ):
            if value is not None:
                value = torch.as_tensor(value)
                if value.dtype != torch.bool:
                    raise TypeError(
                        f"{name} must be a bool tensor, got dtype "
                        f"{value.dtype}"
                    )
                if tuple(value.shape) != shape:
                    raise ValueError(
                        f"{name} must have shape {shape}, got "
                        f"{tuple(value.shape)}"
                    )
                if not value.any():
                    raise ValueError(
                        f"{name} forbids everything: no tag path would be "
                        "possible"
                    )
                value = value.to(self.transitions.device)
            setattr(self, name, value)

    @property
    def constrained(self) -> bool:
        """Whether any hard constraint is set."""
        return any(
            x is not None
            for x in (
                self.allowed_transitions,
                self.allowed_start,
                self.allowed_end,
            )
        )

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_tags={self.num_tags})"

    # -- helpers
    # -----------------------------------------------------------------------

    def _scores(self, dtype):
        """start, transitions, end in ``dtype`` with the forbidden entries
        set to −∞."""
        start, trans, end = (
            self.start_transitions,
            self.transitions,
            self.end_transitions,
        )
        if self.allowed_start is not None:
            start = start.masked_fill(~self.allowed_start, -math.inf)
        if self.allowed_transitions is not None:
            trans = trans.masked_fill(~self.allowed_transitions, -math.inf)
        if self.allowed_end is not None:
            end = end.masked_fill(~self.allowed_end, -math.inf)
        return start.to(dtype), trans.to(dtype), end.to(dtype)

    def _validate(self, emissions, tags=None, mask=None):
        """torchcrf's checks with torchcrf's messages, then the checks
        torchcrf lacks."""
        if not isinstance(emissions, torch.Tensor):
            raise TypeError(
                "emissions must be a torch.Tensor, got "
                f"{type(emissions).__name__}"
            )
        if emissions.dim() != 3:
            raise ValueError(
                f"emissions must have dimension of 3, got {emissions.dim()}"
            )
        if emissions.size(2) != self.num_tags:
            raise ValueError(
                f"expected last dimension of emissions is {self.num_tags}, "
                f"got {emissions.size(2)}"
            )
        for name, x in (("tags", tags), ("mask", mask)):
            if x is None:
                continue
            if not isinstance(x, torch.Tensor):
                raise TypeError(
                    f"{name} must be a torch.Tensor, got {type(x).__name__}"
                )
            if emissions.shape[:2] != x.shape:
                raise ValueError(
                    f"the first two dimensions of emissions and {name} must "
                    "match, "
                    f"got {tuple(emissions.shape[:2])} and {tuple(x.shape)}"
                )
            if name == "tags" and tags.dtype not in _INT_DTYPES:
                raise TypeError(
                    f"tags must be an integer tensor, got dtype {tags.dtype}"
                )
        if 0 in emissions.shape[:2]:
            raise ValueError(
                "emissions must hold at least one time step and one "
                f"sequence, got shape {tuple(emissions.shape)}"
            )
        if mask is not None:
            if mask.dtype not in (torch.bool, torch.uint8):
                raise TypeError(
                    "mask must be a bool or uint8 tensor, got dtype "
                    f"{mask.dtype}"
                )
            first = mask[:, 0] if self.batch_first else mask[0]
            if not first.all():
                raise ValueError("mask of the first timestep must all be on")
        if not emissions.is_floating_point():
            raise TypeError(
                "emissions must be a floating-point tensor, got dtype "
                f"{emissions.dtype}"
            )
        x = emissions.detach()
        top = (
            x.numpy().max()
            if x.device.type == "cpu" and x.dtype in _FAST_DTYPES
            else x.amax().item()
        )
        if not top < math.inf:  # max is NaN if any entry is NaN
            raise ValueError("emissions contain NaN or +inf")

    def _mask_info(self, mask, T, B, device):
        """The mask as a (T, B) bool tensor (or None), lengths (B,),
        left-aligned?, all full?"""
        if mask is None:
            return None, torch.full((B,), T, dtype=torch.long), True, True
        mask = (mask.transpose(0, 1) if self.batch_first else mask).to(
            device=device, dtype=torch.bool
        )
        lengths = mask.sum(dim=0)  # (B,)
        prefix = bool(
            (mask == (torch.arange(T, device=device)[:, None] < lengths)).all()
        )
        return (
            mask,
            lengths.cpu(),
            prefix,
            prefix and bool((lengths == T).all()),
        )

    def _time_first(self, x):
        return x.transpose(0, 1) if self.batch_first else x

    def _log_z(self, em, scores, mask, lengths, prefix, full):
        """log Z from time-first emissions (any mask); falls back to the
        log-space recursion."""
        start, trans, end = scores
        # left-align each sequence's active steps: torchcrf skips the gaps
        # likewise
        if not prefix:
            gaps = (~mask).to(torch.int8)  # (T, B)
            order = torch.sort(gaps, dim=0, stable=True).indices
            em = em.gather(0, order[:, :, None].expand_as(em))
        # the fast path (else: the log-space recursion)
        if em.device.type == "cpu" and em.dtype in _FAST_DTYPES:
            log_z, ok = _ChainCRF.apply(em, start, trans, end, lengths, full)
            if bool(ok):
                return log_z
        steps = torch.arange(em.shape[0], device=em.device)[
            :, None
        ] < lengths.to(em.device)
        return _logspace_log_partition(em, start, trans, end, steps)

    # -- log Z, log-likelihood
    # ------------------------------------------------------------

    def log_partition(
        self, emissions: torch.Tensor, mask=None
    ) -> torch.Tensor:
        """log Z(x) of every sequence, shape (B,) (eq-crf-partition via
        eq-crf-scaled-forward)."""
        self._validate(emissions, mask=mask)
        T, B = self._time_first(emissions).shape[:2]
        mask, lengths, prefix, full = self._mask_info(
            mask, T, B, emissions.device
        )
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        return self._log_z(
            self._time_first(emissions).to(dtype),
            self._scores(dtype),
            mask,
            lengths,
            prefix,
            full,
        )

    def _check_tags(self, tags, mask, lengths, prefix):
        """Range and constraint checks on time-first tags; returns tags with
        padding set to 0."""
        K = self.num_tags
        tags = tags.long()
        out_of_range = (tags < 0) | (tags >= K)
        if prefix and mask is not None:
            out_of_range &= mask  # padding may hold anything (e.g. -100)
        if out_of_range.any():
            t, b = (int(i) for i in out_of_range.nonzero()[0])
            raise ValueError(
                f"tags must lie in [0, {K}), got {int(tags[t, b])} at time "
                f"step {t} of sequence {b}"
            )
        if prefix and mask is not None:
            tags = tags.masked_fill(~mask, 0)
        if self.constrained:
            T, B = tags.shape
            on = (
                torch.ones(T, B, dtype=torch.bool)
                if mask is None
                else mask.cpu()
            )
            y = tags.cpu()
            last = y[lengths - 1, torch.arange(B)]
            if (
                self.allowed_start is not None
                and not self.allowed_start.cpu()[y[0]].all()
            ):
                raise ValueError(
                    "tags start with a tag that allowed_start forbids"
                )
            if (
                self.allowed_end is not None
                and not self.allowed_end.cpu()[last].all()
            ):
                raise ValueError(
                    "tags end with a tag that allowed_end forbids"
                )
            if self.allowed_transitions is not None:
                allowed = self.allowed_transitions.cpu()[y[:-1], y[1:]]
                forbidden = on[1:] & ~allowed  # (T-1, B)
                if forbidden.any():
                    t, b = (int(i) for i in forbidden.nonzero()[0])
                    raise ValueError(
                        "tags contain a transition that allowed_transitions "
                        "forbids "
                        f"({int(y[t, b])} -> {int(y[t + 1, b])} at time step "
                        f"{t + 1} of sequence {b})"
                    )
        return tags

    def _gold_score(self, em, tags, mask, lengths, scores):
        """S(y|x) for time-first tensors with torchcrf's mask rule, no time
        loop (eq-crf-score)."""
        T, B, K = em.shape
        start, trans, end = scores
        on = (
            torch.ones(T, B, dtype=torch.bool, device=em.device)
            if mask is None
            else mask
        )
        psi = em.gather(2, tags.unsqueeze(2)).squeeze(2)  # ψ_t(y_t), (T, B)
        phi = trans[tags[:-1], tags[1:]]  # φ(y_{t-1}, y_t), (T-1, B)
        inner = torch.where(on[1:], phi + psi[1:], 0.0).sum(dim=0)  # (B,)
        last = tags[
            lengths.to(tags.device) - 1, torch.arange(B, device=tags.device)
        ]
        return start[tags[0]] + psi[0] + inner + end[last]

    def forward(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask=None,
        reduction: str = "sum",
    ) -> torch.Tensor:
        """log p(y|x) = S(y|x) - log Z(x) (eq-crf-likelihood), reduced like
        torchcrf.

        Returns shape (B,) for ``reduction='none'``, a scalar otherwise
        (``sum``, ``mean`` over sequences, ``token_mean`` = sum / number of
        active mask entries).
        """
        self._validate(emissions, tags=tags, mask=mask)
        if reduction not in ("none", "sum", "mean", "token_mean"):
            raise ValueError(f"invalid reduction: {reduction}")
        T, B = self._time_first(emissions).shape[:2]
        mask, lengths, prefix, full = self._mask_info(
            mask, T, B, emissions.device
        )
        tags = self._check_tags(self._time_first(tags), mask, lengths, prefix)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        scores = self._scores(dtype)
        em = self._time_first(emissions).to(dtype)
        llh = self._gold_score(
            em, tags.to(em.device), mask, lengths, scores
        ) - self._log_z(em, scores, mask, lengths, prefix, full)
        if reduction in ("none", "sum", "mean"):
            return llh if reduction == "none" else getattr(llh, reduction)()
        return llh.sum() / lengths.sum().float()  # token_mean

    # -- marginals and decoding
    # -----------------------------------------------------------

    def marginals(self, emissions: torch.Tensor, mask=None) -> torch.Tensor:
        """p(y_t = k | x) = ∂ log Z / ∂ψ_t(k) (eq-crf-grad-marginals,
        eq-crf-marginals), in the layout of ``emissions``.

        Returns (B, T, K) when ``batch_first`` (else (T, B, K)); masked steps
        are zero. Computed as the gradient of :meth:`log_partition`, i.e. by
        one forward–backward pass; the result itself is not differentiable.
        """
        self._validate(emissions, mask=mask)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        with torch.enable_grad():
            e = emissions.detach().to(dtype).requires_grad_(True)
            (gamma,) = torch.autograd.grad(
                self.log_partition(e, mask).sum(), e
            )
        return gamma

    def decode(self, emissions: torch.Tensor, mask=None) -> list[list[int]]:
        """The best tag path of every sequence by Viterbi (eq-crf-viterbi),
        as lists of tag ids."""
        self._validate(emissions, mask=mask)
        em = self._time_first(emissions).detach()
        T, B = em.shape[:2]
        mask, lengths, prefix, _ = self._mask_info(
            mask, T, B, emissions.device
        )
        dtype = torch.promote_types(em.dtype, self.transitions.dtype)
        if dtype not in _FAST_DTYPES:
            dtype = torch.float32
        start, trans, end = (
            x.detach().cpu().numpy() for x in self._scores(dtype)
        )
        em = np.ascontiguousarray(em.to(dtype).cpu().numpy())
        mask = None if mask is None else mask.cpu().numpy()
        return _viterbi_batch(
            em, start, trans, end, mask, lengths.numpy(), prefix
        )
