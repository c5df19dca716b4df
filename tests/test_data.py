"""Tests of lecture_code.data: the digits loader equals scikit-learn's,
splits are reproducible."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lecture_code.data import load_digits_arrays, load_digits_split


def test_arrays_equal_sklearn_load_digits():
    X, y = load_digits_arrays()
    X_ref, y_ref = load_digits(return_X_y=True)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    # the UCI digits themselves: integer pixels 0..16, the known class counts
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.dtype == np.int64 and (X == X.round()).all()
    assert X.min() == 0 and X.max() == 16 and X.sum() == 561718
    assert np.bincount(y).tolist() == [
        178,
        182,
        177,
        183,
        181,
        182,
        181,
        179,
        174,
        180,
    ]


def test_split_is_reproducible_standardized_and_complete():
    a, b = load_digits_split(seed=3), load_digits_split(seed=3)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(
        a.y_test, b.y_test
    )
    assert a.X_train.shape == (1258, 64) and a.X_test.shape == (539, 64)
    assert a.num_classes == 10 and a.num_features == 64
    assert torch.allclose(a.X_train.mean(0), torch.zeros(64), atol=1e-5)
    counts = torch.bincount(torch.cat([a.y_train, a.y_test]), minlength=10)
    assert counts.tolist() == np.bincount(load_digits().target).tolist()
    assert (
        load_digits_split(dtype=torch.float64).X_train.dtype == torch.float64
    )


def test_bad_fraction():
    with pytest.raises(
        ValueError, match=r"test_fraction must be a number in \(0, 1\)"
    ):
        load_digits_split(test_fraction=1.5)


def test_pool_digits_averages_2x2_blocks():
    import torch

    from lecture_code.data import pool_digits

    images = torch.arange(2 * 64, dtype=torch.float64).reshape(2, 64)
    pooled = pool_digits(images)
    assert pooled.shape == (2, 16)
    # block (0, 0) of image 0 holds pixels 0, 1, 8, 9; block (3, 3) holds 54,
    # 55, 62, 63
    assert (
        pooled[0, 0] == (0 + 1 + 8 + 9) / 4
        and pooled[0, 15] == (54 + 55 + 62 + 63) / 4
    )
    # averaging keeps the mean
    torch.testing.assert_close(pooled.mean(1), images.mean(1))
    with pytest.raises(ValueError, match="shape"):
        pool_digits(torch.zeros(3, 16))
    with pytest.raises(TypeError, match="float tensor"):
        pool_digits(torch.zeros(3, 64, dtype=torch.int64))
