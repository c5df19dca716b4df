"""One shared way for a chapter to show that a computation agrees with a
reference.

``cmp`` prints one line (bit-for-bit equal? within the tolerance? largest
difference), in Japanese like the rest of the book's output, and raises
``AssertionError`` when the two disagree, so the notebook (and nbval) fails the
moment a number changes. Use it for "our computation agrees with the library /
autograd / a closed form". ``vs_source`` is only for a number that a source
document (the lecture, 資料 000, or the study note, 資料 002) actually prints:
it compares a computed value with it at the precision the source uses, and
reports agreement without deciding what it must be; the chapter asserts the
answer it expects, which makes a disagreement an explicit, visible fact. A
comparison of the book with itself (a formula against its own value) is a
``cmp``, not a ``vs_source``.
"""

from __future__ import annotations

import numpy as np

from .validate import to_numpy


def _array(x) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=float)


def cmp(label: str, ours, ref, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Print whether ``ours`` equals ``ref`` exactly / closely, and assert
    closeness.

    The line reads ``label | 完全一致: はい/いいえ | 許容誤差内: はい/いいえ |
    最大の差: ...``: 完全一致 is bit-for-bit equality, 許容誤差内 is
    ``numpy.allclose`` with ``atol`` (absolute, default 1e-6) and ``rtol``
    (relative, default 1e-5). Rounding often makes 完全一致 いいえ while
    許容誤差内 is はい: that is agreement. Returns nothing, so that a
    ``cmp`` on the last line of a cell prints only its report line.

    Parameters
    ----------
    label : str
        What is compared; starts the printed line.
    ours, ref : tensor, array_like or number
        Our value and the reference, of the same shape.
    atol : float
        Absolute tolerance (default 1e-6).
    rtol : float
        Relative tolerance (default 1e-5).
    """
    a, b = _array(ours), _array(ref)
    if a.shape != b.shape:
        raise AssertionError(f"{label}: shapes differ, {a.shape} vs {b.shape}")
    exact = bool(np.array_equal(a, b))
    close = bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=False))
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    # inf - inf where both are the same infinity
    with np.errstate(invalid="ignore"):
        diff = np.where(both_inf, 0.0, np.abs(a - b))
    maxdiff = float(diff.max()) if diff.size else 0.0
    yes = {True: "はい", False: "いいえ"}
    print(
        f"{label} | 完全一致: {yes[exact]} | 許容誤差内: {yes[close]} | 最大の"
        f"差: {maxdiff:.1e}"
    )
    if not close:
        raise AssertionError(
            f"{label}: max difference {maxdiff:.3e} exceeds atol={atol}, "
            f"rtol={rtol}"
        )


def rounded(x, digits: int) -> np.ndarray:
    """Round to ``digits`` decimals, mapping -0.0 to 0.0 so printed values
    stay tidy.

    Parameters
    ----------
    x : tensor, array_like or number
        The values to round.
    digits : int
        Number of decimals.

    Returns
    -------
    numpy.ndarray
        ``x`` rounded, as float64, same shape (0-d for a number).
    """
    return np.round(_array(x), digits) + 0.0


def vs_source(label: str, computed, stated, digits: int) -> bool:
    """Compare a computed value with a number printed in a source document
    (資料 000 / 資料 002).

    Only for numbers the source itself prints; a formula checked against the
    book's own value belongs in :func:`cmp`.

    Both are rounded to ``digits`` decimals (the precision the source prints).
    Prints the two side by side and returns whether they agree; the caller
    asserts the expected answer, e.g. ``assert vs_source(...)`` or, for an
    erratum, ``assert not vs_source(...)``.

    Parameters
    ----------
    label : str
        What is compared; starts the printed line.
    computed : tensor, array_like or number
        The value the book computes.
    stated : array_like or number
        The value the source prints, same shape.
    digits : int
        Decimals the source prints.

    Returns
    -------
    bool
        Whether both agree after rounding to ``digits`` decimals.
    """
    c = rounded(computed, digits)
    s = rounded(stated, digits)
    if c.shape != s.shape:
        raise AssertionError(f"{label}: shapes differ, {c.shape} vs {s.shape}")
    agree = bool(np.array_equal(c, s))
    fmt = f"{{:.{digits}f}}"

    def show(v):
        return (
            "[" + ", ".join(fmt.format(x) for x in np.atleast_1d(v)) + "]"
            if v.ndim
            else fmt.format(float(v))
        )

    mark = "一致" if agree else "不一致"
    print(f"{label}: 計算 {show(c)} / 資料 {show(s)} → {mark}")
    return agree
