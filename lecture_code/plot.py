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

# : One math typesetter for every figure of :func:`new_figure`. matplotlib
# gives each renderer its : own, so the same label ("$e_1$", "$10^{-3}$") was
# typeset again for every figure at ~7 ms each.
_MATHTEXT = MathTextParser("path")


class _BookCanvas(FigureCanvasAgg):
    """An Agg canvas whose renderers share the book's math typesetter (and
    its cache)."""

    def get_renderer(self):
        renderer = super().get_renderer()
        renderer.mathtext_parser = _MATHTEXT
        return renderer


def to_numpy(x) -> np.ndarray:
    """Convert a tensor or array-like to a float NumPy array."""
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
    """
    use_book_style()
    fig = Figure(
        figsize=(width, height),
        layout=None if margins is not None else "constrained",
    )
    # a canvas of its own keeps one renderer (and its text cache) across
    # redraws
    _BookCanvas(fig)
    if margins is not None:
        fig.subplots_adjust(**margins)
    axes = fig.subplots(1, ncols, subplot_kw=subplot_kw or None)
    return fig, axes


def simplex_axes(
    ax,
    vertex_labels=("$e_1$", "$e_2$", "$e_3$"),
    boundary: bool = True,
    pad: float = 0.08,
):
    """Prepare ``ax`` for Δ²: equal aspect, no ticks, the boundary in red,
    vertex labels."""
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
    """Scatter barycentric points (..., 3) on Δ²."""
    xy = barycentric_to_cartesian(to_numpy(p).reshape(-1, 3))
    kwargs.setdefault("s", 18)
    kwargs.setdefault("zorder", 4)
    return ax.scatter(xy[:, 0], xy[:, 1], **kwargs)


def plot_simplex_path(ax, p, **kwargs):
    """Draw a path of barycentric points (N, 3) on Δ² as a line."""
    xy = barycentric_to_cartesian(to_numpy(p).reshape(-1, 3))
    kwargs.setdefault("zorder", 4)
    return ax.plot(xy[:, 0], xy[:, 1], **kwargs)


def simplex_heatmap(
    ax, f, n: int = 60, levels: int = 20, cmap: str = "viridis", **kwargs
):
    """Filled contours of ``f`` over Δ²; ``f`` maps an (M, 3) array of points
    to (M,) values.

    The grid contains boundary points, so ``f`` must accept them (use 0·log 0 =
    0 etc.). Returns the contour set (pass it to ``fig.colorbar``).
    """
    pts = simplex_grid(n, 3)
    vals = to_numpy(f(pts)).reshape(-1)
    xy = barycentric_to_cartesian(pts)
    tri = Triangulation(xy[:, 0], xy[:, 1])
    return ax.tricontourf(tri, vals, levels=levels, cmap=cmap, **kwargs)
