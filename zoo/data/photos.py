"""Real RGB photographs that ship offline: what RGB models are evaluated, validated, calibrated and benchmarked on.

The photos are scikit-learn's sample images ``china.jpg`` and ``flower.jpg``
(CC BY 2.0, shipped inside scikit-learn, already a dependency). A crop takes a
random window of a random scale (at most :data:`MAX_SCALE` times the target
size) and resizes it with Pillow's antialiased bilinear filter, so a batch of
crops holds both fine texture and downscaled whole objects.
"""

from __future__ import annotations

import functools

import numpy as np

from zoo.data.images import scale_pixels

#: The photographs, by their file names in ``sklearn.datasets``.
PHOTOS = ("china.jpg", "flower.jpg")
#: Where they come from, for reports and metadata.
CREDIT = "scikit-learn sample images china.jpg and flower.jpg (CC BY 2.0)"
#: The full attribution, for cards.
CITATION = (
    "Photographs: scikit-learn's sample images (sklearn.datasets.load_sample_image), CC BY 2.0 "
    + "(https://creativecommons.org/licenses/by/2.0/): china.jpg by danielbuechele "
    + "(https://www.flickr.com/photos/danielbuechele/6061409035), flower.jpg from "
    + "https://www.flickr.com/photos/vultilion/6056698931 (scikit-learn's README credits danielbuechele), "
    + "retrieved by Robert Layton.")
#: Largest window, as a multiple of the crop size, that is scaled down into a crop.
MAX_SCALE = 3.0


@functools.cache
def sample_photographs() -> tuple[np.ndarray, ...]:
    """The photographs as uint8 ``(height, width, 3)`` arrays (read once)."""
    from sklearn.datasets import load_sample_image

    return tuple(np.asarray(load_sample_image(name), dtype=np.uint8) for name in PHOTOS)


def photo_crops(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` crops of the photographs, float32 in [0, 1], shape ``(n, height, width, 3)``.

    Args:
        n: How many crops (alternating between the photographs).
        size: ``(height, width)`` of each crop; at most the photographs' size (427x640).
        seed: Chooses the windows; the same seed gives the same crops.

    Example:
        >>> photo_crops(4, (64, 96)).shape
        (4, 64, 96, 3)
    """
    from PIL import Image

    h, w = (int(s) for s in size)
    photos = sample_photographs()
    if any(h > p.shape[0] or w > p.shape[1] for p in photos):
        raise ValueError(f"Photo crops are at most {min(p.shape[0] for p in photos)}x"
                         + f"{min(p.shape[1] for p in photos)}. Received: size={h}x{w}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, 3), np.float32)
    for i in range(n):
        photo = photos[i % len(photos)]
        scale = rng.uniform(1.0, min(MAX_SCALE, photo.shape[0] / h, photo.shape[1] / w))
        ch, cw = min(photo.shape[0], round(h * scale)), min(photo.shape[1], round(w * scale))
        y, x = rng.integers(0, photo.shape[0] - ch + 1), rng.integers(0, photo.shape[1] - cw + 1)
        window = Image.fromarray(photo[y:y + ch, x:x + cw])
        out[i] = scale_pixels(np.asarray(window.resize((w, h), Image.BILINEAR), np.uint8))
    return out
