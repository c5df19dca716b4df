"""Sliders that work in JupyterLab (live, with a kernel) and in the static HTML
book (no kernel).

``slider(render, tau=Range(0.05, 10, log=True))`` returns an object whose rich
representation carries two views of the same picture:

- ``application/vnd.jupyter.widget-view+json`` (JupyterLab prefers it): one
  ipywidgets slider per parameter and an image that ``render`` redraws as the
  reader drags. A :class:`Range` is continuous there (``FloatSlider``;
  ``FloatLogSlider`` with ``log=True``; ``IntSlider`` with ``integer=True``).
  Redraws are throttled so the newest value wins: the widget frontend keeps at
  most one update per slider in flight and merges the moves made meanwhile into
  the next one, and the kernel skips a redraw whose values are the ones already
  shown.
- ``text/html`` (the book prefers it, ``nb_mime_priority_overrides`` in
  ``_config.yml``): the same range sampled at its stops, every combination
  rendered in advance, and an ``<input type=range>`` per parameter whose few
  lines of inline script swap the picture. It needs no kernel.

A parameter is either a :class:`Range` (numeric, continuous) or a list of
values (categorical choices, e.g. ``mode=["なし", "top-k=2"]``; a list of
numbers still works and snaps to its values). ``render`` takes one keyword
argument per parameter and returns a matplotlib ``Figure``; reuse one figure
and change only what moves (see the chapters). The number next to each slider
is computed from the value ``render`` received (``fmt``), in both views, so it
is the value the picture shows; when the figure writes the value too (a title),
use the same format there.

Frames are cheap when they differ little, in both senses:

- size: the pixels that most frames share are stored once as a background
  image, and each frame stores only the pixels that differ from it (a palette
  PNG, transparent elsewhere) laid over the background. The static view is
  limited to ``max_bytes`` (600 KB by default): exceeding it raises
  ``ValueError``;
- time: when ``render`` reuses one figure, only the artists that change (and
  what is drawn over them) are redrawn, over a saved background
  (``lecture_code.painter.Painter``; checked against full draws). This keeps a
  live redraw to a few tens of milliseconds, and the static build fast.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .frames import STATIC_SCRIPT, encode_frames, png
from .painter import Painter
from .style import use_book_style

#: Largest static HTML a slider may produce (the issue's budget per slider).
MAX_BYTES = 600_000

#: Stops per numeric parameter when a :class:`Range` does not say, by the
#: number of parameters of the slider (one: 25 stops; two: 7 each, e.g. 7 x 7;
#: more: 5 each).
DEFAULT_STOPS = {1: 25, 2: 7}
DEFAULT_STOPS_MANY = 5

#: The live slider has this many steps between two neighbouring static stops
#: (so every stop of the book is also a position of the live slider).
LIVE_SUBSTEPS = 10


@dataclass(frozen=True)
class Range:
    """A numeric slider parameter: continuous from ``lo`` to ``hi`` in
    JupyterLab, sampled at ``stops`` values (both ends included) in the
    static book.

    Parameters
    ----------
    lo, hi : float
        The ends of the range, ``lo < hi``, both finite.
    log : bool
        Logarithmic scale (for scales such as a temperature τ or a
        concentration κ): the stops are geometrically spaced and the live
        control is a ``FloatLogSlider``. Needs ``lo > 0``.
    stops : int, optional
        Number of precomputed values for the static view (at least 2). Default:
        25 for a slider with one parameter, 7 for each of two, 5 for each of
        more (``DEFAULT_STOPS``).
    integer : bool
        Counts: ``render`` receives ``int`` values, the live control is an
        ``IntSlider`` (or a ``FloatLogSlider`` rounded to integers with
        ``log=True``); repeated stops are merged.

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
            raise ValueError(
                f"Range needs lo < hi, got lo={self.lo!r}, hi={self.hi!r}"
            )
        if self.log and self.lo <= 0:
            raise ValueError(f"a log Range needs lo > 0, got lo={self.lo!r}")
        if self.stops is not None and (
            isinstance(self.stops, bool)
            or not isinstance(self.stops, numbers.Integral)
        ):
            raise TypeError(
                f"Range stops must be an integer, got {self.stops!r}"
            )
        if self.stops is not None and self.stops < 2:
            raise ValueError(
                f"Range stops must be at least 2, got {self.stops!r}"
            )
        if self.integer and (
            self.lo != int(self.lo) or self.hi != int(self.hi)
        ):
            raise ValueError(
                f"an integer Range needs integer ends, got lo={self.lo!r}, "
                f"hi={self.hi!r}"
            )

    def sample(self, stops: int | None = None) -> list:
        """The static stops: ``self.stops`` values (or ``stops`` if the
        Range gives none)."""
        n = self.stops or stops or DEFAULT_STOPS[1]
        lo, hi = float(self.lo), float(self.hi)
        v = np.geomspace(lo, hi, n) if self.log else np.linspace(lo, hi, n)
        if self.integer:
            return [int(x) for x in np.unique(np.rint(v).astype(np.int64))]
        out = [float(x) for x in v]
        out[0], out[-1] = lo, hi
        return out


def _close(fig) -> None:
    """Close ``fig`` if pyplot manages it (a figure made by ``plt.figure``
    in ``render``)."""
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


class Slider:
    """A figure controlled by one or more sliders; see the module docstring
    and :func:`slider`, which makes one.

    Parameters
    ----------
    render : callable
        ``render(**values)`` returns a matplotlib ``Figure``.
    params : dict of str to Range or sequence
        One slider per entry: a :class:`Range` or a list of values.
    labels : dict, optional
        Text before each slider (default: the parameter's name).
    fmt : str or dict, optional
        Format of the value shown next to a slider (default per kind, see
        :func:`slider`).
    initial : dict, optional
        Starting value per parameter (default: the middle stop).
    dpi : int
        Resolution of the pictures (default 80).
    max_bytes : int
        Budget of the static HTML (default :data:`MAX_BYTES`).
    alt : str
        Text alternative of the static picture.
    blit : bool
        Redraw only the artists that change (default True).
    """

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
            raise TypeError(
                "render must be a function that takes the slider values and "
                "returns a Figure"
            )
        if not params:
            raise ValueError(
                "give at least one slider, e.g. slider(render, tau=Range(0.1, "
                "10, log=True))"
            )
        self.render = render
        self.names = list(params)
        self.specs: dict[str, Range | None] = {}
        raw = {}
        for name, vals in params.items():
            if isinstance(vals, Range):
                self.specs[name] = vals
                continue
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
                raise TypeError(
                    f"slider {name!r} needs a Range or a list of values, got "
                    f"{type(vals).__name__}"
                )
            vals = list(
                vals.tolist() if isinstance(vals, np.ndarray) else vals
            )
            if len(vals) == 0:
                raise ValueError(f"slider {name!r} has no values")
            self.specs[name] = None
            raw[name] = vals
        default_stops = DEFAULT_STOPS.get(len(self.names), DEFAULT_STOPS_MANY)
        self.values = {
            n: (s.sample(default_stops) if s is not None else raw[n])
            for n, s in self.specs.items()
        }
        #: "numeric" (a Range, or a list of numbers) or "categorical" (any
        #: other list)
        self.kinds = {
            n: "numeric"
            if s is not None or all(_is_number(v) for v in self.values[n])
            else "categorical"
            for n, s in self.specs.items()
        }
        self.labels = {n: (labels or {}).get(n, n) for n in self.names}
        fmts = fmt if isinstance(fmt, dict) else {n: fmt for n in self.names}
        self.fmts = {
            n: fmts.get(n) or self._default_fmt(n) for n in self.names
        }
        self.value_text = {
            n: [self.format(n, v) for v in self.values[n]] for n in self.names
        }
        initial = initial or {}
        unknown = set(initial) - set(self.names)
        if unknown:
            raise ValueError(
                f"initial names unknown sliders: {sorted(unknown)} (sliders: "
                f"{self.names})"
            )
        self.start = {}
        for n in self.names:
            vals = self.values[n]
            if n not in initial:
                self.start[n] = len(vals) // 2
            elif self.kinds[n] == "numeric":
                self.start[n] = int(
                    np.argmin([abs(_num(v) - _num(initial[n])) for v in vals])
                )
            elif initial[n] in vals:
                self.start[n] = vals.index(initial[n])
            else:
                raise ValueError(
                    f"initial value {initial[n]!r} of {n!r} is not one of its "
                    f"values {vals}"
                )
        self.dpi = dpi
        self.max_bytes = max_bytes
        self.alt = alt
        self._painter = Painter(dpi, blit=blit)
        use_book_style()
        pixels = [
            self._pixels(idx)
            for idx in itertools.product(
                *(range(len(self.values[n])) for n in self.names)
            )
        ]
        self._start_pixels = pixels[self._start_index()]
        self.frames, self.background = encode_frames(pixels)
        del pixels
        self._html = self._static_html()
        if len(self._html) > max_bytes:
            raise ValueError(
                f"the static slider is {len(self._html) / 1e3:.0f} KB, over "
                f"the {max_bytes / 1e3:.0f} KB budget: "
                f"use fewer stops ({len(self.frames)} frames now), a smaller "
                "figure or a lower dpi"
            )
        self._widget = None
        #: how many pictures the live view has drawn (tests and benchmarks
        #: read it)
        self.live_renders = 0

    # -- values and their text
    # ---------------------------------------------------------------
    def _default_fmt(self, name: str) -> str:
        spec = self.specs[name]
        if spec is None:
            return "{:.2f}"
        if spec.integer:
            return "{:d}"
        return "{:.3g}" if spec.log else "{:.2f}"

    def format(self, name: str, value) -> str:
        """The text shown next to slider ``name`` when ``render`` receives
        ``value``."""
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

    # -- drawing
    # -------------------------------------------------------------------------
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

        # fast: the bytes only cross a local socket
        return png(Image.fromarray(pixels), compress_level=1)

    # -- static view
    # -------------------------------------------------------------------------
    def _static_html(self) -> str:
        controls = []
        for n in self.names:
            i0 = self.start[n]
            controls.append(
                '<label class="lc-control" '
                'style="display:flex;align-items:center;gap:0.6em;'
                'margin:0.15em 0">'
                '<span class="lc-name" '
                f'style="min-width:7em">{html.escape(self.labels[n])}</span> '
                f'<input type="range" min="0" max="{len(self.values[n]) - 1}" '
                f'step="1" value="{i0}" '
                f'data-kind="{self.kinds[n]}" '
                f'aria-label="{html.escape(self.labels[n])}"> '
                "<output "
                'style="min-width:4em;font-variant-numeric:tabular-nums">'
                f"{html.escape(self.value_text[n][i0])}</output></label>"
            )
        labels_json = json.dumps(
            [self.value_text[n] for n in self.names], ensure_ascii=False
        )
        # keep "</script>" out of the JSON
        labels_json = labels_json.replace("</", "<\\/")
        frames_json = json.dumps(self.frames)
        first = self.frames[self._start_index()]
        alt = html.escape(self.alt)
        if self.background is None:
            picture = (
                '<img class="lc-frame" style="display:block;max-width:100%" '
                f'alt="{alt}" '
                f'src="data:image/png;base64,{first}">'
            )
        # the frame's changed pixels laid over the shared background, scaled
        # together
        else:
            picture = (
                '<div class="lc-picture" '
                'style="position:relative;display:inline-block;max-width:100%;line-height:0">'
                '<img class="lc-background" '
                f'style="display:block;max-width:100%" alt="{alt}" '
                f'src="data:image/png;base64,{self.background}">'
                '<img class="lc-frame" '
                'style="position:absolute;left:0;top:0;width:100%;'
                'height:100%" alt="" '
                f'src="data:image/png;base64,{first}"></div>'
            )
        return (
            '<div class="lc-slider" style="margin:0.5em 0 1em 0">'
            f'<div class="lc-controls">{"".join(controls)}</div>'
            f"{picture}"
            '<script type="application/json" '
            f'class="lc-frames">{frames_json}</script>'
            '<script type="application/json" '
            f'class="lc-labels">{labels_json}</script>'
            "</div>" + STATIC_SCRIPT
        )

    # -- live view
    # -------------------------------------------------------------------------
    def _control(self, name: str):
        """(ipywidgets slider, function from its value to the value
        ``render`` receives)."""
        import ipywidgets as W

        spec, vals, i0 = self.specs[name], self.values[name], self.start[name]
        common = dict(
            description=self.labels[name],
            continuous_update=True,
            # the readout is a Label showing the value the picture was drawn
            # with
            readout=False,
            style={"description_width": "initial"},
            layout=W.Layout(width="24em"),
        )
        if spec is None:
            w = W.SelectionSlider(
                options=[(t, i) for i, t in enumerate(self.value_text[name])],
                value=i0,
                **common,
            )
            return w, vals.__getitem__
        n_steps = max(len(vals) - 1, 1) * LIVE_SUBSTEPS
        if spec.log:
            e0, e1 = math.log10(spec.lo), math.log10(spec.hi)
            w = W.FloatLogSlider(
                value=vals[i0],
                base=10,
                min=e0,
                max=e1,
                step=(e1 - e0) / n_steps,
                **common,
            )
        elif spec.integer:
            w = W.IntSlider(
                value=vals[i0],
                min=int(spec.lo),
                max=int(spec.hi),
                step=1,
                **common,
            )
        else:
            w = W.FloatSlider(
                value=vals[i0],
                min=spec.lo,
                max=spec.hi,
                step=(spec.hi - spec.lo) / n_steps,
                **common,
            )
        if spec.integer:
            return w, lambda v: int(round(v))
        return w, float

    def widget(self):
        """The live view: a row (slider, value) per parameter, then the
        picture."""
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
            image = W.Image(
                value=self._live_png(self._start_pixels),
                format="png",
                layout=W.Layout(width=f"{width}px"),
            )
            image.add_class("lc-live-image")
            error = W.HTML("", layout=W.Layout(display="none"))
            error.add_class("lc-live-error")
            shown = [tuple(c.value for c in controls)]

            def redraw(_change=None):
                key = tuple(c.value for c in controls)
                if key == shown[0]:
                    return  # the newest values are already on screen
                kwargs = {
                    n: conv(c.value)
                    for n, c, conv in zip(self.names, controls, convert)
                }
                try:
                    picture = self._live_png(self._draw(kwargs))
                # shown under the picture: a widget callback's traceback is
                # otherwise invisible
                except Exception as exc:
                    error.value = (
                        '<pre style="color:#d62728;white-space:pre-wrap">'
                        f"{html.escape(f'{type(exc).__name__}: {exc}')}</pre>"
                    )
                    error.layout.display = None
                    return
                error.value, error.layout.display = "", "none"
                image.value = picture
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

    # -- rich display
    # ------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return self._html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(
            self.widget()._repr_mimebundle_(include=include, exclude=exclude)
            or {}
        )
        bundle["text/html"] = self._html
        bundle["text/plain"] = (
            f"Slider({', '.join(self.names)}; {len(self.frames)} frames)"
        )
        return bundle


def slider(
    render: Callable,
    *,
    labels=None,
    fmt=None,
    initial=None,
    dpi=80,
    alt="",
    max_bytes=MAX_BYTES,
    blit=True,
    **params,
) -> Slider:
    """Make a :class:`Slider`: each keyword argument ``name=Range(...)`` or
    ``name=[values]`` is one slider.

    Parameters
    ----------
    render : callable
        ``render(**values)`` returns a matplotlib ``Figure`` (reuse one; it is
        not closed unless pyplot manages it).
    labels : dict, optional
        Text before each slider, e.g. ``{"tau": "τ"}`` (default: the
        parameter's name).
    fmt : str or dict, optional
        Format of the value shown next to a slider, e.g. ``"{:.2f}"`` or
        ``{"tau": "{:.3g}"}``. Default ``"{:.2f}"``; ``"{:.3g}"`` for a log
        Range, ``"{:d}"`` for an integer Range.
    initial : dict, optional
        Starting value per parameter (the nearest stop); default the middle
        stop.
    dpi : int
        Resolution of the pictures (both views).
    alt : str
        Text alternative of the static picture.
    max_bytes : int
        Budget of the static HTML (``ValueError`` when exceeded).
    blit : bool
        Redraw only the artists that change when the figure is reused (checked
        against full draws; see ``lecture_code.painter.Painter``). ``False``
        draws every frame in full.
    **params : Range or sequence
        One slider per keyword.

    Returns
    -------
    Slider
        Displays as the live widget in JupyterLab and as precomputed frames in
        the book.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 2)); ax = fig.add_subplot()
    >>> (line,) = ax.plot([0, 1], [0, 0])
    >>> def draw(a):
    ...     line.set_ydata([0, a]); return fig
    >>> s = slider(draw, a=Range(0, 1, stops=21))
    >>> len(s.frames), s.value_text["a"][:3]
    (21, ['0.00', '0.05', '0.10'])
    >>> len(slider(draw, a=[0.0, 0.5, 1.0]).frames)
    3
    """
    return Slider(
        render,
        params,
        labels=labels,
        fmt=fmt,
        initial=initial,
        dpi=dpi,
        max_bytes=max_bytes,
        alt=alt,
        blit=blit,
    )
