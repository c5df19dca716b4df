"""Tests of lecture_code.sliders: both views exist, frames differ, budget enforced."""

import base64
import re

import pytest
from matplotlib.figure import Figure

from lecture_code.sliders import Slider, slider


def draw(a, b=0.0):
    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [b, a])
    ax.set_ylim(-1, 1)
    return fig


def test_bundle_has_widget_and_static_views():
    s = slider(draw, a=[-1.0, 0.0, 1.0])
    bundle = s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert html.count('type="range"') == 1 and 'max="2"' in html
    assert "<script>" in html and "lc-frames" in html
    assert len(s.frames) == 3 and len(set(s.frames)) == 3  # every frame is a different picture
    for frame in s.frames:
        assert base64.b64decode(frame)[:8] == b"\x89PNG\r\n\x1a\n"


def test_multiple_sliders_make_the_product_of_frames():
    s = slider(draw, a=[0.0, 1.0], b=[-0.5, 0.0, 0.5], initial={"a": 1.0, "b": -0.5})
    assert len(s.frames) == 6
    html = s._repr_html_()
    assert html.count('type="range"') == 2
    # the initial picture is the frame (a=1.0, b=-0.5): index 1*3 + 0 = 3
    shown = re.search(r'class="lc-frame"[^>]*src="data:image/png;base64,([^"]+)"', html).group(1)
    assert shown == s.frames[3]


def test_live_widget_redraws_on_change():
    s = slider(draw, a=[-1.0, 0.0, 1.0])
    box = s.widget()
    control, image = box.children
    before = image.value
    control.value = 0
    assert image.value != before
    assert image.value == base64.b64decode(s.frames[0])


def test_budget_is_enforced():
    with pytest.raises(ValueError, match="over the 1 KB budget"):
        Slider(draw, {"a": [0.0, 1.0]}, max_bytes=1_000)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: slider(draw), ValueError, "at least one slider"),
        (lambda: slider(draw, a=[]), ValueError, "has no values"),
        (lambda: slider("not a function", a=[1]), TypeError, "render must be a function"),
        (lambda: slider(lambda a: None, a=[1]), TypeError, "must return a matplotlib Figure"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("canvas", ["bare", "pyplot"])
def test_quantized_frames_have_the_pixels_of_savefig(canvas):
    # png_bytes(colors=...) draws on the Agg canvas directly; it must show what savefig writes
    import io

    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from lecture_code.style import png_bytes, use_book_style

    use_book_style()
    fig = draw(0.5) if canvas == "bare" else plt.figure(figsize=(2.5, 2))
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    ax.set_title("温度 $\\tau = 0.5$")
    ax.legend(["曲線"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    expected = Image.open(buf).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    got = Image.open(io.BytesIO(png_bytes(fig, dpi=80, colors=128))).convert("RGB")
    assert np.array_equal(np.asarray(got), np.asarray(expected.convert("RGB")))
    assert fig.dpi == 100  # the figure's own dpi is restored after drawing a frame at 80
    plt.close("all")
