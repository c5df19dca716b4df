"""Tests of lecture_code.sliders: ranges and lists, both views, the value
shown is the value drawn, cheap static frames that composite to the right
picture, and a painter whose partial redraws give exactly the pixels of a
full draw."""

import base64
import io
import math
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from lecture_code.painter import Painter
from lecture_code.plot import new_figure
from lecture_code.sliders import MAX_BYTES, Range, Slider, slider
from lecture_code.style import rgb_array


def draw(a, b=0.0):
    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [b, a])
    ax.set_ylim(-1, 1)
    return fig


def reused_figure():
    """One figure for every frame (as the chapters do): a line, a point and
    a title move."""
    fig, ax = new_figure(
        3.0, 2.2, margins=dict(left=0.15, right=0.97, bottom=0.15, top=0.85)
    )
    x = np.linspace(0, 1, 100)
    ax.fill_between(x, 0, 1, color="0.9")  # something static behind
    (line,) = ax.plot(x, x, color="C0")
    dot = ax.scatter([0.5], [0.5], color="k", zorder=5)
    title = ax.set_title("")
    ax.set_ylim(0, 1)
    calls = []

    def render(tau, shift=0.0):
        calls.append((tau, shift))
        line.set_ydata(x**tau)
        dot.set_offsets([[0.5, 0.5**tau + shift]])
        title.set_text(f"τ = {tau:.3g}")
        return fig

    return render, calls


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def composite(s: Slider, k: int) -> np.ndarray:
    """What the static view shows for frame k: the frame laid over the
    background (if any)."""
    frame = decode(s.frames[k]).convert("RGBA")
    if s.background is None:
        return np.asarray(frame.convert("RGB"))
    bg = decode(s.background).convert("RGBA")
    return np.asarray(Image.alpha_composite(bg, frame).convert("RGB"))


def live_parts(s: Slider):
    box = s.widget()
    rows = [c for c in box.children if "lc-live-control" in c._dom_classes]
    image = next(c for c in box.children if "lc-live-image" in c._dom_classes)
    error = next(c for c in box.children if "lc-live-error" in c._dom_classes)
    return (
        [r.children[0] for r in rows],
        [r.children[1] for r in rows],
        image,
        error,
    )


# -- Range
# -----------------------------------------------------------------------------
def test_range_samples_its_stops():
    assert Range(1, 3, stops=5).sample() == [1.0, 1.5, 2.0, 2.5, 3.0]
    log = Range(0.01, 100, log=True, stops=5).sample()
    assert (
        log[0] == 0.01
        and log[-1] == 100
        and np.allclose(log, [0.01, 0.1, 1, 10, 100])
    )
    assert Range(1, 512, log=True, integer=True, stops=10).sample() == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
    ]
    # repeated integers merged
    assert Range(1, 5, integer=True, stops=25).sample() == [1, 2, 3, 4, 5]
    assert len(Range(0, 1).sample()) == 25


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(lo=1, hi=1), ValueError, "lo < hi"),
        (dict(lo=2, hi=1), ValueError, "lo < hi"),
        (dict(lo=0, hi=1, log=True), ValueError, "log Range needs lo > 0"),
        (dict(lo=0, hi=math.inf), ValueError, "hi must be finite"),
        (dict(lo="0", hi=1), TypeError, "lo must be a number"),
        (dict(lo=True, hi=2), TypeError, "lo must be a number"),
        (dict(lo=0, hi=1, stops=1), ValueError, "stops must be at least 2"),
        (dict(lo=0, hi=1, stops=2.5), TypeError, "stops must be an integer"),
        (dict(lo=0.5, hi=3, integer=True), ValueError, "integer ends"),
    ],
)
def test_range_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        Range(**kwargs)


def test_default_stops_by_number_of_parameters():
    render, _ = reused_figure()
    # small pictures: only the counts matter
    one = slider(render, tau=Range(0.2, 5, log=True), dpi=30)
    assert len(one.values["tau"]) == 25 and len(one.frames) == 25
    two = slider(
        render, tau=Range(0.2, 5, log=True), shift=Range(-0.2, 0.2), dpi=30
    )
    assert [len(two.values[n]) for n in ("tau", "shift")] == [7, 7] and len(
        two.frames
    ) == 49
    mixed = slider(
        lambda tau, mode: render(tau),
        tau=Range(0.5, 2),
        mode=["a", "b"],
        dpi=30,
    )
    assert len(mixed.values["tau"]) == 7 and mixed.kinds == {
        "tau": "numeric",
        "mode": "categorical",
    }
    explicit = slider(render, tau=Range(0.2, 5, stops=9), dpi=30)
    assert len(explicit.frames) == 9


# -- the static view
# -----------------------------------------------------------------------------
def test_bundle_has_widget_and_static_views():
    s = slider(draw, a=[-1.0, 0.0, 1.0])
    bundle = s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert (
        html.count('type="range"') == 1
        and 'max="2"' in html
        and 'data-kind="numeric"' in html
    )
    assert "<script>" in html and "lc-frames" in html
    # every frame is a different picture
    assert len(s.frames) == 3 and len(set(s.frames)) == 3
    for frame in s.frames:
        assert base64.b64decode(frame)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_label_is_the_value_render_received():
    render, calls = reused_figure()
    s = slider(render, tau=Range(0.1, 10, log=True, stops=21), fmt="{:.3g}")
    received = [c[0] for c in calls]
    # one call per stop, in order, with the stop's value
    assert received == s.values["tau"]
    assert s.value_text["tau"] == [f"{v:.3g}" for v in received]
    labels = re.search(
        r'class="lc-labels">(.*?)</script>', s._repr_html_()
    ).group(1)
    assert labels.startswith('[["0.1", "0.126"') and labels.endswith(
        '"7.94", "10"]]'
    )


def test_frames_over_the_background_show_the_full_picture():
    render, _ = reused_figure()
    s = slider(render, tau=Range(0.2, 5, log=True))
    assert s.background is not None
    for k in (0, 7, 24):
        expected = rgb_array(render(s.values["tau"][k]), dpi=80).astype(int)
        diff = np.abs(composite(s, k).astype(int) - expected).max(axis=-1)
        # only quantization
        assert diff.mean() < 0.5 and (diff > 40).mean() < 1e-3


def test_frames_that_differ_little_cost_little():
    """A point moving over a busy static picture: each frame stores about
    the point only."""
    fig, ax = new_figure(
        3.0, 3.0, margins=dict(left=0.02, right=0.98, bottom=0.02, top=0.98)
    )
    ax.set_axis_off()
    yy, xx = np.mgrid[0:1:120j, 0:1:120j]
    ax.imshow(
        np.sin(9 * xx) * np.cos(7 * yy), extent=(0, 1, 0, 1), cmap="viridis"
    )
    dot = ax.scatter([0.5], [0.5], s=60, color="w", edgecolors="k")

    def render(t):
        dot.set_offsets([[0.1 + 0.8 * t, 0.5]])
        return fig

    s = slider(render, t=Range(0, 1))
    whole = [
        len(base64.b64decode(slider(render, t=[t]).frames[0]))
        for t in (0.0, 0.5)
    ]
    per_frame = np.mean([len(base64.b64decode(f)) for f in s.frames])
    assert per_frame < 0.15 * np.mean(whole), (per_frame, whole)
    assert len(s._repr_html_()) < 0.3 * 25 * np.mean(whole)


def test_frames_of_different_sizes_are_stored_whole():
    def render(w):
        return Figure(figsize=(w, 1.5))

    s = slider(render, w=[1.5, 2.0, 2.5])
    assert (
        s.background is None and 'class="lc-background"' not in s._repr_html_()
    )
    assert [decode(f).size[0] for f in s.frames] == [120, 160, 200]


def test_multiple_sliders_make_the_product_of_frames():
    s = slider(
        draw, a=[0.0, 1.0], b=[-0.5, 0.0, 0.5], initial={"a": 1.0, "b": -0.5}
    )
    assert len(s.frames) == 6
    html = s._repr_html_()
    assert html.count('type="range"') == 2
    # the initial picture is the frame (a=1.0, b=-0.5): index 1*3 + 0 = 3
    shown = re.search(
        r'class="lc-frame"[^>]*src="data:image/png;base64,([^"]+)"', html
    ).group(1)
    assert shown == s.frames[3]


def test_categorical_values_keep_their_text():
    s = slider(
        lambda mode: draw(0.5 if mode == "x" else -0.5),
        mode=["x", "y"],
        initial={"mode": "y"},
    )
    assert (
        s.kinds["mode"] == "categorical"
        and s.value_text["mode"] == ["x", "y"]
        and s.start["mode"] == 1
    )
    assert 'data-kind="categorical"' in s._repr_html_()


def test_budget_is_enforced():
    with pytest.raises(ValueError, match="over the 1 KB budget"):
        Slider(draw, {"a": [0.0, 1.0]}, max_bytes=1_000)
    assert MAX_BYTES == 600_000


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: slider(draw), ValueError, "at least one slider"),
        (lambda: slider(draw, a=[]), ValueError, "has no values"),
        (lambda: slider(draw, a=0.5), TypeError, "needs a Range or a list"),
        (lambda: slider(draw, a="abc"), TypeError, "needs a Range or a list"),
        (
            lambda: slider("not a function", a=[1]),
            TypeError,
            "render must be a function",
        ),
        (
            lambda: slider(lambda a: None, a=[1]),
            TypeError,
            "must return a matplotlib Figure",
        ),
        (
            lambda: slider(draw, a=[0, 1], initial={"c": 1}),
            ValueError,
            "initial names unknown sliders",
        ),
        (
            lambda: slider(
                lambda m: draw(0), m=["x", "y"], initial={"m": "z"}
            ),
            ValueError,
            "not one of its values",
        ),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- the live view
# -----------------------------------------------------------------------------
def test_live_controls_are_continuous_and_reach_every_stop():
    render, _ = reused_figure()
    s = slider(
        lambda tau, shift, n, mode: render(tau, shift),
        tau=Range(0.1, 10, log=True, stops=5),
        shift=Range(-0.2, 0.2, stops=3),
        n=Range(1, 3, integer=True),
        mode=["a", "b"],
        dpi=30,
    )
    (tau, shift, n, mode), _, _, _ = live_parts(s)
    assert [type(c).__name__ for c in (tau, shift, n, mode)] == [
        "FloatLogSlider",
        "FloatSlider",
        "IntSlider",
        "SelectionSlider",
    ]
    assert all(c.continuous_update for c in (tau, shift, n, mode))
    # every static stop is a position of the live slider (so both views can
    # show the same picture)
    for v in s.values["tau"]:
        k = (math.log10(v) - tau.min) / tau.step
        assert abs(k - round(k)) < 1e-6
    for v in s.values["shift"]:
        k = (v - shift.min) / shift.step
        assert abs(k - round(k)) < 1e-6
    # ten positions per stop interval: continuous
    assert tau.step <= (tau.max - tau.min) / 40
    # 5 default stops of 1..3 merged into 3 integers
    assert s.values["n"] == [1, 2, 3] and n.step == 1


def test_live_redraw_shows_the_value_it_drew():
    render, calls = reused_figure()
    s = slider(render, tau=Range(0.1, 10, log=True), fmt="{:.3g}")
    (control,), (readout,), image, error = live_parts(s)
    assert readout.value == s.value_text["tau"][s.start["tau"]]
    before = image.value
    control.value = 0.3162277660168379  # a position between two stops
    # render received the slider's value ...
    assert calls[-1] == (0.3162277660168379, 0.0)
    assert readout.value == "0.316"  # ... and the label is computed from it
    assert (
        image.value != before
        and s.live_renders == 1
        and error.layout.display == "none"
    )
    shown = np.asarray(Image.open(io.BytesIO(image.value)).convert("RGB"))
    # the exact pixels
    assert np.array_equal(shown, rgb_array(render(0.3162277660168379), dpi=80))


def test_live_integer_range_passes_ints():
    seen = []

    def render(n):
        seen.append(n)
        return draw(n / 10)

    s = slider(render, n=Range(1, 9, integer=True))
    (control,), (readout,), _, _ = live_parts(s)
    control.value = 7
    assert seen[-1] == 7 and type(seen[-1]) is int and readout.value == "7"


def test_live_redraw_skips_values_already_shown():
    render, calls = reused_figure()
    s = slider(render, tau=Range(0.5, 2))
    (control,), _, _, _ = live_parts(s)
    n = len(calls)
    control.value = 1.5
    control.value = 1.5  # no change: traitlets does not even call back
    s.widget().children[0].children[0].value = 1.5
    assert len(calls) == n + 1 and s.live_renders == 1


def test_live_error_is_shown_under_the_picture():
    def render(a):
        if a > 0.9:
            raise ValueError("a is too large for this demo")
        return draw(a)

    s = slider(render, a=Range(0, 0.9, stops=3))
    # let the live slider go beyond the precomputed range
    s.specs["a"] = Range(0, 2, stops=3)
    s._widget = None
    (control,), (readout,), image, error = live_parts(s)
    before = image.value
    control.value = 1.5
    assert "a is too large" in error.value and error.layout.display is None
    # the old picture and its value stay
    assert image.value == before and readout.value == "0.45"
    control.value = 0.2
    assert (
        error.layout.display == "none"
        and error.value == ""
        and readout.value == "0.20"
    )


def test_old_list_call_keeps_working():
    s = slider(
        draw,
        a=[-1.0, 0.0, 1.0],
        labels={"a": "α"},
        fmt="{:+.1f}",
        initial={"a": 1.0},
        dpi=72,
        alt="x",
    )
    (control,), (readout,), image, _ = live_parts(s)
    assert (
        type(control).__name__ == "SelectionSlider"
        and control.value == 2
        and readout.value == "+1.0"
    )
    control.value = 0
    assert readout.value == "-1.0"
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(image.value)).convert("RGB")),
        rgb_array(draw(-1.0), dpi=72),
    )


# -- the painter: partial redraws give the pixels of a full draw
# ----------------------------------


def _scenario(name):
    """(figure, list of change functions) for one kind of change between
    frames."""
    fig, ax = new_figure(
        3.0, 2.4, margins=dict(left=0.16, right=0.96, bottom=0.16, top=0.86)
    )
    x = np.linspace(0, 1, 50)
    (line,) = ax.plot(x, x, label="線")
    # below the line: the line must be redrawn over it
    pts = ax.scatter([0.2, 0.4], [0.3, 0.6], zorder=1)
    bars = ax.bar([0.2, 0.5, 0.8], [0.3, 0.5, 0.2], width=0.1, alpha=0.6)
    title = ax.set_title("")
    legend = ax.legend(loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    other = fig.add_axes([0.7, 0.6, 0.2, 0.2])
    image = other.imshow(np.zeros((4, 4)), vmin=0, vmax=1)
    other.set_axis_off()

    def ch(k):
        t = (k + 1) / 7
        return {
            "line": lambda: line.set_ydata(x ** (1 + 3 * t)),
            "scatter": lambda: pts.set_offsets([[t, 0.3], [0.4, t]]),
            "bars": lambda: [
                b.set_height(t * h) for b, h in zip(bars, (1, 0.5, 0.8))
            ],
            "title": lambda: title.set_text(f"t = {t:.2f}"),
            "image": lambda: image.set_data(np.full((4, 4), t)),
            "visible": lambda: pts.set_visible(k % 2 == 0),
            "legend": lambda: legend.get_texts()[0].set_text(f"線 {k}"),
            "ylim": lambda: ax.set_ylim(0, 1 + t),
            "new_artist": lambda: ax.axvline(t),
            "mixed": lambda: (
                line.set_ydata(x ** (1 + t)),
                title.set_text(str(k)),
                image.set_data(np.full((4, 4), 1 - t)),
            ),
        }[name]()

    return fig, ch


@pytest.mark.parametrize(
    "name, blits",
    [
        ("line", True),
        ("scatter", True),
        ("bars", True),
        ("title", True),
        ("image", True),
        ("visible", True),
        ("legend", True),
        ("mixed", True),
        ("ylim", False),
        ("new_artist", False),
    ],
)
def test_painter_gives_the_pixels_of_a_full_draw(name, blits):
    fig, change = _scenario(name)
    # the same figure, drawn in full every frame
    twin, twin_change = _scenario(name)
    painter = Painter(dpi=80)
    for k in range(7):
        change(k)
        twin_change(k)
        got = painter.pixels(fig, verify=True)
        assert np.array_equal(got, rgb_array(twin, dpi=80)), (
            f"{name}: frame {k} differs from a full draw"
        )
    assert painter.disabled_reason is None
    assert (painter.counts["blit"] >= 4) is blits, painter.counts


def test_painter_notices_a_draw_by_someone_else():
    fig, change = _scenario("line")
    painter = Painter(dpi=80)
    for k in range(3):
        change(k)
        painter.pixels(fig)
    change(5)
    # e.g. the chapter displays the figure: stale flags are cleared
    fig.savefig(io.BytesIO(), format="png")
    assert np.array_equal(painter.pixels(fig), rgb_array(fig, dpi=80))


def test_painter_falls_back_when_a_partial_redraw_would_differ(monkeypatch):
    fig, change = _scenario("line")
    twin, twin_change = _scenario("line")
    painter = Painter(dpi=80)
    original = painter._draw_suffix
    # a redraw that goes wrong
    monkeypatch.setattr(painter, "_draw_suffix", lambda f: original(f) // 2)
    for k in range(4):
        change(k)
        twin_change(k)
        assert np.array_equal(
            painter.pixels(fig, verify=True), rgb_array(twin, dpi=80)
        )
    assert painter.disabled_reason and not painter.blit


def test_blitted_and_full_frames_are_identical():
    render, _ = reused_figure()
    fast = slider(
        render, tau=Range(0.2, 5, log=True), shift=Range(-0.1, 0.1), dpi=50
    )
    slow = slider(
        render,
        tau=Range(0.2, 5, log=True),
        shift=Range(-0.1, 0.1),
        dpi=50,
        blit=False,
    )
    assert (
        fast._painter.counts["blit"] > 40 and slow._painter.counts["blit"] == 0
    )
    assert fast.frames == slow.frames and fast.background == slow.background


@pytest.mark.parametrize("canvas", ["bare", "pyplot"])
def test_quantized_frames_have_the_pixels_of_savefig(canvas):
    # png_bytes(colors=...) draws on the Agg canvas directly; it must show what
    # savefig writes
    import matplotlib.pyplot as plt

    from lecture_code.style import png_bytes, use_book_style

    use_book_style()
    fig = draw(0.5) if canvas == "bare" else plt.figure(figsize=(2.5, 2))
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    ax.set_title("温度 $\\tau = 0.5$")
    ax.legend(["曲線"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    expected = (
        Image.open(buf)
        .convert("RGB")
        .quantize(
            colors=128,
            method=Image.Quantize.MEDIANCUT,
            dither=Image.Dither.NONE,
        )
    )
    got = Image.open(io.BytesIO(png_bytes(fig, dpi=80, colors=128))).convert(
        "RGB"
    )
    assert np.array_equal(np.asarray(got), np.asarray(expected.convert("RGB")))
    assert np.array_equal(
        rgb_array(fig, dpi=80), np.asarray(Image.open(buf).convert("RGB"))
    )
    # the figure's own dpi is restored after drawing a frame at 80
    assert fig.dpi == 100
    plt.close("all")
