"""Sliders that work in JupyterLab (live, with a kernel) and in the static HTML book (no kernel).

``slider(render, tau=Range(0.05, 10, log=True))`` returns an object whose rich representation
carries two views of the same picture:

- ``application/vnd.jupyter.widget-view+json`` (JupyterLab prefers it): one ipywidgets slider per
  parameter and an image that ``render`` redraws as the reader drags. A :class:`Range` is
  continuous there (``FloatSlider``; ``FloatLogSlider`` with ``log=True``; ``IntSlider`` with
  ``integer=True``). Redraws are throttled so the newest value wins: the widget frontend keeps at
  most one update per slider in flight and merges the moves made meanwhile into the next one, and
  the kernel skips a redraw whose values are the ones already shown.
- ``text/html`` (the book prefers it, ``nb_mime_priority_overrides`` in ``_config.yml``): the same
  range sampled at its stops, every combination rendered in advance, and an ``<input type=range>``
  per parameter whose few lines of inline script swap the picture. It needs no kernel.

A parameter is either a :class:`Range` (numeric, continuous) or a list of values (categorical
choices, e.g. ``mode=["なし", "top-k=2"]``; a list of numbers still works and snaps to its values).
``render`` takes one keyword argument per parameter and returns a matplotlib ``Figure``; reuse one
figure and change only what moves (see the chapters). The number next to each slider is computed
from the value ``render`` received (``fmt``), in both views, so it is the value the picture shows;
when the figure writes the value too (a title), use the same format there.

Frames are cheap when they differ little, in both senses:

- size: the pixels that most frames share are stored once as a background image, and each frame
  stores only the pixels that differ from it (a palette PNG, transparent elsewhere) laid over the
  background. The static view is limited to ``max_bytes`` (600 KB by default): exceeding it raises
  ``ValueError``;
- time: when ``render`` reuses one figure, only the artists that change (and what is drawn over
  them) are redrawn, over a saved background (``_Painter``; checked against full draws). This
  keeps a live redraw to a few tens of milliseconds, and the static build fast.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import itertools
import json
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .style import use_book_style

#: Largest static HTML a slider may produce (the issue's budget per slider).
MAX_BYTES = 600_000

#: Frames are quantized to at most this many colours (about 3x smaller PNGs, no visible change).
PALETTE_COLORS = 128

#: Stops per numeric parameter when a :class:`Range` does not say, by the number of parameters of
#: the slider (one: 25 stops; two: 7 each, e.g. 7 x 7; more: 5 each).
DEFAULT_STOPS = {1: 25, 2: 7}
DEFAULT_STOPS_MANY = 5

#: The live slider has this many steps between two neighbouring static stops (so every stop of
#: the book is also a position of the live slider).
LIVE_SUBSTEPS = 10

#: Above this mean fraction of changed pixels, frames are stored whole instead of over a background.
_OVERLAY_MAX_CHANGED = 0.5

_SCRIPT = """<script>(function () {
  var root = document.currentScript.previousElementSibling;
  var frames = JSON.parse(root.querySelector('script.lc-frames').textContent);
  var labels = JSON.parse(root.querySelector('script.lc-labels').textContent);
  var inputs = root.querySelectorAll('input[type=range]');
  var outputs = root.querySelectorAll('output');
  var img = root.querySelector('img.lc-frame');
  function update() {
    var idx = 0;
    for (var k = 0; k < inputs.length; k++) {
      var v = Number(inputs[k].value);
      idx = idx * labels[k].length + v;
      outputs[k].textContent = labels[k][v];
    }
    img.src = 'data:image/png;base64,' + frames[idx];
  }
  for (var k = 0; k < inputs.length; k++) inputs[k].addEventListener('input', update);
})();</script>"""


@dataclass(frozen=True)
class Range:
    """A numeric slider parameter: continuous from ``lo`` to ``hi`` in JupyterLab, sampled at
    ``stops`` values (both ends included) in the static book.

    Parameters
    ----------
    lo, hi : float
        The ends of the range, ``lo < hi``, both finite.
    log : bool
        Logarithmic scale (for scales such as a temperature τ or a concentration κ): the stops are
        geometrically spaced and the live control is a ``FloatLogSlider``. Needs ``lo > 0``.
    stops : int, optional
        Number of precomputed values for the static view (at least 2). Default: 25 for a slider
        with one parameter, 7 for each of two, 5 for each of more (``DEFAULT_STOPS``).
    integer : bool
        Counts: ``render`` receives ``int`` values, the live control is an ``IntSlider`` (or a
        ``FloatLogSlider`` rounded to integers with ``log=True``); repeated stops are merged.

    Examples
    --------
    >>> Range(1, 3, stops=5).sample()
    [1.0, 1.5, 2.0, 2.5, 3.0]
    >>> Range(1, 512, log=True, integer=True, stops=10).sample()
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    """

    lo: float
    hi: float
    log: bool = False
    stops: int | None = None
    integer: bool = False

    def __post_init__(self):
        for name in ("lo", "hi"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"Range {name} must be a number, got {v!r}")
            if not math.isfinite(v):
                raise ValueError(f"Range {name} must be finite, got {v!r}")
        if not self.lo < self.hi:
            raise ValueError(f"Range needs lo < hi, got lo={self.lo!r}, hi={self.hi!r}")
        if self.log and self.lo <= 0:
            raise ValueError(f"a log Range needs lo > 0, got lo={self.lo!r}")
        if self.stops is not None and (isinstance(self.stops, bool) or not isinstance(self.stops, numbers.Integral)):
            raise TypeError(f"Range stops must be an integer, got {self.stops!r}")
        if self.stops is not None and self.stops < 2:
            raise ValueError(f"Range stops must be at least 2, got {self.stops!r}")
        if self.integer and (self.lo != int(self.lo) or self.hi != int(self.hi)):
            raise ValueError(f"an integer Range needs integer ends, got lo={self.lo!r}, hi={self.hi!r}")

    def sample(self, stops: int | None = None) -> list:
        """The static stops: ``self.stops`` values (or ``stops`` if the Range gives none)."""
        n = self.stops or stops or DEFAULT_STOPS[1]
        lo, hi = float(self.lo), float(self.hi)
        v = np.geomspace(lo, hi, n) if self.log else np.linspace(lo, hi, n)
        if self.integer:
            return [int(x) for x in np.unique(np.rint(v).astype(np.int64))]
        out = [float(x) for x in v]
        out[0], out[-1] = lo, hi
        return out


def _close(fig) -> None:
    """Close ``fig`` if pyplot manages it (a figure made by ``plt.figure`` in ``render``)."""
    if "matplotlib.pyplot" not in sys.modules:
        return
    import matplotlib.pyplot as plt
    from matplotlib._pylab_helpers import Gcf

    if any(m.canvas.figure is fig for m in Gcf.get_all_fig_managers()):
        plt.close(fig)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(image, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **kwargs)
    return out.getvalue()


def _quantized_png(pixels: np.ndarray) -> bytes:
    """A palette PNG of an (H, W, 3) image (median cut, no dithering)."""
    from PIL import Image

    q = Image.fromarray(pixels).quantize(colors=PALETTE_COLORS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return _png(q)  # optimize=True would cost ~7 ms a frame for 3% fewer bytes


def _overlay_png(pixels: np.ndarray, mask: np.ndarray) -> bytes:
    """A palette PNG of the pixels under ``mask``; every other pixel is transparent.

    The palette is fitted to the changed pixels only; the transparent entry is white, so a viewer
    that ignores transparency sees blank paper there.
    """
    from PIL import Image

    h, w = mask.shape
    changed = pixels[mask]
    index = np.zeros((h, w), dtype=np.uint8)
    if len(changed):
        q = Image.fromarray(changed[None]).quantize(
            colors=PALETTE_COLORS - 1, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        idx = np.asarray(q).reshape(-1)
        ncol = int(idx.max()) + 1
        palette = list(q.getpalette()[: 3 * ncol])
        index[:] = ncol
        index[mask] = idx
    else:
        ncol, palette = 0, []
    image = Image.frombytes("P", (w, h), index.tobytes())
    image.putpalette(palette + [255, 255, 255])
    return _png(image, transparency=ncol)


def _background(stack: np.ndarray) -> np.ndarray:
    """Per pixel, the colour most frames have (a few frames are candidates, counted on a sample).

    ``stack`` is (N, H, W) of packed RGB. Pixels a moving part covers in one frame take the colour
    the other frames agree on, so the background holds everything that does not move.
    """
    n = len(stack)
    cand = stack[np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))]
    sample = stack[np.unique(np.linspace(0, n - 1, min(n, 11)).round().astype(int))]
    counts = np.stack([(sample == c).sum(axis=0) for c in cand])
    return np.take_along_axis(cand, counts.argmax(axis=0)[None], axis=0)[0]


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def encode_frames(frames: list[np.ndarray]) -> tuple[list[str], str | None]:
    """Encode (H, W, 3) frames for the static view: ``(frames_base64, background_base64)``.

    With a background, each frame is a transparent palette PNG of only the pixels that differ from
    the background (to be laid over it); without (frames of different sizes, fewer than three
    frames, or frames that mostly differ from each other), each frame is a whole palette PNG and
    the background is ``None``.
    """
    shapes = {f.shape for f in frames}
    if len(frames) >= 3 and len(shapes) == 1:
        packed = np.stack([_pack(f) for f in frames])
        bg = _background(packed)
        masks = packed != bg[None]
        if masks.mean() <= _OVERLAY_MAX_CHANGED:
            bg_rgb = np.stack([(bg >> 16) & 255, (bg >> 8) & 255, bg & 255], axis=-1).astype(np.uint8)
            out = [_b64(_overlay_png(f, m)) for f, m in zip(frames, masks)]
            return out, _b64(_quantized_png(bg_rgb))
    return [_b64(_quantized_png(f)) for f in frames], None


def _descendants(artist):
    """``artist`` and everything below it (depth first)."""
    stack, seen = [artist], set()
    while stack:
        a = stack.pop()
        if id(a) in seen:
            continue
        seen.add(id(a))
        yield a
        stack.extend(a.get_children())


def _count_draws(fig) -> None:
    """Count every draw of ``fig`` (``fig._lc_draws[0]``), whoever makes it (canvas.draw, savefig, display)."""
    if hasattr(fig, "_lc_draws"):
        return
    counter = [0]
    original = fig.draw

    def draw(renderer):
        counter[0] += 1
        return original(renderer)

    fig.draw = draw
    fig._lc_draws = counter


class _Painter:
    """Pixels of the figure ``render`` returns, redrawing only what changed when it can.

    A figure reused across frames usually changes a few artists (a point, a line, a title). The
    painter learns which top-level artists of the Axes change (matplotlib marks an artist *stale*
    when a ``set_*`` method changes it), draws once a background without them and without
    everything a full draw draws after them, and then per frame restores that background and draws
    only that suffix, in the order of a full draw, so the pixels are the same. Each new background
    is checked against a full draw, and so is every ``VERIFY_EVERY``-th blitted frame of the static
    build; a mismatch switches blitting off for good. It falls back to a full draw
    whenever something else changed: a new figure, artists added or removed, axis limits or
    position, a layout engine, figure-level artists, or a draw of the figure by someone else.
    ``render`` must change artists through their ``set_*`` methods (assigning an attribute, such
    as ``annotation.xy = ...``, is invisible to matplotlib's staleness and to the painter).
    """

    #: During the static build, every this-many blitted frames is compared with a full draw.
    VERIFY_EVERY = 8

    def __init__(self, dpi: int, blit: bool = True):
        self.dpi = dpi
        self.blit = blit
        self.fig = None
        self.counts = {"full": 0, "blit": 0, "rebuild": 0}
        self.disabled_reason = None
        self._reset()

    def _reset(self):
        self.moving: set[int] = set()  # ids of top-level Axes children that change between frames
        self.background = None
        self.suffix = None  # the top-level artists drawn over the background, in draw order
        self.structure = None
        self._since_verify = 0

    # -- what the figure looks like ------------------------------------------------------------
    def _structure(self, fig):
        axes = list(fig.axes)
        tops = tuple(tuple(id(c) for c in ax.get_children()) for ax in axes)
        geometry = tuple(
            (tuple(ax.viewLim.bounds), tuple(ax.get_position().bounds), ax.get_xscale(), ax.get_yscale(), ax.axison)
            for ax in axes
        )
        others = tuple(id(c) for c in fig.get_children() if c not in axes)
        return (tuple(id(ax) for ax in axes), tops, geometry, others, tuple(fig.get_size_inches()),
                fig.get_layout_engine() is not None)

    def _stale_tops(self, fig):
        """Ids of top-level Axes children with a stale artist in them; None if a figure-level one is stale."""
        axes = set(fig.axes)
        for c in fig.get_children():
            if c not in axes and any(a.stale for a in _descendants(c)):
                return None
        return {id(c) for ax in fig.axes for c in ax.get_children() if any(a.stale for a in _descendants(c))}

    @staticmethod
    def _settle(fig):
        for a in _descendants(fig):
            a.stale = False  # after a draw: the next render's changes are exactly the stale artists

    # -- drawing ---------------------------------------------------------------------------------
    def _canvas(self, fig):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)

    @contextlib.contextmanager
    def _at_dpi(self, fig):
        shown = fig.dpi
        fig.dpi = self.dpi  # what savefig(dpi=...) does for the time of one drawing
        try:
            yield self._canvas(fig)
        finally:
            fig.dpi = shown

    def _draw_full(self, fig, record: list | None = None, skip: set | None = None) -> np.ndarray:
        """canvas.draw() at our dpi; optionally record the order in which the top-level artists
        (children of each Axes, and the figure's other children) are drawn (``record``), or leave
        some of them out (``skip``: ids; this draws the background and keeps a copy of it)."""
        axes = set(fig.axes)
        tops = [c for c in fig.get_children() if c not in axes] + [c for ax in fig.axes for c in ax.get_children()]
        patched = []
        for child in tops:
            if record is not None:
                def draw(renderer, _c=child, _orig=child.draw):
                    record.append(_c)
                    return _orig(renderer)
            elif skip is not None and id(child) in skip:
                def draw(renderer):
                    return None
            else:
                continue
            child.draw = draw
            patched.append(child)
        try:
            with self._at_dpi(fig) as canvas:
                canvas.draw()
                if skip is not None:
                    self.background = canvas.copy_from_bbox(fig.bbox)
                return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
        finally:
            for child in patched:
                del child.draw

    def _draw_suffix(self, fig) -> np.ndarray:
        with self._at_dpi(fig) as canvas:
            canvas.restore_region(self.background)
            renderer = canvas.get_renderer()
            for child in self.suffix:
                child.draw(renderer)
            return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])

    def _full(self, fig) -> np.ndarray:
        pixels = self._draw_full(fig)
        self.counts["full"] += 1
        self.structure = self._structure(fig)
        self.background = None
        return pixels

    def _rebuild(self, fig) -> np.ndarray:
        """Full draw (recording the order), background without the moving suffix, and a check."""
        self.counts["rebuild"] += 1
        order = []
        pixels = self._draw_full(fig, record=order)
        self.structure = self._structure(fig)
        # everything drawn from the first changing artist on (in any Axes) is drawn again per frame,
        # in the same order, so overlaps come out as in a full draw
        first = next((i for i, c in enumerate(order) if id(c) in self.moving), len(order))
        suffix = order[first:]
        skip = {id(c) for c in suffix}
        self._draw_full(fig, skip=skip)  # sets self.background
        self.suffix = suffix
        if not np.array_equal(self._draw_suffix(fig), pixels):
            self._disable("a redraw of the changing artists did not match a full draw")
        self._since_verify = 0
        return pixels

    def _disable(self, reason: str):
        self.blit = False
        self.disabled_reason = reason
        self.background = None

    def pixels(self, fig, verify: bool = False) -> np.ndarray:
        """The (H, W, 3) pixels of ``fig`` as a full draw at ``self.dpi`` would give them."""
        _count_draws(fig)
        try:
            return self._pixels(fig, verify)
        finally:
            self._settle(fig)
            self._seen = (id(fig), fig._lc_draws[0])

    def _pixels(self, fig, verify: bool) -> np.ndarray:
        if fig is not self.fig or getattr(self, "_seen", None) != (id(fig), fig._lc_draws[0]):
            # a new figure, or drawn by someone else since (a display of it, another slider):
            # changes made before that draw are no longer marked stale
            self.fig = fig
            self._reset()
            return self._full(fig)
        if not self.blit:
            return self._full(fig)
        structure = self._structure(fig)
        changed = self._stale_tops(fig)
        if changed is None or structure != self.structure or structure[-1]:
            self._reset()
            return self._full(fig)
        if self.background is not None and changed <= self.moving:
            out = self._draw_suffix(fig)
            self.counts["blit"] += 1
            self._since_verify += 1
            if verify and self._since_verify >= self.VERIFY_EVERY:
                self._since_verify = 0
                full = self._draw_full(fig)
                if not np.array_equal(out, full):
                    self._disable("a blitted frame did not match a full draw")
                    return full
            return out
        self.moving |= changed
        return self._rebuild(fig)


class Slider:
    """A figure controlled by one or more sliders; see the module docstring and :func:`slider`."""

    def __init__(
        self,
        render: Callable,
        params: dict[str, Range | Sequence],
        labels: dict[str, str] | None = None,
        fmt: str | dict[str, str] | None = None,
        initial: dict | None = None,
        dpi: int = 80,
        max_bytes: int = MAX_BYTES,
        alt: str = "",
        blit: bool = True,
    ):
        if not callable(render):
            raise TypeError("render must be a function that takes the slider values and returns a Figure")
        if not params:
            raise ValueError("give at least one slider, e.g. slider(render, tau=Range(0.1, 10, log=True))")
        self.render = render
        self.names = list(params)
        self.specs: dict[str, Range | None] = {}
        raw = {}
        for name, vals in params.items():
            if isinstance(vals, Range):
                self.specs[name] = vals
                continue
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
                raise TypeError(f"slider {name!r} needs a Range or a list of values, got {type(vals).__name__}")
            vals = list(vals.tolist() if isinstance(vals, np.ndarray) else vals)
            if len(vals) == 0:
                raise ValueError(f"slider {name!r} has no values")
            self.specs[name] = None
            raw[name] = vals
        default_stops = DEFAULT_STOPS.get(len(self.names), DEFAULT_STOPS_MANY)
        self.values = {n: (s.sample(default_stops) if s is not None else raw[n]) for n, s in self.specs.items()}
        #: "numeric" (a Range, or a list of numbers) or "categorical" (any other list)
        self.kinds = {
            n: "numeric" if s is not None or all(_is_number(v) for v in self.values[n]) else "categorical"
            for n, s in self.specs.items()
        }
        self.labels = {n: (labels or {}).get(n, n) for n in self.names}
        fmts = fmt if isinstance(fmt, dict) else {n: fmt for n in self.names}
        self.fmts = {n: fmts.get(n) or self._default_fmt(n) for n in self.names}
        self.value_text = {n: [self.format(n, v) for v in self.values[n]] for n in self.names}
        initial = initial or {}
        unknown = set(initial) - set(self.names)
        if unknown:
            raise ValueError(f"initial names unknown sliders: {sorted(unknown)} (sliders: {self.names})")
        self.start = {}
        for n in self.names:
            vals = self.values[n]
            if n not in initial:
                self.start[n] = len(vals) // 2
            elif self.kinds[n] == "numeric":
                self.start[n] = int(np.argmin([abs(_num(v) - _num(initial[n])) for v in vals]))
            elif initial[n] in vals:
                self.start[n] = vals.index(initial[n])
            else:
                raise ValueError(f"initial value {initial[n]!r} of {n!r} is not one of its values {vals}")
        self.dpi = dpi
        self.max_bytes = max_bytes
        self.alt = alt
        self._painter = _Painter(dpi, blit=blit)
        use_book_style()
        pixels = [self._pixels(idx) for idx in itertools.product(*(range(len(self.values[n])) for n in self.names))]
        self._start_pixels = pixels[self._start_index()]
        self.frames, self.background = encode_frames(pixels)
        del pixels
        self._html = self._static_html()
        if len(self._html) > max_bytes:
            raise ValueError(
                f"the static slider is {len(self._html) / 1e3:.0f} KB, over the {max_bytes / 1e3:.0f} KB budget: "
                f"use fewer stops ({len(self.frames)} frames now), a smaller figure or a lower dpi"
            )
        self._widget = None
        #: how many pictures the live view has drawn (tests and benchmarks read it)
        self.live_renders = 0

    # -- values and their text ---------------------------------------------------------------
    def _default_fmt(self, name: str) -> str:
        spec = self.specs[name]
        if spec is None:
            return "{:.2f}"
        if spec.integer:
            return "{:d}"
        return "{:.3g}" if spec.log else "{:.2f}"

    def format(self, name: str, value) -> str:
        """The text shown next to slider ``name`` when ``render`` receives ``value``."""
        try:
            return self.fmts[name].format(value)
        except (ValueError, TypeError):
            return str(value)

    def _kwargs(self, idx: Sequence[int]) -> dict:
        return {n: self.values[n][i] for n, i in zip(self.names, idx)}

    def _start_index(self) -> int:
        flat = 0
        for n in self.names:
            flat = flat * len(self.values[n]) + self.start[n]
        return flat

    # -- drawing -----------------------------------------------------------------------------
    def _draw(self, kwargs: dict, verify: bool = False) -> np.ndarray:
        fig = self.render(**kwargs)
        if fig is None or not hasattr(fig, "savefig"):
            raise TypeError("render must return a matplotlib Figure")
        pixels = self._painter.pixels(fig, verify=verify)
        _close(fig)
        return pixels

    def _pixels(self, idx: Sequence[int]) -> np.ndarray:
        return self._draw(self._kwargs(idx), verify=True)

    @staticmethod
    def _live_png(pixels: np.ndarray) -> bytes:
        from PIL import Image

        return _png(Image.fromarray(pixels), compress_level=1)  # fast: the bytes only cross a local socket

    # -- static view -------------------------------------------------------------------------
    def _static_html(self) -> str:
        controls = []
        for n in self.names:
            i0 = self.start[n]
            controls.append(
                '<label class="lc-control" style="display:flex;align-items:center;gap:0.6em;margin:0.15em 0">'
                f'<span class="lc-name" style="min-width:7em">{html.escape(self.labels[n])}</span> '
                f'<input type="range" min="0" max="{len(self.values[n]) - 1}" step="1" value="{i0}" '
                f'data-kind="{self.kinds[n]}" aria-label="{html.escape(self.labels[n])}"> '
                f'<output style="min-width:4em;font-variant-numeric:tabular-nums">'
                f"{html.escape(self.value_text[n][i0])}</output></label>"
            )
        labels_json = json.dumps([self.value_text[n] for n in self.names], ensure_ascii=False)
        labels_json = labels_json.replace("</", "<\\/")  # keep "</script>" out of the JSON
        frames_json = json.dumps(self.frames)
        first = self.frames[self._start_index()]
        alt = html.escape(self.alt)
        if self.background is None:
            picture = (
                f'<img class="lc-frame" style="display:block;max-width:100%" alt="{alt}" '
                f'src="data:image/png;base64,{first}">'
            )
        else:  # the frame's changed pixels laid over the shared background, scaled together
            picture = (
                '<div class="lc-picture" style="position:relative;display:inline-block;max-width:100%;line-height:0">'
                f'<img class="lc-background" style="display:block;max-width:100%" alt="{alt}" '
                f'src="data:image/png;base64,{self.background}">'
                '<img class="lc-frame" style="position:absolute;left:0;top:0;width:100%;height:100%" alt="" '
                f'src="data:image/png;base64,{first}"></div>'
            )
        return (
            '<div class="lc-slider" style="margin:0.5em 0 1em 0">'
            f'<div class="lc-controls">{"".join(controls)}</div>'
            f"{picture}"
            f'<script type="application/json" class="lc-frames">{frames_json}</script>'
            f'<script type="application/json" class="lc-labels">{labels_json}</script>'
            "</div>" + _SCRIPT
        )

    # -- live view ---------------------------------------------------------------------------
    def _control(self, name: str):
        """(ipywidgets slider, function from its value to the value ``render`` receives)."""
        import ipywidgets as W

        spec, vals, i0 = self.specs[name], self.values[name], self.start[name]
        common = dict(
            description=self.labels[name],
            continuous_update=True,
            readout=False,  # the readout is a Label showing the value the picture was drawn with
            style={"description_width": "initial"},
            layout=W.Layout(width="24em"),
        )
        if spec is None:
            w = W.SelectionSlider(options=[(t, i) for i, t in enumerate(self.value_text[name])], value=i0, **common)
            return w, vals.__getitem__
        n_steps = max(len(vals) - 1, 1) * LIVE_SUBSTEPS
        if spec.log:
            e0, e1 = math.log10(spec.lo), math.log10(spec.hi)
            w = W.FloatLogSlider(value=vals[i0], base=10, min=e0, max=e1, step=(e1 - e0) / n_steps, **common)
        elif spec.integer:
            w = W.IntSlider(value=vals[i0], min=int(spec.lo), max=int(spec.hi), step=1, **common)
        else:
            w = W.FloatSlider(value=vals[i0], min=spec.lo, max=spec.hi, step=(spec.hi - spec.lo) / n_steps, **common)
        if spec.integer:
            return w, lambda v: int(round(v))
        return w, float

    def widget(self):
        """The live view: a row (slider, value) per parameter, then the picture."""
        if self._widget is None:
            import ipywidgets as W

            controls, convert, readouts, rows = [], [], [], []
            for n in self.names:
                control, conv = self._control(n)
                readout = W.Label(self.value_text[n][self.start[n]])
                readout.add_class("lc-readout")
                controls.append(control)
                convert.append(conv)
                readouts.append(readout)
                row = W.HBox([control, readout])
                row.add_class("lc-live-control")
                rows.append(row)
            width = self._start_pixels.shape[1]
            image = W.Image(value=self._live_png(self._start_pixels), format="png", layout=W.Layout(width=f"{width}px"))
            image.add_class("lc-live-image")
            error = W.HTML("", layout=W.Layout(display="none"))
            error.add_class("lc-live-error")
            shown = [tuple(c.value for c in controls)]

            def redraw(_change=None):
                key = tuple(c.value for c in controls)
                if key == shown[0]:
                    return  # the newest values are already on screen
                kwargs = {n: conv(c.value) for n, c, conv in zip(self.names, controls, convert)}
                try:
                    png = self._live_png(self._draw(kwargs))
                except Exception as exc:  # shown under the picture: a widget callback's traceback is otherwise invisible
                    error.value = (
                        '<pre style="color:#d62728;white-space:pre-wrap">'
                        f"{html.escape(f'{type(exc).__name__}: {exc}')}</pre>"
                    )
                    error.layout.display = None
                    return
                error.value, error.layout.display = "", "none"
                image.value = png
                for n, readout in zip(self.names, readouts):
                    readout.value = self.format(n, kwargs[n])
                shown[0] = key
                self.live_renders += 1

            for c in controls:
                c.observe(redraw, names="value")
            box = W.VBox([*rows, image, error])
            box.add_class("lc-live")
            self._widget = box
        return self._widget

    # -- rich display ------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return self._html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self._html
        bundle["text/plain"] = f"Slider({', '.join(self.names)}; {len(self.frames)} frames)"
        return bundle


def slider(
    render: Callable, *, labels=None, fmt=None, initial=None, dpi=80, alt="", max_bytes=MAX_BYTES, blit=True, **params
) -> Slider:
    """Make a :class:`Slider`: each keyword argument ``name=Range(...)`` or ``name=[values]`` is one slider.

    Parameters
    ----------
    render : callable
        ``render(**values)`` returns a matplotlib ``Figure`` (reuse one; it is not closed unless
        pyplot manages it).
    labels : dict, optional
        Text before each slider, e.g. ``{"tau": "τ"}`` (default: the parameter's name).
    fmt : str or dict, optional
        Format of the value shown next to a slider, e.g. ``"{:.2f}"`` or ``{"tau": "{:.3g}"}``.
        Default ``"{:.2f}"``; ``"{:.3g}"`` for a log Range, ``"{:d}"`` for an integer Range.
    initial : dict, optional
        Starting value per parameter (the nearest stop); default the middle stop.
    dpi : int
        Resolution of the pictures (both views).
    alt : str
        Text alternative of the static picture.
    max_bytes : int
        Budget of the static HTML (``ValueError`` when exceeded).
    blit : bool
        Redraw only the artists that change when the figure is reused (checked against full
        draws; see ``_Painter``). ``False`` draws every frame in full.
    **params : Range or sequence
        One slider per keyword.

    Returns
    -------
    Slider
        Displays as the live widget in JupyterLab and as precomputed frames in the book.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 2)); ax = fig.add_subplot(); (line,) = ax.plot([0, 1], [0, 0])
    >>> def draw(a):
    ...     line.set_ydata([0, a]); return fig
    >>> s = slider(draw, a=Range(0, 1, stops=21))
    >>> len(s.frames), s.value_text["a"][:3]
    (21, ['0.00', '0.05', '0.10'])
    >>> len(slider(draw, a=[0.0, 0.5, 1.0]).frames)
    3
    """
    return Slider(render, params, labels=labels, fmt=fmt, initial=initial, dpi=dpi, max_bytes=max_bytes, alt=alt,
                  blit=blit)
