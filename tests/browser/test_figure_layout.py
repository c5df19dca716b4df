"""No figure in the built book is cut off at its edge.

Figures are displayed exactly as laid out (``lecture_code.style`` turns off
IPython's re-cropping to the content, which cost a second layout pass per
figure). The price is that a margin chosen too small silently cuts off a label.
This test reads every PNG a chapter page shows (output images and every frame
of every static slider) and requires its outermost rows and columns of pixels
to be blank: anything drawn there touches the edge and was probably clipped. A
slider frame is checked as shown: laid over the slider's background image.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HTML = Path(__file__).resolve().parents[2] / "_build" / "html"
INK = 245  # a pixel darker than this (0-255 grey) is drawn, not background
IMG_SRC = re.compile(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"')
FRAMES = re.compile(
    r'<script type="application/json" class="lc-frames">(.*?)</script>', re.S
)
BACKGROUND = re.compile(
    r'<img class="lc-background"[^>]*src="data:image/png;base64,([^"]+)"'
)


def edges_with_ink(png: bytes) -> list[str]:
    """Names of the image's edges (one pixel wide) that contain drawn
    pixels."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    ink = grey < INK
    sides = {
        "top": ink[0],
        "bottom": ink[-1],
        "left": ink[:, 0],
        "right": ink[:, -1],
    }
    return [name for name, row in sides.items() if row.any()]


def chapter_pages() -> list[Path]:
    pages = sorted((HTML / "notebooks").glob("*.html"))
    if not pages:
        pytest.fail(
            "no built chapters in _build/html/notebooks: run 'make book' (or "
            "'make test') first"
        )
    return pages


def slider_frames(chunk: str):
    """The pictures a static slider shows: each frame, laid over the
    slider's background if it has one (``lecture_code.sliders`` stores
    only the pixels that differ from the background)."""
    frames = json.loads(FRAMES.search(chunk).group(1))
    bg = BACKGROUND.search(chunk)
    background = (
        Image.open(io.BytesIO(base64.b64decode(bg.group(1)))).convert("RGBA")
        if bg
        else None
    )
    for frame in frames:
        png = base64.b64decode(frame)
        if background is not None:
            shown = Image.alpha_composite(
                background, Image.open(io.BytesIO(png)).convert("RGBA")
            ).convert("RGB")
            buf = io.BytesIO()
            shown.save(buf, format="PNG")
            png = buf.getvalue()
        yield png


def pngs_of(page: Path):
    """(label, PNG bytes) for every image output and every slider frame of
    one page."""
    text = page.read_text(encoding="utf-8")
    for src in IMG_SRC.findall(text):
        yield src, (page.parent / src).read_bytes()
    for k, chunk in enumerate(text.split('<div class="lc-slider"')[1:]):
        for j, png in enumerate(slider_frames(chunk)):
            yield f"slider {k + 1}, frame {j + 1}", png


def test_edge_detection_sees_ink():
    # the check itself must be able to fail: a frame with a line on its left
    # edge is reported
    blank = np.full((20, 30), 255, dtype=np.uint8)
    touching = blank.copy()
    touching[5:15, 0] = 0
    out = []
    for a in (blank, touching):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        out.append(edges_with_ink(buf.getvalue()))
    assert out == [[], ["left"]]


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_no_figure_touches_its_edge(page):
    seen, clipped = 0, []
    for label, png in pngs_of(page):
        seen += 1
        sides = edges_with_ink(png)
        if sides:
            clipped.append(
                f"{label}: drawn pixels on the {', '.join(sides)} edge"
            )
    assert seen > 0, f"{page.name} shows no PNG figure at all"
    assert not clipped, (
        f"{page.name}: figures cut off (give them larger margins):\n"
        + "\n".join(clipped)
    )
