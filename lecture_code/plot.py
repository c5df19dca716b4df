"""Drawing on the triangle Δ²: the frame every chapter's pictures of the
simplex share.

Plotting functions accept array-likes (NumPy arrays, lists, torch tensors) of
barycentric coordinates with a last axis of length 3 and draw them with the
book's colour roles (``lecture_code.style.COLORS``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.mathtext import MathTextParser
from matplotlib.tri import Triangulation

from .simplex import TRIANGLE, barycentric_to_cartesian, simplex_grid
from .style import COLORS, use_book_style

#: One math typesetter for every figure of :func:`new_figure`. matplotlib
#: gives each renderer its own, so the same label ("$e_1$", "$10^{-3}$") was
#: typeset again for every figure at ~7 ms each.
_MATHTEXT = MathTextParser("path")


class _BookCanvas(FigureCanvasAgg):
    """An Agg canvas whose renderers share the book's math typesetter (and
    its cache)."""

    def get_renderer(self):
        renderer = super().get_renderer()
        renderer.mathtext_parser = _MATHTEXT
        return renderer


def to_numpy(x) -> np.ndarray:
    """Convert a tensor or array-like to a float NumPy array.

    Parameters
    ----------
    x : torch.Tensor or array_like
        The values.

    Returns
    -------
    numpy.ndarray
        float64.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def new_figure(
    width: float = 4.0,
    height: float = 3.6,
    ncols: int = 1,
    margins: dict | None = None,
    **subplot_kw,
):
    """A pyplot-free figure (safe inside slider render functions) and its axes.

    Without ``margins`` the figure uses constrained layout, which measures
    every label before each draw. With ``margins`` (keyword arguments of
    ``Figure.subplots_adjust``, e.g. ``dict(left=0.1, bottom=0.15)``; fractions
    of the figure) the layout is fixed and a draw is about a third cheaper: use
    it for figures drawn many times (slider frames) or in chapters with a time
    budget. The figure gets its own Agg canvas, so redrawing it (a slider's
    next frame) reuses the renderer and the typeset math instead of starting
    over. ``tests/browser/test_figure_layout.py`` catches margins too small for
    the labels.

    Parameters
    ----------
    width, height : float
        Figure size in inches.
    ncols : int
        Number of panels side by side.
    margins : dict or None
        Fixed margins for ``Figure.subplots_adjust``; None: constrained layout.
    **subplot_kw
        Passed to each axes (e.g. ``projection="3d"``).

    Returns
    -------
    tuple
        The ``Figure`` and its axes (one ``Axes`` or an array of ``ncols``).
    """
    use_book_style()
    fig = Figure(
        figsize=(width, height),
        layout=None if margins is not None else "constrained",
    )
    # its own canvas keeps one renderer (and its text cache) across redraws
    _BookCanvas(fig)
    if margins is not None:
        fig.subplots_adjust(**margins)
    axes = fig.subplots(1, ncols, subplot_kw=subplot_kw or None)
    return fig, axes


def frame_figure(width: float, height: float, ncols: int = 1, **margins):
    """A :func:`new_figure` with fixed margins for slider frames: room for a
    title at y=1.0 above each panel.

    Each slider draws its figure once; its render function only moves the
    parts that change, and the titles sit at a fixed position.

    Parameters
    ----------
    width, height : float
        Figure size in inches.
    ncols : int
        Number of panels side by side.
    **margins
        Overrides of the defaults left=0.02, right=0.98, bottom=0.02, top=0.86,
        wspace=0.1 (fractions of the figure).

    Returns
    -------
    tuple
        The ``Figure`` and its axes (one ``Axes`` or an array of ``ncols``).
    """
    defaults = {
        "left": 0.02,
        "right": 0.98,
        "bottom": 0.02,
        "top": 0.86,
        "wspace": 0.1,
    }
    return new_figure(
        width, height, ncols=ncols, margins={**defaults, **margins}
    )


def simplex_axes(
    ax,
    vertex_labels=("$e_1$", "$e_2$", "$e_3$"),
    boundary: bool = True,
    pad: float = 0.08,
):
    """Prepare ``ax`` for Δ²: equal aspect, no ticks, the boundary in red,
    vertex labels.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes to prepare.
    vertex_labels : sequence of 3 str
        Labels at e_1, e_2, e_3.
    boundary : bool
        Whether to draw the triangle's edges.
    pad : float
        Room around the triangle (axis units).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_xlim(-pad, 1 + pad)
    ax.set_ylim(-pad, np.sqrt(3) / 2 + pad)
    if boundary:
        closed = np.vstack([TRIANGLE, TRIANGLE[:1]])
        ax.plot(
            closed[:, 0],
            closed[:, 1],
            color=COLORS["boundary"],
            lw=1.8,
            zorder=3,
        )
    offsets = [
        (-0.03, -0.05, "right"),
        (0.03, -0.05, "left"),
        (0.0, 0.03, "center"),
    ]
    for (x, y), (dx, dy, ha), lab in zip(
        TRIANGLE, offsets, vertex_labels or ()
    ):
        ax.text(x + dx, y + dy, lab, ha=ha, va="center", fontsize=11)
    return ax


def plot_simplex_points(ax, p, **kwargs):
    """Scatter barycentric points (..., 3) on Δ².

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes prepared by :func:`simplex_axes`.
    p : array_like, shape (..., 3)
        Barycentric coordinates.
    **kwargs
        Passed to ``ax.scatter``.

    Returns
    -------
    matplotlib.collections.PathCollection
        The scatter plot.
    """
    xy = barycentric_to_cartesian(to_numpy(p).reshape(-1, 3))
    kwargs.setdefault("s", 18)
    kwargs.setdefault("zorder", 4)
    return ax.scatter(xy[:, 0], xy[:, 1], **kwargs)


def plot_simplex_path(ax, p, **kwargs):
    """Draw a path of barycentric points (N, 3) on Δ² as a line.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes prepared by :func:`simplex_axes`.
    p : array_like, shape (N, 3)
        Barycentric coordinates along the path.
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    list of matplotlib.lines.Line2D
        The drawn line.
    """
    xy = barycentric_to_cartesian(to_numpy(p).reshape(-1, 3))
    kwargs.setdefault("zorder", 4)
    return ax.plot(xy[:, 0], xy[:, 1], **kwargs)


def simplex_heatmap(
    ax, f, n: int = 60, levels: int = 20, cmap: str = "viridis", **kwargs
):
    """Filled contours of ``f`` over Δ²; ``f`` maps an (M, 3) array of points
    to (M,) values.

    The grid contains boundary points, so ``f`` must accept them (use
    0·log 0 = 0 etc.). Returns the contour set (pass it to ``fig.colorbar``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes prepared by :func:`simplex_axes`.
    f : callable
        (M, 3) array of points -> (M,) values.
    n : int
        Grid resolution (:func:`lecture_code.simplex.simplex_grid`).
    levels : int
        Number of contour levels.
    cmap : str
        Colour map.
    **kwargs
        Passed to ``ax.tricontourf``.

    Returns
    -------
    matplotlib.contour.QuadContourSet
        The contour set (pass it to ``fig.colorbar``).
    """
    pts = simplex_grid(n, 3)
    vals = to_numpy(f(pts)).reshape(-1)
    xy = barycentric_to_cartesian(pts)
    tri = Triangulation(xy[:, 0], xy[:, 1])
    return ax.tricontourf(tri, vals, levels=levels, cmap=cmap, **kwargs)
