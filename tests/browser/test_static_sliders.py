"""The static sliders of the HTML book (no kernel): dense enough, within
budget, and the picture shown is the frame of the value shown (issue 17).

- Every chapter page of ``_build/html`` is at most 1.5 MB, and every slider on
  it at most 600 KB.
- Every numeric parameter has enough stops: >= 20 in a one-parameter slider, >=
  7 in a two-parameter one (7 x 7), >= 5 with more (``data-kind`` on each
  ``<input type=range>``; categorical parameters, such as a choice of
  truncation, are free).
- In Chromium, a slider made by ``lecture_code.sliders`` shows, after each
  move, exactly the picture ``render`` drew for the value written next to it
  (the frame laid over the background).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HTML = Path(__file__).resolve().parents[2] / "_build" / "html"
PAGE_BUDGET = 1_500_000
SLIDER_BUDGET = 600_000
MIN_STOPS = {1: 20, 2: 7}  # by the number of numeric parameters of one slider
MIN_STOPS_MANY = 5

INPUT = re.compile(
    r'<input type="range" min="0" max="(\d+)"[^>]*data-kind="(\w+)"'
)


PAGES = sorted((HTML / "notebooks").glob("*.html"))


def test_the_book_is_built():
    assert PAGES, (
        "no built chapters in _build/html/notebooks: run 'make book' (or "
        "'make test') first"
    )


def sliders_of(text: str) -> list[str]:
    """The HTML of each static slider of a page (its div and its inline
    script)."""
    return [
        '<div class="lc-slider"' + chunk.split("</script></div><script>")[0]
        for chunk in text.split('<div class="lc-slider"')[1:]
    ]


def stops_problems(slider_html: str) -> list[str]:
    inputs = INPUT.findall(slider_html)
    # categorical choices need no minimum
    numeric = [m for m, kind in inputs if kind == "numeric"]
    need = MIN_STOPS.get(len(numeric), MIN_STOPS_MANY)
    return [
        f"{int(m) + 1} stops (needs >= {need} in a slider of {len(numeric)} "
        "numeric parameter(s))"
        for m in numeric
        if int(m) + 1 < need
    ]


def test_stops_rule_sees_sparse_sliders():
    """The check itself can fail: a 9-stop one-parameter slider, a 5 x 5
    two-parameter one, and a 9-stop numeric parameter beside a
    categorical one (the numeric one still needs 20)."""
    one = (
        '<input type="range" min="0" max="8" step="1" value="4" '
        'data-kind="numeric">'
    )
    two = (
        '<input type="range" min="0" max="4" step="1" value="2" '
        'data-kind="numeric">'
        '<input type="range" min="0" max="6" step="1" value="2" '
        'data-kind="numeric">'
    )
    cat = (
        '<input type="range" min="0" max="8" step="1" value="2" '
        'data-kind="numeric">'
        '<input type="range" min="0" max="2" step="1" value="1" '
        'data-kind="categorical">'
    )
    assert stops_problems(one) == [
        "9 stops (needs >= 20 in a slider of 1 numeric parameter(s))"
    ]
    assert stops_problems(two) == [
        "5 stops (needs >= 7 in a slider of 2 numeric parameter(s))"
    ]
    assert stops_problems(cat) == [
        "9 stops (needs >= 20 in a slider of 1 numeric parameter(s))"
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_and_its_sliders_are_within_budget(page):
    text = page.read_text(encoding="utf-8")
    size = len(text.encode("utf-8"))
    assert size <= PAGE_BUDGET, (
        f"{page.name} is {size / 1e6:.2f} MB (budget 1.5 MB)"
    )
    for k, html in enumerate(sliders_of(text)):
        assert len(html) <= SLIDER_BUDGET, (
            f"{page.name}: slider {k + 1} is {len(html) / 1e3:.0f} KB (budget "
            "600 KB)"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_numeric_sliders_are_dense(page):
    problems = [
        f"slider {k + 1}: {p}"
        for k, html in enumerate(sliders_of(page.read_text(encoding="utf-8")))
        for p in stops_problems(html)
    ]
    assert not problems, f"{page.name}: " + "; ".join(problems)


def test_the_picture_shown_is_the_frame_of_the_value_shown(browser):
    """A slider straight from lecture_code, in Chromium: after each move the
    picture on screen is the one render drew for the value written next
    to the slider."""
    from lecture_code.plot import new_figure
    from lecture_code.sliders import Range, slider
    from lecture_code.style import rgb_array

    fig, ax = new_figure(
        2.4, 1.8, margins=dict(left=0.2, right=0.95, bottom=0.2, top=0.85)
    )
    x = np.linspace(0, 1, 60)
    (line,) = ax.plot(x, x)
    dot = ax.scatter([0.5], [0.5], color="k", zorder=5)
    title = ax.set_title("")
    ax.set_ylim(0, 1)

    def render(tau):
        line.set_ydata(x**tau)
        dot.set_offsets([[0.5, 0.5**tau]])
        title.set_text(f"τ = {tau:.3g}")
        return fig

    s = slider(render, tau=Range(0.25, 4, log=True, stops=21), fmt="{:.3g}")
    assert s.background is not None
    page = browser.new_page(
        viewport={"width": 600, "height": 400}, device_scale_factor=1
    )
    try:
        # whole-pixel control heights, so the picture lands on whole pixels (no
        # resampling)
        style = (
            "<style>body{margin:0;background:white} "
            "label.lc-control{height:30px}</style>"
        )
        page.set_content(
            f"<html><head>{style}</head><body>{s._repr_html_()}</body></html>"
        )
        rng, out, picture = (
            page.locator("input[type=range]"),
            page.locator("output"),
            page.locator("img.lc-background"),
        )
        for index in (0, 7, 20, 13):
            rng.evaluate(
                "(el, v) => { el.value = v; el.dispatchEvent(new "
                "Event('input')); }",
                str(index),
            )
            value = s.values["tau"][index]
            assert out.inner_text() == f"{value:.3g}"
            page.wait_for_function(
                "() => Array.from(document.images).every(i => i.complete)"
            )
            box = picture.bounding_box()
            clip = {k: round(box[k]) for k in ("x", "y", "width", "height")}
            shown = np.asarray(
                Image.open(io.BytesIO(page.screenshot(clip=clip))).convert(
                    "RGB"
                )
            ).astype(int)
            expected = rgb_array(render(value), dpi=80).astype(int)
            assert shown.shape == expected.shape
            diff = np.abs(shown - expected).max(axis=-1)
            assert diff.mean() < 1.0 and (diff > 48).mean() < 2e-3, (
                f"frame {index}: the picture differs from render({value})"
            )
    finally:
        page.close()
