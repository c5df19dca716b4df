"""Frames of a slider's static view, stored small (``lecture_code.sliders``
uses them).

Most frames of a slider share most of their pixels: the axes, the labels,
whatever does not move. :func:`encode_frames` stores those pixels once, as a
background image, and each frame as a palette PNG of only the pixels that
differ from it (transparent elsewhere), to be laid over it.
"""

from __future__ import annotations

import base64
import io

import numpy as np

#: Frames are quantized to at most this many colours (about 3x smaller PNGs,
#: no visible change).
PALETTE_COLORS = 128

#: Above this mean fraction of changed pixels, frames are stored whole instead
#: of over a background.
OVERLAY_MAX_CHANGED = 0.5

#: The few lines of script of a static slider: swap the picture (and the
#: values shown) as its inputs move.
STATIC_SCRIPT = """<script>(function () {
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
  for (var k = 0; k < inputs.length; k++)
    inputs[k].addEventListener('input', update);
})();</script>"""


def b64(data: bytes) -> str:
    """Base64 text of ``data`` (for a data: URL).

    Parameters
    ----------
    data : bytes
        The bytes to encode, e.g. a PNG.

    Returns
    -------
    str
        ASCII base64 text.
    """
    return base64.b64encode(data).decode("ascii")


def png(image, **kwargs) -> bytes:
    """The PNG bytes of a PIL image.

    Parameters
    ----------
    image : PIL.Image.Image
        The image to encode.
    **kwargs
        Passed to ``Image.save``, e.g. ``transparency``.

    Returns
    -------
    bytes
        The PNG file.
    """
    out = io.BytesIO()
    image.save(out, format="PNG", **kwargs)
    return out.getvalue()


def _quantized_png(pixels: np.ndarray) -> bytes:
    """A palette PNG of an (H, W, 3) image (median cut, no dithering)."""
    from PIL import Image

    q = Image.fromarray(pixels).quantize(
        colors=PALETTE_COLORS,
        method=Image.Quantize.MEDIANCUT,
        dither=Image.Dither.NONE,
    )
    return png(q)  # optimize=True would cost ~7 ms a frame for 3% fewer bytes


def _overlaypng(pixels: np.ndarray, mask: np.ndarray) -> bytes:
    """A palette PNG of the pixels under ``mask``; every other pixel is
    transparent.

    The palette is fitted to the changed pixels only; the transparent entry is
    white, so a viewer that ignores transparency sees blank paper there.
    """
    from PIL import Image

    h, w = mask.shape
    changed = pixels[mask]
    index = np.zeros((h, w), dtype=np.uint8)
    if len(changed):
        q = Image.fromarray(changed[None]).quantize(
            colors=PALETTE_COLORS - 1,
            method=Image.Quantize.MEDIANCUT,
            dither=Image.Dither.NONE,
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
    return png(image, transparency=ncol)


def _background(stack: np.ndarray) -> np.ndarray:
    """Per pixel, the colour most frames have (a few frames are candidates,
    counted on a sample).

    ``stack`` is (N, H, W) of packed RGB. Pixels a moving part covers in one
    frame take the colour the other frames agree on, so the background holds
    everything that does not move.
    """
    n = len(stack)
    cand = stack[
        np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
    ]
    sample = stack[
        np.unique(np.linspace(0, n - 1, min(n, 11)).round().astype(int))
    ]
    counts = np.stack([(sample == c).sum(axis=0) for c in cand])
    return np.take_along_axis(cand, counts.argmax(axis=0)[None], axis=0)[0]


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def encode_frames(frames: list[np.ndarray]) -> tuple[list[str], str | None]:
    """Encode (H, W, 3) frames for the static view: ``(frames_base64,
    background_base64)``.

    With a background, each frame is a transparent palette PNG of only the
    pixels that differ from the background (to be laid over it); without
    (frames of different sizes, fewer than three frames, or frames that mostly
    differ from each other), each frame is a whole palette PNG and the
    background is ``None``.

    Parameters
    ----------
    frames : list of numpy.ndarray
        The frames, each (H, W, 3) ``uint8``.

    Returns
    -------
    tuple of (list of str, str or None)
        Base64 PNG per frame, and the base64 background PNG or ``None``.
    """
    shapes = {f.shape for f in frames}
    if len(frames) >= 3 and len(shapes) == 1:
        packed = np.stack([_pack(f) for f in frames])
        bg = _background(packed)
        masks = packed != bg[None]
        if masks.mean() <= OVERLAY_MAX_CHANGED:
            bg_rgb = np.stack(
                [(bg >> 16) & 255, (bg >> 8) & 255, bg & 255], axis=-1
            ).astype(np.uint8)
            out = [b64(_overlaypng(f, m)) for f, m in zip(frames, masks)]
            return out, b64(_quantized_png(bg_rgb))
    return [b64(_quantized_png(f)) for f in frames], None
