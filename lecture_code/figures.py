"""The lecture's figures, generated: ``python -m lecture_code.figures [--check]
[--out DIR]``.

Each function below draws one figure named in the lecture (seed 000) and
returns a matplotlib ``Figure``; :data:`FIGURES` maps the file name to the
function. The command writes every SVG into ``figures/`` (or ``--out``);
``--check`` writes nothing and exits with status 1 if a committed file differs
from what the code makes now. Output is byte-identical from run to run
(``lecture_code.style.svg_bytes``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .plot import plot_simplex_path, plot_simplex_points, simplex_axes
from .simplex import TRIANGLE, barycentric_to_cartesian
from .softmax import softmax
from .style import COLORS, svg_bytes, use_book_style

FIGURE_DIR = Path(__file__).resolve().parent.parent / "figures"


def fig_simplex() -> Figure:
    """04_fig_simplex.svg: Δ² in ℝ³ and flat; boundary red solid, interior
    blue dashed (chapter 1).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot).
    """
    use_book_style()
    fig = Figure(figsize=(8.4, 3.9), layout="constrained")
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    tri = np.vstack([np.eye(3), np.eye(3)[:1]])
    ax3.plot(tri[:, 0], tri[:, 1], tri[:, 2], color=COLORS["boundary"], lw=2)
    ax3.plot_trisurf(
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        color=COLORS["interior"],
        alpha=0.18,
        linewidth=0,
    )
    for axis in np.eye(3):
        ax3.plot(
            [0, 1.25 * axis[0]],
            [0, 1.25 * axis[1]],
            [0, 1.25 * axis[2]],
            color="0.5",
            lw=0.8,
        )
    for i, v in enumerate(np.eye(3)):
        ax3.scatter(*v, color=COLORS["boundary"], s=25)
        ax3.text(
            v[0] + 0.04, v[1] + 0.04, v[2] + 0.06, f"$e_{i + 1}$", fontsize=11
        )
    centre = np.full(3, 1 / 3)
    ax3.scatter(*centre, color=COLORS["point"], s=18)
    ax3.set_xlabel("$p_1$")
    ax3.set_ylabel("$p_2$")
    ax3.set_zlabel("$p_3$")
    ax3.set_xticks([0, 1])
    ax3.set_yticks([0, 1])
    ax3.set_zticks([0, 1])
    ax3.view_init(elev=22, azim=35)
    ax3.set_title(
        "$\\mathbb{R}^3$ の中の $\\Delta^2$（$p_1+p_2+p_3=1$, $p_i\\geq 0$）",
        fontsize=10,
    )

    ax = fig.add_subplot(1, 2, 2)
    simplex_axes(
        ax, vertex_labels=("$e_1=(1,0,0)$", "$e_2=(0,1,0)$", "$e_3=(0,0,1)$")
    )
    inner = barycentric_to_cartesian(0.9 * np.eye(3) + 0.1 / 3)
    closed = np.vstack([inner, inner[:1]])
    ax.fill(
        closed[:, 0], closed[:, 1], color=COLORS["interior"], alpha=0.12, lw=0
    )
    ax.plot(
        closed[:, 0], closed[:, 1], ls="--", color=COLORS["interior"], lw=1.5
    )
    centre_xy = barycentric_to_cartesian(centre)
    ax.scatter(*centre_xy, color=COLORS["point"], s=18, zorder=5)
    ax.annotate(
        "一様分布 $(\\frac{1}{3},\\frac{1}{3},\\frac{1}{3})$",
        centre_xy,
        xytext=(0.5, 0.2),
        ha="center",
        fontsize=9,
        arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8),
    )
    edge = barycentric_to_cartesian([0.5, 0.5, 0.0])
    ax.annotate(
        "境界: $p_3=0$",
        edge,
        xytext=(0.5, -0.075),
        ha="center",
        fontsize=9,
        color=COLORS["boundary"],
    )
    ax.text(
        0.5,
        0.47,
        "開内部 int $\\Delta^2$\n(すべての $p_i>0$)",
        ha="center",
        fontsize=9,
        color=COLORS["interior"],
    )
    ax.set_title("平面に描いた $\\Delta^2$", fontsize=10)
    return fig


def fig_softmax_map() -> Figure:
    """04_fig_softmax_map.svg: a grid of logits mapped into int Δ²; shifts
    along 1 land on one point (chapter 2).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot).
    """
    use_book_style()
    fig = Figure(figsize=(8.4, 3.9), layout="constrained")
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax = fig.add_subplot(1, 2, 2)
    simplex_axes(ax)

    # Orthonormal basis of the plane {z : Σ z_i = 0}, the gauge-fixed slice of
    # ℝ³.
    u = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    v = np.array([1.0, 1.0, -2.0]) / np.sqrt(6)
    ticks = np.linspace(-4, 4, 9)
    # wide enough to bend towards the boundary, still visibly inside
    dense = np.linspace(-5, 5, 400)
    for _family, (a_dir, b_dir) in enumerate([(u, v), (v, u)]):
        for t in ticks:
            z = t * a_dir + dense[:, None] * b_dir  # (400, 3)
            zz = z[np.abs(dense) <= 4]
            ax3.plot(
                zz[:, 0],
                zz[:, 1],
                zz[:, 2],
                color=COLORS["interior"],
                lw=0.6,
                alpha=0.8,
            )
            p = softmax(torch.tensor(z)).numpy()
            plot_simplex_path(
                ax, p, color=COLORS["interior"], lw=0.6, alpha=0.8
            )

    z0 = np.array([1.0, -0.5, -0.5])
    c = np.linspace(-2.5, 2.5, 6)
    line = z0 + c[:, None] * np.ones(3)
    ax3.plot(line[:, 0], line[:, 1], line[:, 2], color=COLORS["gauge"], lw=2)
    ax3.scatter(
        line[:, 0], line[:, 1], line[:, 2], color=COLORS["gauge"], s=16
    )
    ax3.text(
        *(line[-1] + 0.3),
        "$z+c\\mathbf{1}$",
        color=COLORS["gauge"],
        fontsize=10,
    )
    ax3.set_xlabel("$z_1$")
    ax3.set_ylabel("$z_2$")
    ax3.set_zlabel("$z_3$")
    # about 64° from the normal 1: both the plane and the 1-line are visible
    ax3.view_init(elev=10, azim=-20)
    ax3.set_title(
        "ロジット空間 $\\mathbb{R}^3$（青: 平面 $\\sum_i z_i=0$ 上の格子）",
        fontsize=10,
    )

    images = softmax(torch.tensor(line)).numpy()
    plot_simplex_points(ax, images, color=COLORS["gauge"], s=40, zorder=6)
    xy = barycentric_to_cartesian(images[0])
    ax.annotate(
        "6 点とも同じ点に写る",
        xy,
        xytext=(0.78, 0.55),
        fontsize=9,
        color=COLORS["gauge"],
        arrowprops=dict(arrowstyle="->", color=COLORS["gauge"], lw=0.9),
    )
    ax.set_title(
        "softmax の像: int $\\Delta^2$（赤い境界には届かない）", fontsize=10
    )
    return fig


#: Logits and temperatures of the lecture's temperature figure.
TEMPERATURE_LOGITS = (2.0, 1.0, 0.1)
TEMPERATURE_MARKS = (0.5, 1.0, 2.0, 5.0)


def fig_temperature() -> Figure:
    """04_fig_temperature.svg: the path of softmax(z/τ) for z = (2.0, 1.0,
    0.1) (chapter 8).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot).
    """
    use_book_style()
    fig = Figure(figsize=(8.4, 3.7), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    simplex_axes(ax)
    z = torch.tensor(TEMPERATURE_LOGITS, dtype=torch.float64)
    taus = np.geomspace(0.05, 200, 400)
    path = np.stack([softmax(z, temperature=t).numpy() for t in taus])
    plot_simplex_path(ax, path, color=COLORS["accent"], lw=2)
    marks = np.stack(
        [softmax(z, temperature=t).numpy() for t in TEMPERATURE_MARKS]
    )
    plot_simplex_points(ax, marks, color=COLORS["point"], s=22, zorder=6)
    for t, p in zip(TEMPERATURE_MARKS, marks):
        x, y = barycentric_to_cartesian(p)
        ax.text(x + 0.03, y - 0.01, f"$\\tau={t:g}$", fontsize=8, va="top")
    centre = barycentric_to_cartesian(np.full(3, 1 / 3))
    ax.scatter(*centre, marker="x", color=COLORS["interior"], s=40, zorder=6)
    ax.text(
        centre[0] - 0.02,
        centre[1] + 0.04,
        "中心 ($\\tau\\to\\infty$)",
        fontsize=8,
        ha="right",
        color=COLORS["interior"],
    )
    ax.annotate(
        "$\\tau\\to 0$",
        TRIANGLE[0],
        xytext=(0.02, 0.16),
        fontsize=8,
        arrowprops=dict(arrowstyle="->", color="0.4", lw=0.8),
    )
    ax.set_title(
        "$z=(2.0, 1.0, 0.1)$ の $\\mathrm{softmax}(z/\\tau)$ の軌跡",
        fontsize=10,
    )

    ax2 = fig.add_subplot(1, 2, 2)
    for i, color in enumerate(
        [COLORS["boundary"], COLORS["interior"], COLORS["good"]]
    ):
        ax2.plot(taus, path[:, i], color=color, label=f"$p_{i + 1}$")
    ax2.axhline(1 / 3, color="0.6", lw=0.8, ls=":")
    for t in TEMPERATURE_MARKS:
        ax2.axvline(t, color="0.85", lw=0.6)
    ax2.set_xscale("log")
    ax2.set_xlabel("温度 $\\tau$")
    ax2.set_ylabel("確率")
    ax2.set_ylim(0, 1)
    ax2.legend(frameon=False)
    ax2.set_title("各成分の確率と温度", fontsize=10)
    return fig


FIGURES = {
    "04_fig_simplex.svg": fig_simplex,
    "04_fig_softmax_map.svg": fig_softmax_map,
    "04_fig_temperature.svg": fig_temperature,
}


def render_all(names=None) -> dict[str, bytes]:
    """Render the requested figures (all by default) to SVG bytes.

    Parameters
    ----------
    names : iterable of str, optional
        File names, keys of :data:`FIGURES`; None (default) renders all.

    Returns
    -------
    dict of str to bytes
        SVG bytes per file name.
    """
    names = list(names or FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(
            f"unknown figure(s) {unknown}; known: {sorted(FIGURES)}"
        )
    return {name: svg_bytes(FIGURES[name]()) for name in names}


def main(argv=None) -> int:
    """The command line: write the figures, or ``--check`` them.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``): figure names, ``--check``,
        ``--out DIR``.

    Returns
    -------
    int
        Exit status: 1 if ``--check`` found a stale or missing file, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m lecture_code.figures",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "names", nargs="*", help="figure file names (default: all)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a committed figure is stale; write nothing",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=FIGURE_DIR,
        help="output folder (default: figures/)",
    )
    args = parser.parse_args(argv)
    rendered = render_all(args.names)
    if args.check:
        stale = [
            n
            for n, data in rendered.items()
            if not (args.out / n).is_file()
            or (args.out / n).read_bytes() != data
        ]
        for n in stale:
            print(
                f"stale or missing: {args.out / n}  (run: python -m "
                "lecture_code.figures)",
                file=sys.stderr,
            )
        if not stale:
            print(f"{len(rendered)} figures up to date in {args.out}")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in rendered.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name} ({len(data) / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
