"""lecture_code: the small library behind the textbook "Softmaxと情報幾何学".

One concept per module; chapters import the module they need, e.g. ``from
lecture_code.softmax import softmax``. This file deliberately imports nothing,
so that a notebook depends only on the modules it names (see
tools/cache_guard.py).
"""
