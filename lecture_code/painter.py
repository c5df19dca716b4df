"""Redraw only what changed: the pixels of a reused figure, fast
(``lecture_code.sliders`` uses it).

A slider's ``render`` reuses one figure and changes a few artists per frame;
:class:`Painter` draws the rest once and, per frame, only the changed artists
over it — checked against full draws.
"""

from __future__ import annotations

import contextlib

import numpy as np


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
    """Count every draw of ``fig`` (``fig._lc_draws[0]``), whoever makes it
    (canvas.draw, savefig, display)."""
    if hasattr(fig, "_lc_draws"):
        return
    counter = [0]
    original = fig.draw

    def draw(renderer):
        counter[0] += 1
        return original(renderer)

    fig.draw = draw
    fig._lc_draws = counter


class Painter:
    """Pixels of the figure ``render`` returns, redrawing only what changed
    when it can.

    A figure reused across frames usually changes a few artists (a point, a
    line, a title). The painter learns which top-level artists of the Axes
    change (matplotlib marks an artist *stale* when a ``set_*`` method changes
    it), draws once a background without them and without everything a full
    draw draws after them, and then per frame restores that background and
    draws only that suffix, in the order of a full draw, so the pixels are the
    same. Each new background is checked against a full draw, and so is every
    ``VERIFY_EVERY``-th blitted frame of the static build; a mismatch switches
    blitting off for good. It falls back to a full draw whenever something else
    changed: a new figure, artists added or removed, axis limits or position, a
    layout engine, figure-level artists, or a draw of the figure by someone
    else. ``render`` must change artists through their ``set_*`` methods
    (assigning an attribute, such as ``annotation.xy = ...``, is invisible to
    matplotlib's staleness and to the painter).

    Parameters
    ----------
    dpi : int
        Resolution of the pixels.
    blit : bool
        Redraw only what changed when possible (default True); False draws
        every frame in full.
    """

    #: During the static build, every this-many blitted frames is compared
    #: with a full draw.
    VERIFY_EVERY = 8

    def __init__(self, dpi: int, blit: bool = True):
        self.dpi = dpi
        self.blit = blit
        self.fig = None
        self.counts = {"full": 0, "blit": 0, "rebuild": 0}
        self.disabled_reason = None
        self._reset()

    def _reset(self):
        # ids of top-level Axes children that change between frames
        self.moving: set[int] = set()
        self.background = None
        # the top-level artists drawn over the background, in draw order
        self.suffix = None
        self.structure = None
        self._since_verify = 0

    # -- what the figure looks like
    # ------------------------------------------------------------
    def _structure(self, fig):
        axes = list(fig.axes)
        tops = tuple(tuple(id(c) for c in ax.get_children()) for ax in axes)
        geometry = tuple(
            (
                tuple(ax.viewLim.bounds),
                tuple(ax.get_position().bounds),
                ax.get_xscale(),
                ax.get_yscale(),
                ax.axison,
            )
            for ax in axes
        )
        others = tuple(id(c) for c in fig.get_children() if c not in axes)
        return (
            tuple(id(ax) for ax in axes),
            tops,
            geometry,
            others,
            tuple(fig.get_size_inches()),
            fig.get_layout_engine() is not None,
        )

    def _stale_tops(self, fig):
        """Ids of top-level Axes children with a stale artist in them; None
        if a figure-level one is stale."""
        axes = set(fig.axes)
        for c in fig.get_children():
            if c not in axes and any(a.stale for a in _descendants(c)):
                return None
        return {
            id(c)
            for ax in fig.axes
            for c in ax.get_children()
            if any(a.stale for a in _descendants(c))
        }

    @staticmethod
    def _settle(fig):
        for a in _descendants(fig):
            # after a draw: the next render's changes are exactly the stale
            # artists
            a.stale = False

    # -- drawing
    # -------------------------------------------------------------------------
    def _canvas(self, fig):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return (
            fig.canvas
            if isinstance(fig.canvas, FigureCanvasAgg)
            else FigureCanvasAgg(fig)
        )

    @contextlib.contextmanager
    def _at_dpi(self, fig):
        shown = fig.dpi
        # what savefig(dpi=...) does for the time of one drawing
        fig.dpi = self.dpi
        try:
            yield self._canvas(fig)
        finally:
            fig.dpi = shown

    def _draw_full(
        self, fig, record: list | None = None, skip: set | None = None
    ) -> np.ndarray:
        """canvas.draw() at our dpi; optionally record the order in which
        the top-level artists (children of each Axes, and the figure's
        other children) are drawn (``record``), or leave some of them out
        (``skip``: ids; this draws the background and keeps a copy of
        it)."""
        axes = set(fig.axes)
        tops = [c for c in fig.get_children() if c not in axes] + [
            c for ax in fig.axes for c in ax.get_children()
        ]
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
                return np.ascontiguousarray(
                    np.asarray(canvas.buffer_rgba())[..., :3]
                )
        finally:
            for child in patched:
                del child.draw

    def _draw_suffix(self, fig) -> np.ndarray:
        with self._at_dpi(fig) as canvas:
            canvas.restore_region(self.background)
            renderer = canvas.get_renderer()
            for child in self.suffix:
                child.draw(renderer)
            return np.ascontiguousarray(
                np.asarray(canvas.buffer_rgba())[..., :3]
            )

    def _full(self, fig) -> np.ndarray:
        pixels = self._draw_full(fig)
        self.counts["full"] += 1
        self.structure = self._structure(fig)
        self.background = None
        return pixels

    def _rebuild(self, fig) -> np.ndarray:
        """Full draw (recording the order), background without the moving
        suffix, and a check."""
        self.counts["rebuild"] += 1
        order = []
        pixels = self._draw_full(fig, record=order)
        self.structure = self._structure(fig)
        # everything drawn from the first changing artist on (in any Axes) is
        # drawn again per frame, in the same order, so overlaps come out as in
        # a full draw
        first = next(
            (i for i, c in enumerate(order) if id(c) in self.moving),
            len(order),
        )
        suffix = order[first:]
        skip = {id(c) for c in suffix}
        self._draw_full(fig, skip=skip)  # sets self.background
        self.suffix = suffix
        if not np.array_equal(self._draw_suffix(fig), pixels):
            self._disable(
                "a redraw of the changing artists did not match a full draw"
            )
        self._since_verify = 0
        return pixels

    def _disable(self, reason: str):
        self.blit = False
        self.disabled_reason = reason
        self.background = None

    def pixels(self, fig, verify: bool = False) -> np.ndarray:
        """The (H, W, 3) pixels of ``fig`` as a full draw at ``self.dpi``
        would give them."""
        _count_draws(fig)
        try:
            return self._pixels(fig, verify)
        finally:
            self._settle(fig)
            self._seen = (id(fig), fig._lc_draws[0])

    def _pixels(self, fig, verify: bool) -> np.ndarray:
        if fig is not self.fig or getattr(self, "_seen", None) != (
            id(fig),
            fig._lc_draws[0],
        ):
            # a new figure, or drawn by someone else since (a display of it,
            # another slider): changes made before that draw are no longer
            # marked stale
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
