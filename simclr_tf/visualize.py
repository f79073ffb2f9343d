"""A picture of the contrastive task: each image beside pairs of its augmented views."""

import numpy as np
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops


def visualize_views(images, augment, path, num_pairs=3, padding=2):
    """Writes a PNG grid: one row per image, the original then `num_pairs` pairs of views.

    Each pair is what SimCLR asks the encoder to match: two independent calls of `augment` on
    the same image. Pairs are separated by a wider gap than the two views of a pair. The
    original is shown whole (its centred square), resized to the views' size. PNG encoding uses
    `tf.io.encode_png`, so no plotting library is needed.

    Args:
        images: (B, H, W, C) or (H, W, C), uint8 0-255 or float 0-1, C in {1, 3}, or a canvas
            `{"image", "image_size"}` of images of several sizes. Keep B small (a row per image).
        augment: called as `augment(images, training=True)`, returns float views in [0, 1] of
            shape (B, S, S, 3): `simclr_tf.SimCLRAugment` or one of its stages.
        path: where to write the PNG (any path `tf.io.write_file` accepts).
        num_pairs: int >= 1, pairs of views per image.
        padding: int >= 0, pixels of white between views (twice that between pairs).

    Returns:
        The grid as a uint8 numpy array (rows, columns, 3).

    Example:

    ```python
    augment = simclr_tf.SimCLRAugment.cifar(seed=0)
    simclr_tf.visualize_views(images[:8], augment, "views.png")
    ```
    """
    if isinstance(num_pairs, bool) or not isinstance(num_pairs, int) or num_pairs < 1:
        raise ValueError(f"`num_pairs` must be an int >= 1. Received: num_pairs={num_pairs!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"`padding` must be an int >= 0. Received: padding={padding!r}")
    originals, sizes, _ = base.prepare_inputs(images, accepts_canvas=True)
    inputs = originals if sizes is None else {"image": originals, "image_size": sizes}
    views = []
    for _ in range(num_pairs):
        views.append((augment(inputs, training=True), augment(inputs, training=True)))
    size = views[0][0].shape[1]
    originals = resize_ops.center_crop_and_resize(originals, size, 1.0, "bilinear", sizes)

    gap = np.ones((size, padding, 3), np.float32)
    wide_gap = np.ones((size, 2 * padding, 3), np.float32)
    rows = []
    for b in range(originals.shape[0]):
        cells = [originals[b].numpy()]
        for first, second in views:
            cells += [wide_gap, np.asarray(first[b]), gap, np.asarray(second[b])]
        rows.append(np.concatenate(cells, axis=1))
        rows.append(np.ones((padding, rows[-1].shape[1], 3), np.float32))
    grid = np.concatenate(rows[:-1], axis=0)
    grid = np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)
    tf.io.write_file(path, tf.io.encode_png(grid))
    return grid
