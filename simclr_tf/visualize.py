"""Pictures: the contrastive task (each image beside pairs of its augmented views, with column
titles, enlarged to a readable size) and what the encoder learned (query images beside their
nearest neighbours in feature space, which needs no labels)."""

import io

import numpy as np
import tensorflow as tf

from simclr_tf.augment import base
from simclr_tf.augment import resize_ops
from simclr_tf.data.types import num_images, take


def visualize_views(images, augment, path, num_pairs=3, padding=6, tile_size=96):
    """Writes a PNG grid: one row per image, the original then `num_pairs` pairs of views.

    Each pair is what SimCLR asks the encoder to match: two independent calls of `augment` on
    the same image. Columns carry titles ("original", then "view 1" / "view 2" of each pair);
    pairs are separated by a wider gap than the two views of a pair. The original is shown
    whole (its centred square), resized to the views' size. Small images are enlarged by an
    integer factor with nearest-neighbour sampling (every pixel a sharp block) until a tile is
    at least `tile_size` pixels, so that 28-px views are readable. Needs matplotlib (for the
    titles); `path` may be any `tf.io.gfile` path.

    Args:
        images: (B, H, W, C) or (H, W, C), uint8 0-255 or float 0-1, C in {1, 3}, or a canvas
            `{"image", "image_size"}` of images of several sizes. Keep B small (a row per image).
        augment: called as `augment(images, training=True)`, returns float views in [0, 1] of
            shape (B, S, S, 3): `simclr_tf.SimCLRAugment` or one of its stages.
        path: where to write the PNG.
        num_pairs: int >= 1, pairs of views per image.
        padding: int >= 0, pixels of white between views (twice that between pairs).
        tile_size: int >= 1, the smallest side of a tile in the PNG (views of S px are enlarged
            by ceil(tile_size / S)).

    Returns:
        The PNG's pixels as a uint8 numpy array (rows, columns, 3).

    Example:

    ```python
    augment = simclr_tf.SimCLRAugment.cifar(seed=0)
    simclr_tf.visualize_views(images[:8], augment, "views.png")
    ```
    """
    fig = views_figure(images, augment, num_pairs, padding, tile_size)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    plt.close(fig)
    png = buffer.getvalue()
    with tf.io.gfile.GFile(str(path), "wb") as f:
        f.write(png)
    return tf.io.decode_png(png, channels=3).numpy()


_DPI = 100
_TITLE_PX = 40  # the band above the first row that holds the column titles


def views_figure(images, augment, num_pairs=3, padding=6, tile_size=96):
    """The matplotlib figure that `visualize_views` writes (same arguments); each tile is an
    axes of exactly its size in pixels at 100 dpi, the first row's axes carry the titles."""
    for name, value, low in (("num_pairs", num_pairs, 1), ("padding", padding, 0), ("tile_size", tile_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"`{name}` must be an int >= {low}. Received: {name}={value!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    originals, sizes, _ = base.prepare_inputs(images, accepts_canvas=True)
    inputs = originals if sizes is None else {"image": originals, "image_size": sizes}
    views = []
    for _ in range(num_pairs):
        views.append((augment(inputs, training=True), augment(inputs, training=True)))
    size = views[0][0].shape[1]
    originals = resize_ops.center_crop_and_resize(originals, size, 1.0, "bilinear", sizes)
    scale = -(-tile_size // size)
    tile = size * scale

    # Columns: original, then each pair (a double gap before it, a single one inside it).
    columns, x = [], padding
    for c in range(1 + 2 * num_pairs):
        if c and c % 2:
            x += padding  # the extra gap before a pair
        columns.append(x)
        x += tile + padding
    width, rows = x, originals.shape[0]
    height = _TITLE_PX + rows * (tile + padding)
    titles = ["original"] + [f"pair {p + 1}\nview {v + 1}" for p in range(num_pairs) for v in range(2)]

    fig = plt.figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    for b in range(rows):
        cells = [originals[b]] + [pair[v][b] for pair in views for v in range(2)]
        top = _TITLE_PX + b * (tile + padding)
        for c, (cell, left) in enumerate(zip(cells, columns)):
            ax = fig.add_axes([left / width, 1 - (top + tile) / height, tile / width, tile / height])
            pixels = np.clip(np.asarray(cell, np.float32), 0.0, 1.0)
            pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
            ax.imshow(pixels, interpolation="nearest")
            ax.set_axis_off()
            if b == 0:
                ax.set_title(titles[c], fontsize=9, linespacing=1.1)
    return fig


_CAPTION_PX = 16  # the band above each tile that holds its caption


def visualize_retrieval(images, features, path, num_queries=6, num_neighbours=5, padding=6,
                        tile_size=96):
    """Writes a PNG of nearest neighbours: one row per query, the query image then its
    `num_neighbours` nearest neighbours among `images`, nearest first.

    Similarity is the cosine of `features` (as the kNN evaluation); a query is never its own
    neighbour (an identical copy elsewhere in `images` can be). The queries are the first
    `num_queries` images, so pass a random sample. Each image is shown whole, its aspect kept,
    scaled to fit a `tile_size` square; each neighbour's caption is its cosine similarity. Needs
    matplotlib; `path` may be any `tf.io.gfile` path.

    Args:
        images: (N, H, W, C) uint8 0-255 or float 0-1, C in {1, 3}, or a canvas dict of arrays
            `{"image", "image_size"}` (`simclr_tf.data.sample_images` gives either).
        features: (N, D) features of the same images (`simclr_tf.evaluation.extract_features`).
        path: where to write the PNG.
        num_queries: int >= 1 (at most N are used).
        num_neighbours: int >= 1 (at most N - 1 are shown).
        padding, tile_size: pixels of white between tiles, and the tile side.

    Returns:
        `(neighbours, similarities)`: (Q, K) int indices into `images` and their cosine
        similarities to the Q queries, nearest first.
    """
    for name, value, low in (("num_queries", num_queries, 1), ("num_neighbours", num_neighbours, 1),
                             ("padding", padding, 0), ("tile_size", tile_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"`{name}` must be an int >= {low}. Received: {name}={value!r}")
    features = np.asarray(features, np.float64)
    n = num_images(images)
    if features.ndim != 2 or len(features) != n or n < 2:
        raise ValueError(
            "`features` must be (N, D) for the N >= 2 images. "
            f"Received: features of shape {features.shape} for {n} images"
        )
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    queries = min(num_queries, n)
    k = min(num_neighbours, n - 1)
    similarity = unit[:queries] @ unit.T
    similarity[np.arange(queries), np.arange(queries)] = -np.inf  # not its own neighbour
    neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(similarity, neighbours, axis=1)
    # Only the shown images become float (a sample of canvases as float32 would not fit).
    shown = np.unique(np.concatenate([np.arange(queries), neighbours.ravel()]))
    originals, sizes, _ = base.prepare_inputs(take(images, shown), accepts_canvas=True)
    slot = {int(index): i for i, index in enumerate(shown)}

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = padding + (1 + k) * (tile_size + padding) + padding  # a double gap after the query
    height = padding + queries * (_CAPTION_PX + tile_size + padding)
    fig = plt.figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    for q in range(queries):
        top = padding + q * (_CAPTION_PX + tile_size + padding) + _CAPTION_PX
        row = [(q, "query")] + [(int(j), f"{s:.2f}") for j, s in zip(neighbours[q], scores[q])]
        for c, (index, caption) in enumerate(row):
            left = padding + c * (tile_size + padding) + (padding if c else 0)
            ax = fig.add_axes([left / width, 1 - (top + tile_size) / height, tile_size / width,
                               tile_size / height])
            i = slot[index]
            ax.imshow(_fit_tile(originals[i], None if sizes is None else sizes[i], tile_size),
                      interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(caption, fontsize=8, pad=2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    plt.close(fig)
    with tf.io.gfile.GFile(str(path), "wb") as f:
        f.write(buffer.getvalue())
    return neighbours, scores


def _fit_tile(image, size, tile_size):
    """One image (its valid `size` corner of a canvas) scaled to fit a white square tile."""
    if size is not None:
        h, w = (int(v) for v in np.asarray(size))
        image = image[:h, :w]
    h, w = int(image.shape[0]), int(image.shape[1])
    scale = tile_size / max(h, w)
    fit = (max(1, round(h * scale)), max(1, round(w * scale)))
    pixels = tf.image.resize(image, fit, method="area" if scale < 1 else "nearest").numpy()
    tile = np.ones((tile_size, tile_size, 3), np.float32)
    top, left = (tile_size - fit[0]) // 2, (tile_size - fit[1]) // 2
    tile[top:top + fit[0], left:left + fit[1]] = np.clip(pixels, 0.0, 1.0)
    return tile
