"""The book's plotting style: fixed colour roles, a bundled Japanese font,
deterministic SVG.

Every chapter and every generated figure calls :func:`use_book_style` so that
the same concept is drawn in the same colour everywhere (see
``book/notation.md``):

- ``boundary``  red    -- the boundary of the simplex (some p_i = 0)
- ``interior``  blue   -- the open interior int Δ^{K-1}
- ``gauge``     purple -- the direction **1** that softmax forgets
- ``point``     black  -- a distribution we are looking at
- ``accent``    orange -- a second family of points or a path
"""

from __future__ import annotations

import io

import matplotlib

COLORS = {
    "boundary": "#d62728",
    "interior": "#1f77b4",
    "gauge": "#9467bd",
    "point": "#111111",
    "accent": "#ff7f0e",
    "good": "#2ca02c",
    "grid": "#cccccc",
}

#: Fixed salt for the ids matplotlib writes into SVG files (byte-identical
#: output).
SVG_HASHSALT = "softmax-information-geometry"

#: Metadata that would otherwise make every SVG differ (date) or leak the
#: matplotlib version.
SVG_METADATA = {"Date": None, "Creator": None}


def use_book_style() -> None:
    """Apply the book's rcParams: Japanese font, white background,
    deterministic SVG ids."""
    # registers the bundled IPAex Gothic font
    import matplotlib_fontja  # noqa: F401

    matplotlib.rcParams.update(
        {
            "font.family": "IPAexGothic",
            "axes.unicode_minus": False,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "svg.hashsalt": SVG_HASHSALT,
            "svg.fonttype": "path",
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    _register_figure_display()


def _register_figure_display() -> None:
    """Show figures in a notebook as PNG exactly as they are laid out, and bare
    ``Figure``s too.

    IPython's default crops every displayed figure to its content
    (``bbox_inches="tight"``), which lays the figure out a second time before
    drawing it: chapter 5 spent 4.1 s drawing its figures with it and 2.5 s
    without. The book's figures set their own margins (fixed, or
    ``layout="constrained"``) instead, and
    ``tests/browser/test_figure_layout.py`` checks that no figure in the built
    book is cut off at its edge.

    pyplot registers its display hook only once it is imported; chapters that
    draw only with ``matplotlib.figure.Figure`` would otherwise show the text
    ``<Figure size ...>``.
    """
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    # the inline backend re-registers its own settings when pyplot is imported
    # later
    try:
        from matplotlib_inline.config import InlineBackend

        InlineBackend.instance(parent=shell).print_figure_kwargs = {
            "bbox_inches": None
        }
    except ImportError:
        pass
    select_figure_formats(shell, {"png"}, bbox_inches=None)


def svg_bytes(fig) -> bytes:
    """Render ``fig`` to SVG bytes that do not change from run to run.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.

    Returns
    -------
    bytes
        The SVG file.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    return buf.getvalue()


def rgb_array(fig, dpi: int = 80):
    """The pixels of ``fig`` drawn at ``dpi``: an (H, W, 3) ``uint8`` array
    (white background).

    Drawn on the figure's Agg canvas directly (the same pixels as ``savefig``,
    which the tests check, without writing and re-reading a PNG); the figure's
    own dpi is restored afterwards.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to draw.
    dpi : int
        Resolution (default 80).

    Returns
    -------
    numpy.ndarray
        The pixels, (H, W, 3) ``uint8``.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = (
        fig.canvas
        if isinstance(fig.canvas, FigureCanvasAgg)
        else FigureCanvasAgg(fig)
    )
    shown_dpi = fig.dpi
    fig.dpi = dpi  # what savefig(dpi=...) does for the time of one drawing
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        return np.ascontiguousarray(rgba[..., :3])
    finally:
        fig.dpi = shown_dpi


def png_bytes(fig, dpi: int = 80, colors: int | None = None) -> bytes:
    """Render ``fig`` to PNG bytes.

    With ``colors`` the image is quantized to an adaptive palette of that many
    colours (median cut, no dithering): for line plots and flat colour maps
    this makes a frame about three times smaller with no visible change. The
    quantized path takes the pixels from :func:`rgb_array` (the same pixels as
    ``savefig``; about a third less time).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.
    dpi : int
        Resolution (default 80).
    colors : int, optional
        Palette size; None (default) keeps full RGB(A) colour.

    Returns
    -------
    bytes
        The PNG file.
    """
    if colors is None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()
    from PIL import Image

    image = Image.fromarray(rgb_array(fig, dpi=dpi))
    image = image.quantize(
        colors=colors,
        method=Image.Quantize.MEDIANCUT,
        dither=Image.Dither.NONE,
    )
    out = io.BytesIO()
    # optimize=True would cost ~7 ms a frame for 3% fewer bytes
    image.save(out, format="PNG")
    return out.getvalue()
