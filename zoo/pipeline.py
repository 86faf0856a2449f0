"""The input pipeline of backends without ``tf.data`` (JAX, PyTorch): a seeded ``keras.utils.PyDataset``."""

from __future__ import annotations

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Seeded, reshuffled-every-epoch float32 batches from an in-memory (``uint8`` or float) array.

    The input pipeline of backends without ``tf.data``: a ``keras.utils.PyDataset``.

    Args:
        x: Examples, ``uint8`` (scaled by 1/255 per batch) or float32 in [0, 1].
        batch_size: Examples per batch (the last one may be smaller).
        shuffle: Reshuffle the order every epoch.
        seed: Seeds the order: epoch ``e`` uses ``default_rng([seed, e])``.
    """

    def __init__(self, x: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.x, self.batch_size, self.shuffle, self.seed = x, int(batch_size), shuffle, seed
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray:
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        batch = self.x[rows]
        return batch.astype(np.float32) / 255.0 if batch.dtype == np.uint8 else batch

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
