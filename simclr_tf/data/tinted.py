"""`tinted_fashion_mnist`: the embedded Fashion-MNIST garments in random colours, offline.

Why this dataset: the study's proxy must have colour as a nuisance that two crops of one image
share (the shortcut the paper's colour distortion removes, Section 3.1 and Table 1), objects that
fill the frame (so two random crops of area 0.08 to 1 still see one object: in `colour_shapes`
one shape covers at most a third of the image and most crop pairs share only background), and a
class that a linear model on raw pixels does not already solve. Fashion-MNIST's garments fill
the frame; here each is painted in a random colour on a random coloured background, both drawn
independently of the class, so the colour histogram says almost nothing about the garment.

Each image: the garment's grey level g in [0, 1] blends a background colour (a linear gradient
between two random colours in a random direction) into a foreground colour, `(1 - g) * bg + g
* fg`, so the garment keeps its texture; then pixel noise (sd 0.03). Foreground hues are uniform
with saturation and value in [0.5, 1]; background hues uniform with saturation [0, 0.7] and value
[0.1, 0.9]. Deterministic: split "train" (the embedded subset's 10,000 training images) with
seed 0, "test" (its 2,000 test images) with seed 1; 28 x 28 RGB, classes as Fashion-MNIST's.
"""

import functools

import numpy as np

from simclr_tf.data.arrays import array_source
from simclr_tf.data.embedded import EMBEDDED_CLASS_NAMES, load_embedded_arrays
from simclr_tf.data.shapes import hsv_to_rgb

TINTED_NAME = "tinted_fashion_mnist"
TINTED_SPLITS = {"train": 0, "test": 1}


@functools.lru_cache(maxsize=2)
def _generate(split):
    grey, labels = load_embedded_arrays(split)
    num, size = len(grey), grey.shape[1]
    rng = np.random.default_rng(TINTED_SPLITS[split])
    fg = hsv_to_rgb(rng.random(num), rng.uniform(0.5, 1.0, num), rng.uniform(0.5, 1.0, num))
    bg = hsv_to_rgb(rng.random(num), rng.uniform(0.0, 0.7, num), rng.uniform(0.1, 0.9, num))
    bg2 = hsv_to_rgb(rng.random(num), rng.uniform(0.0, 0.7, num), rng.uniform(0.1, 0.9, num))
    angle = rng.uniform(0.0, 2 * np.pi, num)
    grid = (np.arange(size) + 0.5) / size - 0.5  # pixel centres, centred on the image
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    ramp = np.clip(np.cos(angle)[:, None, None] * gx + np.sin(angle)[:, None, None] * gy + 0.5,
                   0.0, 1.0)[..., None]
    background = (1 - ramp) * bg[:, None, None] + ramp * bg2[:, None, None]
    g = grey.astype(np.float32) / 255.0  # (N, S, S, 1)
    images = (1 - g) * background + g * fg[:, None, None]
    images = images + rng.normal(0.0, 0.03, images.shape)
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8), labels.astype(np.int32)


def load_tinted_arrays(split="train"):
    """`(images, labels)`: uint8 (N, 28, 28, 3) and int32 (N,), fresh copies, deterministic."""
    if split not in TINTED_SPLITS:
        raise ValueError(
            f"`split` must be one of {list(TINTED_SPLITS)} for {TINTED_NAME}. "
            f"Received: split={split!r}"
        )
    images, labels = _generate(split)
    return images.copy(), labels.copy()


def tinted_source(split, image_size=None, *, labeled=True, channels=None, input_context=None):
    """The `Source` of `tinted_fashion_mnist` for `simclr_tf.data.get_dataset`."""
    images, labels = load_tinted_arrays(split)
    return array_source(images, labels, name=TINTED_NAME, split=split,
                        class_names=EMBEDDED_CLASS_NAMES, image_size=image_size, labeled=labeled,
                        channels=channels, input_context=input_context)
