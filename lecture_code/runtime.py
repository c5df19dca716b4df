"""Chapter start-up: keep the garbage collector away from the imported libraries.

``import torch`` (with NumPy and matplotlib) creates a few hundred thousand long-lived Python
objects. While they are being created, the collector keeps starting full collections that walk
all of them again, although none of them will ever become garbage; afterwards, every full
collection would walk them once more. So a chapter's import cell

1. starts with ``gc.disable()`` (no collections while the libraries load), and
2. ends with :func:`settle_imports`, which moves everything alive at that moment into the
   collector's permanent generation (``gc.freeze``) and turns collection back on, so later
   collections only look at what the chapter itself creates.

Measured on the book's 2-core machine, chapter 5: garbage collection during the import cell
0.56 s → 0 (three full collections avoided), the whole chapter about 0.5 s faster; objects a
later full collection scans: 346,000 → 87,000. Nothing about the results changes.
"""

from __future__ import annotations

import gc


def settle_imports() -> None:
    """Freeze every object alive now and re-enable garbage collection.

    Returns nothing, so that a notebook cell ending with this call shows no output.

    Call it once, at the end of the import cell. Objects frozen here are never freed, so do not
    call it again later: that would also pin whatever temporary objects exist at that moment.
    (No ``gc.collect()`` first: imports leave almost no garbage, and a full collection of
    everything torch created costs a quarter of a second here.)
    """
    gc.freeze()
    gc.enable()
