"""lecture_code: the small library behind the textbook "Softmaxと情報幾何学".

One concept per module; chapters import the module they need, e.g. ``from
lecture_code.softmax import softmax``.
"""
