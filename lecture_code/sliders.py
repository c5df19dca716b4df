"""Sliders that work in JupyterLab (live, with a kernel) and in the static HTML book (no kernel).

``slider(render, tau=[...])`` returns an object whose rich representation carries two views:

- ``application/vnd.jupyter.widget-view+json``: an ipywidgets slider per parameter and an
  image that ``render`` redraws on every move. JupyterLab prefers this view.
- ``text/html``: every frame rendered in advance as a PNG and an ``<input type=range>``
  per parameter whose few lines of inline script swap the image. The book is configured
  (``nb_mime_priority_overrides`` in ``_config.yml``) to prefer this view, so the slider
  still changes the picture in a page that has no kernel.

``render`` takes one keyword argument per slider and returns a matplotlib ``Figure``.
Frames are the Cartesian product of the value lists, so keep them short; the static view
is limited to ``max_bytes`` (600 KB by default) and exceeding it raises ``ValueError``.
Frames are PNGs quantized to a 128-colour palette (``PALETTE_COLORS``), typically 4–8 KB each.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
from collections.abc import Callable, Sequence

import numpy as np

from .style import png_bytes, use_book_style

#: Largest static HTML a slider may produce (the issue's budget per slider).
MAX_BYTES = 600_000

#: Frames are quantized to this many colours (about 3x smaller PNGs, no visible change).
PALETTE_COLORS = 128

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


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    if fig in [plt.figure(n) for n in plt.get_fignums()]:
        plt.close(fig)


class Slider:
    """A figure controlled by one or more sliders; see the module docstring."""

    def __init__(
        self,
        render: Callable,
        params: dict[str, Sequence],
        labels: dict[str, str] | None = None,
        fmt: str | dict[str, str] = "{:.2f}",
        initial: dict | None = None,
        dpi: int = 80,
        max_bytes: int = MAX_BYTES,
        alt: str = "",
    ):
        if not callable(render):
            raise TypeError("render must be a function that takes the slider values and returns a Figure")
        if not params:
            raise ValueError("give at least one slider, e.g. slider(render, tau=[0.5, 1, 2])")
        self.render = render
        self.names = list(params)
        self.values = {}
        for name, vals in params.items():
            vals = list(vals.tolist() if isinstance(vals, np.ndarray) else vals)
            if len(vals) == 0:
                raise ValueError(f"slider {name!r} has no values")
            self.values[name] = vals
        self.labels = {n: (labels or {}).get(n, n) for n in self.names}
        fmts = fmt if isinstance(fmt, dict) else {n: fmt for n in self.names}
        self.value_text = {n: [self._format(fmts.get(n, "{:.2f}"), v) for v in self.values[n]] for n in self.names}
        initial = initial or {}
        self.start = {}
        for n in self.names:
            vals = self.values[n]
            if n in initial:
                self.start[n] = int(np.argmin([abs(_num(v) - _num(initial[n])) for v in vals]))
            else:
                self.start[n] = len(vals) // 2
        self.dpi = dpi
        self.max_bytes = max_bytes
        self.alt = alt
        use_book_style()
        self.frames = [self._frame(idx) for idx in itertools.product(*(range(len(self.values[n])) for n in self.names))]
        self._html = self._static_html()
        if len(self._html) > max_bytes:
            raise ValueError(
                f"the static slider is {len(self._html) / 1e3:.0f} KB, over the {max_bytes / 1e3:.0f} KB budget: "
                f"use fewer values ({len(self.frames)} frames now), a smaller figure or a lower dpi"
            )
        self._widget = None

    @staticmethod
    def _format(fmt: str, v) -> str:
        try:
            return fmt.format(v)
        except (ValueError, TypeError):
            return str(v)

    def _kwargs(self, idx: Sequence[int]) -> dict:
        return {n: self.values[n][i] for n, i in zip(self.names, idx)}

    def _png(self, idx: Sequence[int]) -> bytes:
        fig = self.render(**self._kwargs(idx))
        if fig is None or not hasattr(fig, "savefig"):
            raise TypeError("render must return a matplotlib Figure")
        data = png_bytes(fig, dpi=self.dpi, colors=PALETTE_COLORS)
        _close(fig)
        return data

    def _frame(self, idx: Sequence[int]) -> str:
        return base64.b64encode(self._png(idx)).decode("ascii")

    def _start_index(self) -> int:
        flat = 0
        for n in self.names:
            flat = flat * len(self.values[n]) + self.start[n]
        return flat

    def _static_html(self) -> str:
        controls = []
        for n in self.names:
            i0 = self.start[n]
            controls.append(
                '<label class="lc-control" style="display:flex;align-items:center;gap:0.6em;margin:0.15em 0">'
                f'<span class="lc-name" style="min-width:7em">{html.escape(self.labels[n])}</span> '
                f'<input type="range" min="0" max="{len(self.values[n]) - 1}" step="1" value="{i0}" '
                f'aria-label="{html.escape(self.labels[n])}"> '
                f'<output style="min-width:4em;font-variant-numeric:tabular-nums">'
                f"{html.escape(self.value_text[n][i0])}</output></label>"
            )
        labels_json = json.dumps([self.value_text[n] for n in self.names], ensure_ascii=False)
        labels_json = labels_json.replace("</", "<\\/")  # keep "</script>" out of the JSON
        frames_json = json.dumps(self.frames)
        return (
            '<div class="lc-slider" style="margin:0.5em 0 1em 0">'
            f'<div class="lc-controls">{"".join(controls)}</div>'
            f'<img class="lc-frame" style="display:block;max-width:100%" alt="{html.escape(self.alt)}" '
            f'src="data:image/png;base64,{self.frames[self._start_index()]}">'
            f'<script type="application/json" class="lc-frames">{frames_json}</script>'
            f'<script type="application/json" class="lc-labels">{labels_json}</script>'
            "</div>" + _SCRIPT
        )

    def widget(self):
        """The live ipywidgets view: one SelectionSlider per parameter and an Image."""
        if self._widget is None:
            import ipywidgets as W

            sliders = [
                W.SelectionSlider(
                    options=[(t, i) for i, t in enumerate(self.value_text[n])],
                    value=self.start[n],
                    description=self.labels[n],
                    continuous_update=True,
                    style={"description_width": "initial"},
                )
                for n in self.names
            ]
            first = base64.b64decode(self.frames[self._start_index()])
            width = int.from_bytes(first[16:20], "big")  # PNG IHDR: the frame's width in pixels
            image = W.Image(value=first, format="png", layout=W.Layout(width=f"{width}px"))

            def redraw(_change=None):
                image.value = self._png([s.value for s in sliders])

            for s in sliders:
                s.observe(redraw, names="value")
            self._widget = W.VBox([*sliders, image])
        return self._widget

    def _repr_html_(self) -> str:
        return self._html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self._html
        bundle["text/plain"] = f"Slider({', '.join(self.names)}; {len(self.frames)} frames)"
        return bundle


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def slider(render: Callable, *, labels=None, fmt="{:.2f}", initial=None, dpi=80, alt="", **params) -> Slider:
    """Make a :class:`Slider`; each keyword argument ``name=[values]`` becomes one slider.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> def draw(a):
    ...     fig = Figure(figsize=(2, 2)); fig.add_subplot().plot([0, 1], [0, a]); return fig
    >>> s = slider(draw, a=[0.0, 0.5, 1.0])
    >>> len(s.frames)
    3
    """
    return Slider(render, params, labels=labels, fmt=fmt, initial=initial, dpi=dpi, alt=alt)
