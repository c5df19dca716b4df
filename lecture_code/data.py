"""Real data for the chapters that are about learning: scikit-learn's bundled
digits.

``load_digits`` ships inside scikit-learn (8×8 grey images of handwritten
digits, 1797 samples, 10 classes), so every chapter works offline. One loader
for the whole book, so that "the digits data" means the same split and the same
scaling everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .validate import in_interval


@dataclass(frozen=True)
class Split:
    """Standardized train/test tensors: X (N, 64) float, y (N,) int64 class
    labels 0..9.

    Attributes
    ----------
    X_train, X_test : torch.Tensor, shape (N, 64)
        Standardized pixels.
    y_train, y_test : torch.Tensor, shape (N,)
        int64 labels 0..9.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def num_classes(self) -> int:
        return int(torch.cat([self.y_train, self.y_test]).max()) + 1


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as (X, y): X (1797, 64) float pixel values 0..16, y
    (1797,) int labels.

    Returns
    -------
    X : numpy.ndarray, shape (1797, 64)
        float64 pixel values 0..16, one flattened 8×8 image per row.
    y : numpy.ndarray, shape (1797,)
        int64 labels 0..9.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target.astype(np.int64)


def load_digits_split(
    test_fraction: float = 0.3, seed: int = 0, dtype=torch.float32
) -> Split:
    """The digits data, shuffled with ``seed``, split, and standardized with
    training statistics.

    Pixels are centred and divided by their training standard deviation
    (constant pixels, which are always 0, keep a divisor of 1).

    Parameters
    ----------
    test_fraction : float
        Share of the 1797 images held out, in (0, 1).
    seed : int
        Seed of the shuffle.
    dtype : torch.dtype
        Dtype of the inputs.

    Returns
    -------
    Split
        The standardized training and test sets.
    """
    test_fraction = in_interval(
        test_fraction, "test_fraction", 0.0, 1.0, closed="neither"
    )
    X, y = load_digits_arrays()
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    n_test = int(round(test_fraction * len(y)))
    X_tr, X_te, y_tr, y_te = X[n_test:], X[:n_test], y[n_test:], y[:n_test]
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std[std == 0] = 1.0
    to_x = lambda a: torch.tensor((a - mean) / std, dtype=dtype)
    to_y = lambda a: torch.tensor(a, dtype=torch.int64)
    return Split(to_x(X_tr), to_y(y_tr), to_x(X_te), to_y(y_te))


def pool_digits(images) -> torch.Tensor:
    """Shrink 8×8 digit images to 4×4 by averaging each 2×2 block:
    (N, 64) -> (N, 16).

    Chapter 5 uses it to keep the Fisher matrix of softmax regression small
    (170 parameters instead of 650). Works on any float tensor of flattened 8×8
    images, standardized or not.

    Parameters
    ----------
    images : torch.Tensor, shape (N, 64)
        Flattened 8×8 images, float.

    Returns
    -------
    torch.Tensor, shape (N, 16)
        The pooled images.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(
            f"images must be a float tensor, got {type(images).__name__}"
        )
    if images.dim() != 2 or images.shape[1] != 64:
        raise ValueError(
            "images must have shape (N, 64) (flattened 8x8 images), got "
            f"{tuple(images.shape)}"
        )
    return torch.nn.functional.avg_pool2d(
        images.reshape(-1, 1, 8, 8), 2
    ).reshape(len(images), 16)
