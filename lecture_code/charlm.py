"""A tiny character-level language model trained on the book's own pages
(chapter 11).

It exists to make the three places where nanochat (Karpathy 2025; commit
92d63d4) uses softmax visible in one small model: causal attention with QK-norm
inside (``F.scaled_dot_product_attention``, which nanochat's
``flash_attn_func`` falls back to without FlashAttention-3), the logit soft cap
c·tanh(z/c) with c = 15 before the cross-entropy loss (``ignore_index=-1``) and
before sampling, and :func:`sample_next_token` at generation time. The output
layer starts at zero (as in nanochat's first commit 3a5e0bc; the pinned commit
draws it with standard deviation 0.001), so the untrained model is exactly
uniform and its loss is log V.

Book equation: (eq-ce-gather) CE = -(1/|𝓜|) Σ_{n∈𝓜} log_softmax(z_n)[y_n],
𝓜 = {n : y_n ≠ -1}; :func:`cross_entropy` writes it out and tests compare it
with ``F.cross_entropy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .sampling import sample_next_token
from .sampling import softcap as _softcap
from .softmax import log_softmax
from .validate import as_tensor, integer, labels, positive

_DIRECTIVE = re.compile(r"^\s*(```|:::|:[a-z-]+:|\{[a-z-]+\}|\|?\s*-{3})")
_MARKUP = [
    (re.compile(r"\$\$.*?\$\$|\$[^$]*\$"), ""),  # math
    # {doc}`text <target>` -> text
    (re.compile(r"\{[a-z:-]+\}`([^`<]*?)\s*(<[^>]*>)?`"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    # emphasis, code, headings, table bars, quotes
    (re.compile(r"[`*#|>]+"), " "),
    # numbers (the errata page is full of them)
    (re.compile(r"[-+]?[0-9][0-9.,]*"), ""),
    (re.compile(r"[ \t]{2,}"), " "),
]


def cross_entropy(logits, targets, ignore_index: int = -1) -> torch.Tensor:
    """Mean of -log_softmax(logits)[target] over the targets that are not
    ``ignore_index`` (eq-ce-gather).

    Parameters
    ----------
    logits : array_like, shape (N, V)
        Logits, no NaN.
    targets : array_like of int, shape (N,)
        Ids in [0, V), or ``ignore_index``.
    ignore_index : int
        Target value that is not counted.

    Returns
    -------
    torch.Tensor, shape ()
        The mean over the counted targets.
    """
    z = as_tensor(logits, "logits", ndim=2, nan=False)
    # validate.labels knows no ignore_index: check the targets with it as 0
    t = torch.as_tensor(targets)
    keep = t != integer(ignore_index, "ignore_index")  # (N,)
    y = labels(t.where(keep, 0), len(z), z.shape[1], "targets")
    if not keep.any():
        raise ValueError(
            f"every target equals ignore_index={ignore_index}: the mean is "
            "undefined"
        )
    logp = log_softmax(z[keep], dim=-1)  # (M, V)
    return -logp.gather(1, y[keep, None]).squeeze(1).mean()


def load_book_text(root=".", pattern: str = "book/*.md") -> str:
    """The prose of the book's markdown pages (sorted by name): MyST
    directives, math and markup removed.

    Parameters
    ----------
    root : str or Path
        The repository root.
    pattern : str
        Glob of the pages, relative to ``root``.

    Returns
    -------
    str
        The prose of the pages, joined.
    """
    files = sorted(Path(root).glob(pattern))
    if not files:
        raise ValueError(
            f"no files match {pattern!r} under {Path(root).resolve()}"
        )
    lines = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if _DIRECTIVE.match(line):
                continue
            for rx, repl in _MARKUP:
                line = rx.sub(repl, line)
            if line.strip():
                lines.append(line.strip())
    return "\n".join(lines) + "\n"


@dataclass
class CharVocab:
    """Characters ↔ integer ids (sorted by code point, so the ids depend
    only on the text).

    Attributes
    ----------
    chars : list of str
        The characters; id i is ``chars[i]``.
    """

    chars: list[str] = field(default_factory=list)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted(set(s) - set(index))
        if missing:
            raise ValueError(
                f"characters not in the vocabulary: {''.join(missing)!r}"
            )
        return torch.tensor([index[c] for c in s], dtype=torch.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class TinyCharLM(nn.Module):
    """Embedding + one pre-norm causal self-attention block + MLP + linear
    head.

    Parameters
    ----------
    vocab_size, block_size, d, n_head : int
        V, the context length, the width and the number of heads (d must be a
        multiple of n_head).
    seed : int
        Seed of the initialization (the global RNG is restored afterwards).
    qk_norm : bool
        RMS-normalize q and k per head and multiply both by ``qk_gain``
        (nanochat: 1.2) before the attention, so its logits are qk_gain² √(d/H)
        cos∠(q, k) (eq-attn-qknorm).
    qk_gain : float
        The gain g of the QK-norm.
    softcap : float or None
        Soft cap c of the output logits, c·tanh(z/c) (eq-softcap; nanochat:
        15); None for none.
    zero_head : bool
        Start the output layer at zero: the untrained model is uniform, its
        loss exactly log V.
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int = 32,
        d: int = 64,
        n_head: int = 4,
        seed: int = 0,
        qk_norm: bool = True,
        qk_gain: float = 1.2,
        softcap: float | None = 15.0,
        zero_head: bool = True,
    ):
        super().__init__()
        if d % n_head:
            raise ValueError(f"d={d} must be divisible by n_head={n_head}")
        softcap = None if softcap is None else positive(softcap, "softcap")
        qk_gain = positive(qk_gain, "qk_gain")
        # the global generator is left as it was
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.block_size, self.n_head = block_size, n_head
            self.qk_norm, self.qk_gain, self.softcap = (
                qk_norm,
                float(qk_gain),
                softcap,
            )
            self.tok = nn.Embedding(vocab_size, d)
            self.pos = nn.Embedding(block_size, d)
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.proj = nn.Linear(d, d, bias=False)
            self.mlp = nn.Sequential(
                nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)
            )
            self.head = nn.Linear(d, vocab_size)
            if zero_head:
                nn.init.zeros_(self.head.weight)
                nn.init.zeros_(self.head.bias)

    def forward(self, idx, targets=None, last_only: bool = False):
        """Logits (B, T, V); with ``targets`` (B, T) also the cross-entropy
        (ignore_index=-1).

        ``last_only=True`` returns the logits of the last position only, (B, 1,
        V): all that generation needs, without the output layer's cost at the
        other positions.
        """
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(
                f"sequence length {T} exceeds block_size={self.block_size}"
            )
        x = self.tok(idx) + self.pos(torch.arange(T))  # (B, T, d)
        # 3 × (B, T, d)
        q, k, v = self.qkv(F.rms_norm(x, (x.size(-1),))).split(
            x.size(-1), dim=-1
        )
        heads = lambda t: t.view(B, T, self.n_head, -1).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)  # (B, H, T, d/H) each
        # scores become qk_gain² √(d/H) cos∠(q, k) (eq-attn-qknorm)
        if self.qk_norm:
            q = self.qk_gain * F.rms_norm(q, (q.size(-1),))
            k = self.qk_gain * F.rms_norm(k, (k.size(-1),))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, -1))
        if last_only:
            if targets is not None:
                raise ValueError(
                    "last_only=True returns logits only (no targets)"
                )
            # (B, 1, d): the MLP and the head act position by position
            x = x[:, -1:, :]
        x = x + self.mlp(F.rms_norm(x, (x.size(-1),)))
        # (B, T, V) or (B, 1, V)
        logits = self.head(F.rms_norm(x, (x.size(-1),)))
        if self.softcap is not None:
            # inside (-c, c): before the loss and before sampling
            logits = _softcap(logits, self.softcap)
        if targets is None:
            return logits
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
        )
        return logits, loss


def interleaved_split(data: torch.Tensor, block: int = 64, every: int = 10):
    """Every ``every``-th block of ``block`` characters goes to validation, the
    rest to training.

    Interleaving keeps both parts drawn from all pages (a split at the end
    would validate on one page only).

    Parameters
    ----------
    data : torch.Tensor of int64, shape (N,)
        Character ids.
    block : int
        Block length.
    every : int
        Every ``every``-th block goes to validation.

    Returns
    -------
    tuple of torch.Tensor
        The training ids and the validation ids (1-D each).
    """
    if block < 2 or every < 2:
        raise ValueError(
            f"block and every must be >= 2, got block={block}, every={every}"
        )
    n = len(data) // block
    if n < every:
        raise ValueError(
            f"data has {len(data)} characters: too few for blocks of {block} "
            f"with every={every}"
        )
    chunks = data[: n * block].view(n, block)  # (n, block)
    is_val = torch.arange(n) % every == every - 1  # (n,)
    return chunks[~is_val].reshape(-1), chunks[is_val].reshape(-1)


def random_batch(
    data: torch.Tensor, batch_size: int, block_size: int, generator=None
):
    """Inputs and next-character targets (B, T) cut from random places of
    ``data``.

    Parameters
    ----------
    data : torch.Tensor of int64, shape (N,)
        Character ids.
    batch_size : int
        Number of windows B.
    block_size : int
        Window length T.
    generator : torch.Generator, optional
        Source of the window starts.

    Returns
    -------
    tuple of torch.Tensor
        Inputs x and targets y (the next characters), each (B, T).
    """
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} characters; need more than "
            f"block_size={block_size}"
        )
    start = torch.randint(
        0, len(data) - block_size, (batch_size,), generator=generator
    )
    offsets = torch.arange(block_size)  # (T,)
    x = data[start[:, None] + offsets]  # (B, T)
    y = data[start[:, None] + offsets + 1]  # (B, T)
    return x, y


@torch.no_grad()
def evaluate(model: TinyCharLM, data: torch.Tensor) -> float:
    """Mean cross-entropy (nats per character) over consecutive,
    non-overlapping windows of ``data``.

    Parameters
    ----------
    model : TinyCharLM
        The model.
    data : torch.Tensor of int64, shape (N,)
        Character ids.

    Returns
    -------
    float
        Mean cross-entropy in nats per character.
    """
    T = model.block_size
    n = (len(data) - 1) // T
    if n < 1:
        raise ValueError("data is too short to evaluate")
    x = data[: n * T].view(n, T)
    y = data[1 : n * T + 1].view(n, T)
    return model(x, y)[1].item()


def train(
    model: TinyCharLM,
    data: torch.Tensor,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
):
    """``torch.optim.AdamW`` (weight decay 0.01) on random windows; returns
    the training loss of every step.

    Parameters
    ----------
    model : TinyCharLM
        The model, trained in place.
    data : torch.Tensor of int64, shape (N,)
        Training ids.
    steps : int
        Number of AdamW steps.
    batch_size : int
        Windows per step.
    lr : float
        AdamW's step size.
    seed : int
        Seed of the window draws.

    Returns
    -------
    list of float
        The training loss of every step.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=lr,
        weight_decay=0.01,
    )
    losses = []
    model.train()
    for _ in range(steps):
        x, y = random_batch(data, batch_size, model.block_size, gen)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def generate(
    model: TinyCharLM,
    prompt: torch.Tensor,
    n: int,
    seed: int = 42,
    num_samples: int | None = None,
    **sampling,
) -> torch.Tensor:
    """Append ``n`` sampled characters to ``prompt`` (1-D ids) with
    :func:`sample_next_token`.

    ``sampling`` holds ``temperature``, ``top_k``, ``top_p``; the generator is
    seeded like nanochat's engine. Returns the ids (T + n,); with
    ``num_samples = m`` it continues m copies of the prompt at once (one
    generator, m independent continuations) and returns (m, T + n).

    Parameters
    ----------
    model : TinyCharLM
        The model.
    prompt : torch.Tensor of int64, shape (T,)
        The prompt's ids.
    n : int
        Characters to append.
    seed : int
        Seed of the generator.
    num_samples : int or None
        Continue this many copies of the prompt at once.
    **sampling
        ``temperature``, ``top_k``, ``top_p`` of :func:`sample_next_token`.

    Returns
    -------
    torch.Tensor of int64, shape (T + n,) or (num_samples, T + n)
        The prompt followed by the generated ids.
    """
    num_samples = (
        None
        if num_samples is None
        else integer(num_samples, "num_samples", minimum=1)
    )
    rng = torch.Generator().manual_seed(seed)
    ids = prompt[None, :].expand(num_samples or 1, -1)  # (m, T)
    for _ in range(n):
        context = ids[:, -model.block_size :]  # (m, ≤ block_size)
        logits = model(context, last_only=True)[:, -1, :]  # (m, V)
        ids = torch.cat(
            [ids, sample_next_token(logits, rng, **sampling)], dim=1
        )
    return ids if num_samples is not None else ids[0]


def _rows(ids, n: int) -> torch.Tensor:
    ids = torch.as_tensor(ids)
    if ids.dim() == 1:
        ids = ids[None]
    if ids.dim() != 2 or ids.dtype != torch.int64:
        raise ValueError(
            f"ids must be int64 of shape (T,) or (m, T), got {ids.dtype} "
            f"{tuple(ids.shape)}"
        )
    integer(n, "n", minimum=1, maximum=ids.shape[1])
    return ids


def _ngram_codes(ids: torch.Tensor, n: int, base: int) -> torch.Tensor:
    if base**n >= 2**63:
        raise ValueError(
            f"n-grams of length {n} over {base} symbols do not fit in int64 "
            "codes"
        )
    m, width = ids.shape[0], ids.shape[1] - n + 1
    codes = torch.zeros(m, width, dtype=torch.int64)  # (m, T - n + 1)
    # the n-gram (a_1, ..., a_n) as the integer a_1 base^{n-1} + ... + a_n
    for j in range(n):
        codes = codes * base + ids[:, j : j + width]
    return codes


def distinct_ngram_fraction(ids, n: int = 2) -> torch.Tensor:
    """Per row: (number of distinct n-grams) / (number of n-grams); 1 = no
    repetition (diversity, "distinct-n").

    Parameters
    ----------
    ids : torch.Tensor of int64, shape (L,) or (B, L)
        One sequence per row.
    n : int
        n-gram length.

    Returns
    -------
    torch.Tensor, shape (B,)
        The fraction of distinct n-grams per row.
    """
    ids = _rows(ids, n)
    codes = _ngram_codes(ids, n, int(ids.max()) + 1)  # (m, T - n + 1)
    return torch.tensor(
        [len(torch.unique(row)) / row.numel() for row in codes],
        dtype=torch.float64,
    )


def ngram_hit_rate(ids, reference: torch.Tensor, n: int = 2) -> torch.Tensor:
    """Per row: the fraction of its n-grams that occur somewhere in
    ``reference`` (1-D ids).

    A cheap proxy for well-formed output of a character model: 1 means every
    n-gram was seen in training.

    Parameters
    ----------
    ids : torch.Tensor of int64, shape (L,) or (B, L)
        One sequence per row.
    reference : torch.Tensor of int, shape (N,)
        The reference ids (e.g. the training text).
    n : int
        n-gram length.

    Returns
    -------
    torch.Tensor, shape (B,)
        The fraction of each row's n-grams found in ``reference``.
    """
    ids = _rows(ids, n)
    reference = _rows(reference, n)
    base = int(max(ids.max(), reference.max())) + 1
    seen = torch.unique(_ngram_codes(reference, n, base))  # (S,)
    hits = torch.isin(_ngram_codes(ids, n, base), seen)  # (m, T - n + 1)
    return hits.double().mean(dim=1)  # (m,)
