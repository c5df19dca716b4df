"""Input validation for every public function of the library, in one place.

A public function reads "validate in one line, then the mathematics"; the lines
that validate call the functions here, so the same mistake gets the same answer
everywhere:

- ``TypeError`` for the wrong kind of thing (a string for an array, a float for
  a count, a bool for a number, a float tensor for labels);
- ``ValueError`` for the wrong value (NaN, a negative temperature, a row that
  does not sum to 1, a label out of range, a wrong shape);
- every message names the argument and says what was expected.

NumPy scalars are numbers (``np.float32(0.5)`` is accepted wherever ``0.5`` is,
and ``np.int64(3)`` wherever ``3`` is), and a one-element tensor is accepted as
a number.

Tolerance policy: a probability vector may miss the simplex by rounding only.
Its entries must be >= -atol and each row must sum to 1 within atol, with atol
= √ε of its floating dtype (:func:`prob_atol`: 1.5e-8 for float64, 3.5e-4 for
float32): the square root of the machine epsilon leaves room for a sum of many
rounded terms and still rejects logits or a forgotten normalization. NumPy
arrays and Python lists are float64.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np
import torch


def prob_atol(dtype) -> float:
    """The tolerance of "is a probability vector" for arrays of ``dtype``: √ε
    (float64: 1.5e-8).

    Parameters
    ----------
    dtype : torch.dtype or NumPy dtype
        The floating dtype of the probabilities.

    Returns
    -------
    float
        √ε of ``dtype``.

    Examples
    --------
    >>> f"{prob_atol(torch.float64):.2e}", f"{prob_atol(torch.float32):.2e}"
    ('1.49e-08', '3.45e-04')
    """
    eps = (
        torch.finfo(dtype).eps
        if isinstance(dtype, torch.dtype)
        else np.finfo(dtype).eps
    )
    return math.sqrt(eps)


def _type_name(x) -> str:
    return type(x).__name__


# ---------------------------------------------------------------------------
# numbers


def number(x, name: str) -> float:
    """A finite real number: Python int/float, a NumPy number or a one-element
    tensor, as a float.

    Parameters
    ----------
    x : number
        Python int/float, NumPy number or one-element array or tensor.
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    float
        ``x`` as a Python float.

    Examples
    --------
    >>> number(np.float32(0.5), "tau")
    0.5
    """
    if isinstance(x, (torch.Tensor, np.ndarray)) and not isinstance(
        x, np.generic
    ):
        if x.size == 1 if isinstance(x, np.ndarray) else x.numel() == 1:
            x = x.item()
        else:
            raise ValueError(
                f"{name} must be a single number, got an array of shape "
                f"{tuple(x.shape)}"
            )
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_type_name(x)}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    return x


def positive(x, name: str, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0 with ``allow_zero``), as a float.

    Parameters
    ----------
    x : number
        The value to check.
    name : str
        The argument's name, used in error messages.
    allow_zero : bool
        Accept 0 too (default False: strictly positive).

    Returns
    -------
    float
        ``x`` as a Python float.

    Examples
    --------
    >>> positive(2, "tau")
    2.0
    """
    if (
        isinstance(x, numbers.Real)
        and not isinstance(x, (bool, np.bool_))
        and not math.isfinite(x)
    ):
        raise ValueError(
            f"{name} must be a finite number "
            f"{'>= 0' if allow_zero else '> 0'}, got {float(x)!r}"
        )
    v = number(x, name)
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a finite number "
            f"{'>= 0' if allow_zero else '> 0'}, got {x!r}"
        )
    return v


def in_interval(
    x, name: str, low: float, high: float, closed: str = "both"
) -> float:
    """A number in the interval from ``low`` to ``high``.

    Parameters
    ----------
    x : number
        The value to check.
    name : str
        The argument's name, used in error messages.
    low, high : float
        The ends of the interval.
    closed : str
        Which ends belong to it: "both" (default), "left", "right" or
        "neither".

    Returns
    -------
    float
        ``x`` as a Python float.

    Examples
    --------
    >>> in_interval(1.0, "top_p", 0.0, 1.0, closed="right")
    1.0
    """
    v = number(x, name)
    lo_ok = v >= low if closed in ("both", "left") else v > low
    hi_ok = v <= high if closed in ("both", "right") else v < high
    if not (lo_ok and hi_ok):
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        raise ValueError(
            f"{name} must be a number in {left}{low:.4g}, {high:.4g}{right}, "
            f"got {x!r}"
        )
    return v


def integer(
    x, name: str, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A Python or NumPy integer (not a bool, not a float) with ``minimum <= x
    <= maximum``.

    Parameters
    ----------
    x : int
        The value to check (Python or NumPy integer).
    name : str
        The argument's name, used in error messages.
    minimum, maximum : int, optional
        Inclusive bounds; None (default) leaves that side open.

    Returns
    -------
    int
        ``x`` as a Python int.

    Examples
    --------
    >>> integer(np.int64(3), "n", minimum=1)
    3
    """
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        x = operator.index(x)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {_type_name(x)}"
        ) from None
    if (minimum is not None and x < minimum) or (
        maximum is not None and x > maximum
    ):
        if maximum is not None:
            raise ValueError(
                f"{name} must be an integer in [{minimum}, {maximum}], got {x}"
            )
        want = (
            "a positive integer"
            if minimum == 1
            else f"an integer >= {minimum}"
        )
        raise ValueError(f"{name} must be {want}, got {x}")
    return x


def positive_int(x, name: str) -> int:
    """An integer >= 1 (Python or NumPy; bools and floats are a
    ``TypeError``).

    Parameters
    ----------
    x : int
        The value to check.
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    int
        ``x`` as a Python int.
    """
    return integer(x, name, minimum=1)


def flag(x, name: str) -> bool:
    """``True`` or ``False`` (NumPy bools too); anything else is a
    ``TypeError``.

    Parameters
    ----------
    x : bool
        The value to check.
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    bool
        ``x`` as a Python bool.
    """
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def choice(x, name: str, options) -> str:
    """One of ``options`` (strings); anything else is a ``ValueError`` that
    lists them.

    Parameters
    ----------
    x : str
        The value to check.
    name : str
        The argument's name, used in error messages.
    options : sequence of str
        The allowed values.

    Returns
    -------
    str
        ``x`` unchanged.

    Examples
    --------
    >>> choice("logits", "coordinates", ("probs", "free", "logits"))
    'logits'
    """
    if not isinstance(x, str) or x not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {x!r}")
    return x


def generator(g, name: str = "generator", optional: bool = True):
    """A ``torch.Generator`` (or None when ``optional``).

    Parameters
    ----------
    g : torch.Generator or None
        The value to check.
    name : str
        The argument's name, used in error messages (default "generator").
    optional : bool
        Accept None (default True).

    Returns
    -------
    torch.Generator or None
        ``g`` unchanged.
    """
    if g is None and optional:
        return None
    if not isinstance(g, torch.Generator):
        what = "a torch.Generator or None" if optional else "a torch.Generator"
        raise TypeError(f"{name} must be {what}, got {_type_name(g)}")
    return g


def function(f, name: str, what: str = ""):
    """A callable.

    Parameters
    ----------
    f : callable
        The value to check.
    name : str
        The argument's name, used in error messages.
    what : str
        Its expected signature for the error message, e.g. ``"x (P,) -> a
        scalar"`` (default: none).

    Returns
    -------
    callable
        ``f`` unchanged.
    """
    if not callable(f):
        raise TypeError(
            f"{name} must be a function{' ' + what if what else ''}, got "
            f"{_type_name(f)}"
        )
    return f


# ---------------------------------------------------------------------------
# arrays and tensors


def to_numpy(x) -> np.ndarray:
    """The one tensor → NumPy converter: tensors are detached and moved to
    the CPU, others go through ``np.asarray``.

    Parameters
    ----------
    x : tensor, array_like
        The values to convert.

    Returns
    -------
    numpy.ndarray
        ``x`` as a NumPy array, same shape.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _shape_check(shape, name: str, ndim, nonempty: bool) -> None:
    if ndim is not None and len(shape) != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimension{'s' if ndim != 1 else ''}, "
            f"got shape {tuple(shape)}"
        )
    if nonempty and (len(shape) == 0 or 0 in shape):
        raise ValueError(
            f"{name} must be non-empty with K >= 1 entries along every axis, "
            f"got shape {tuple(shape)}"
        )


def as_array(
    x,
    name: str,
    *,
    ndim: int | None = None,
    nonempty: bool = True,
    finite: bool = False,
) -> np.ndarray:
    """``x`` as a float64 NumPy array (tensors detached): TypeError if it holds
    no numbers, ValueError for NaN.

    Parameters
    ----------
    x : array_like or tensor
        The values to check.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of axes (default: any).
    nonempty : bool
        Require at least one axis and a non-empty last axis, K >= 1 (default
        True).
    finite : bool
        Also reject ±inf (default False).

    Returns
    -------
    numpy.ndarray
        ``x`` as float64, same shape.

    Examples
    --------
    >>> as_array([1, 2], "p")
    array([1., 2.])
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(
            f"{name} must be an array of numbers, got {_type_name(x)}"
        )
    try:
        arr = np.asarray(to_numpy(x), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if ndim is not None:
        _shape_check(arr.shape, name, ndim, False)
    if nonempty and (arr.ndim == 0 or arr.shape[-1] == 0):
        raise ValueError(
            f"{name} must have a last axis of length K >= 1, got shape "
            f"{arr.shape}"
        )
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def as_tensor(
    x,
    name: str,
    *,
    ndim: int | None = None,
    dtype=None,
    finite: bool = False,
    nan: bool = True,
) -> torch.Tensor:
    """``x`` as a floating tensor: the one array → tensor converter.

    Tensors keep their floating dtype; integer tensors become ``dtype``
    (default: torch's default float). Other inputs (lists, NumPy arrays,
    numbers) become ``dtype`` if it is given, else what ``torch.as_tensor``
    makes of them (then integers become the default float). Bool, complex and
    non-numeric input is a ``TypeError``.

    Parameters
    ----------
    x : tensor, array_like or number
        The values to check.
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
        Required number of axes (default: any).
    dtype : torch.dtype, optional
        Floating dtype for non-tensor or integer input (see above).
    finite : bool
        Reject NaN and ±inf (default False).
    nan : bool
        Allow NaN (default True); ``nan=False`` rejects NaN only.

    Returns
    -------
    torch.Tensor
        ``x`` as a floating tensor, same shape.

    Examples
    --------
    >>> as_tensor([1, 2], "z", dtype=torch.float64)
    tensor([1., 2.], dtype=torch.float64)
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(
            f"{name} must be a tensor or an array of numbers, got "
            f"{_type_name(x)}"
        )
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=dtype)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"{name} must be a tensor or an array of numbers: {exc}"
            ) from None
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(dtype if dtype is not None else torch.get_default_dtype())
    if ndim is not None:
        _shape_check(x.shape, name, ndim, False)
    if (
        (finite or not nan)
        and x.numel()
        and not math.isfinite(x.detach().sum().item())
    ):
        # the sum is a cheap first test: it is finite unless x holds a NaN or
        # an infinity
        if finite and not torch.isfinite(x).all():
            raise ValueError(f"{name} must be finite (no NaN or inf)")
        if torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN")
    return x


def axis(x: torch.Tensor, dim, name: str) -> int:
    """A valid, non-empty axis ``dim`` of the tensor ``x`` (the category axis
    of softmax).

    Parameters
    ----------
    x : torch.Tensor
        The tensor the axis belongs to.
    dim : int
        The axis, negative counting from the end.
    name : str
        The tensor's name, used in error messages.

    Returns
    -------
    int
        ``dim`` as a Python int, unchanged (not normalized).

    Examples
    --------
    >>> axis(torch.zeros(2, 3), -1, "z")
    -1
    """
    d = integer(dim, "dim")
    if x.dim() == 0:
        raise ValueError(
            f"{name} must have at least one dimension, got a scalar"
        )
    if not -x.dim() <= d < x.dim():
        raise ValueError(
            f"dim={d} is out of range for {name} with shape {tuple(x.shape)}"
        )
    if x.shape[d] == 0:
        raise ValueError(
            f"{name} is empty along dim={d} (shape {tuple(x.shape)}): softmax "
            "needs K >= 1"
        )
    return d


def logits(
    z, name: str = "z", dim=-1, ndim: int | None = None, dtype=None
) -> tuple[torch.Tensor, int]:
    """Logits for softmax: a floating tensor with a non-empty axis ``dim``, no
    NaN, no +inf, and no slice along ``dim`` that is all -inf (every
    category masked).

    Parameters
    ----------
    z : tensor, array_like
        The logits, any shape with a non-empty axis ``dim``.
    name : str
        The argument's name, used in error messages (default "z").
    dim : int
        The category axis (default -1).
    ndim : int, optional
        Required number of axes (default: any).
    dtype : torch.dtype, optional
        Floating dtype for non-tensor or integer input (see :func:`as_tensor`).

    Returns
    -------
    tuple of (torch.Tensor, int)
        The logits as a floating tensor and ``dim`` as a Python int.

    Examples
    --------
    >>> logits([0.0, float("-inf")], "z")
    (tensor([0., -inf]), -1)
    """
    z = as_tensor(z, name, ndim=ndim, dtype=dtype)
    d = axis(z, dim, name)
    if z.numel() and math.isfinite(z.detach().sum().item()):
        # fast path: a NaN or an infinity anywhere would make the sum NaN or
        # infinite
        return z, d
    if torch.isnan(z).any():
        raise ValueError(f"{name} contains NaN")
    if torch.isposinf(z).any():
        raise ValueError(
            f"{name} contains +inf: the distribution would be undefined"
        )
    if z.numel() and torch.isneginf(z).all(dim=d).any():
        raise ValueError(
            f"{name} has a row that is all -inf (every category masked): no "
            "distribution"
        )
    return z, d


def probabilities(
    p,
    name: str = "p",
    *,
    interior: bool = False,
    normalized: bool = True,
    atol: float | None = None,
):
    """Rows (along the last axis) of probabilities, under the module's
    tolerance policy.

    Tensors stay tensors (floating); anything else becomes a float64 NumPy
    array. Entries must be >= -atol (and > 0 with ``interior``, which also
    needs K >= 2), no NaN, and with ``normalized`` every row must sum to 1
    within atol.

    Parameters
    ----------
    p : tensor, array_like
        Probabilities, shape (..., K).
    name : str
        The argument's name, used in error messages (default "p").
    interior : bool
        Require every entry > 0 and K >= 2 (default False).
    normalized : bool
        Require every row to sum to 1 (default True).
    atol : float, optional
        Tolerance; default :func:`prob_atol` of the dtype.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``p``, a floating tensor or a float64 array, same shape.

    Examples
    --------
    >>> probabilities([0.25, 0.75])
    array([0.25, 0.75])
    """
    if isinstance(p, torch.Tensor):
        p = as_tensor(p, name, nan=False)
        if p.dim() == 0 or p.shape[-1] == 0:
            raise ValueError(
                f"{name} must have a last axis of length K >= 1, got shape "
                f"{tuple(p.shape)}"
            )
        arr, tol = p.detach().cpu().double().numpy(), prob_atol(p.dtype)
    else:
        p = arr = as_array(p, name)
        tol = prob_atol(np.float64)
    tol = tol if atol is None else atol
    lowest = float(arr.min()) if arr.size else 0.0
    if lowest < -tol:
        raise ValueError(
            f"{name} must be non-negative, got a minimum entry of {lowest:.3g}"
        )
    if normalized and arr.size:
        sums = arr.sum(axis=-1)
        err = np.abs(sums - 1.0)
        if (err > tol).any():
            worst = float(sums.flat[int(np.argmax(err))])
            raise ValueError(
                f"{name} must sum to 1 along the last axis, got a sum of "
                f"{worst:.6g}"
            )
    if interior:
        if arr.shape[-1] < 2:
            raise ValueError(
                f"{name} needs K >= 2 categories, got K={arr.shape[-1]}"
            )
        if lowest <= 0:
            raise ValueError(
                f"{name} lies on the boundary of the simplex (smallest entry "
                f"{lowest:.3g}): "
                "the Fisher metric is only defined where every probability is "
                "> 0"
            )
    return p


def labels(y, n: int | None, k: int | None, name: str = "y") -> torch.Tensor:
    """Integer class labels (Python, NumPy or tensor), shape (n,), values in
    0..k-1, as int64.

    Float or bool labels are a ``TypeError``; a wrong shape or a value out of
    range a ``ValueError``.

    Parameters
    ----------
    y : tensor, array_like
        The labels, shape (n,).
    n : int or None
        Required number of labels; None accepts any 1-D length.
    k : int or None
        Number of classes; None when K is read from the labels themselves
        (then only negative labels are rejected).
    name : str
        The argument's name, used in error messages (default "y").

    Returns
    -------
    torch.Tensor
        ``y`` as int64, shape (n,).

    Examples
    --------
    >>> labels([0, 2], 2, 3)
    tensor([0, 2])
    >>> labels([4, 1], None, None)
    tensor([4, 1])
    """
    if isinstance(y, (str, bytes)):
        raise TypeError(
            f"{name} must hold integer class labels, got {_type_name(y)}"
        )
    try:
        t = (
            y
            if isinstance(y, torch.Tensor)
            else torch.as_tensor(np.asarray(y))
        )
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            f"{name} must hold integer class labels: {exc}"
        ) from None
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {t.dtype}"
        )
    if t.dim() != 1 or (n is not None and t.shape[0] != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise ValueError(
            f"{name} must have shape {want}, got {tuple(t.shape)}"
        )
    if t.numel() and k is None and t.min() < 0:
        raise ValueError(
            f"{name} must be class labels >= 0, got {int(t.min())}"
        )
    if t.numel() and k is not None and (t.min() < 0 or t.max() >= k):
        raise ValueError(
            f"{name} must lie in 0..{k - 1}, got values from {int(t.min())} "
            f"to {int(t.max())}"
        )
    return t.long()


def same_last_axis(a, b, names: str = "p and q") -> None:
    """Two arrays with the same number K of entries along the last axis.

    Parameters
    ----------
    a, b : tensor or numpy.ndarray
        Arrays of shape (..., K).
    names : str
        Their names for the error message (default "p and q").
    """
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{names} must have the same K, got {a.shape[-1]} and "
            f"{b.shape[-1]}"
        )
