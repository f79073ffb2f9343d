"""The retrieval grid (`simclr_tf.visualize.visualize_retrieval`): the right neighbours, drawn in
the right tiles. (`visualize_views` is tested with the augmentation layers.)"""

import numpy as np
import pytest
import tensorflow as tf

from simclr_tf.visualize import visualize_retrieval

# Directions at these angles (degrees), at different lengths: cosine similarity ignores length.
ANGLES = np.array([0, 10, 25, 100, 110, 200])
LENGTHS = np.array([[1], [5], [0.2], [3], [1], [2]])
FEATURES = np.stack([np.cos(np.radians(ANGLES)), np.sin(np.radians(ANGLES))], 1) * LENGTHS
SHADES = [20, 60, 100, 140, 180, 220]  # image i is uniformly SHADES[i]


def canvas():
    """Six uniform images of several sizes in a 40 px canvas; image 2 is tall and thin."""
    sizes = np.array([[40, 40], [30, 20], [40, 10], [12, 36], [25, 25], [8, 8]], np.int32)
    images = np.zeros((6, 40, 40, 3), np.uint8)
    for i, (h, w) in enumerate(sizes):
        images[i, :h, :w] = SHADES[i]
    return {"image": images, "image_size": sizes}


def tile_centre(pixels, row, column, tile=96, padding=6, caption=16):
    top = padding + row * (caption + tile + padding) + caption
    left = padding + column * (tile + padding) + (padding if column else 0)
    return top + tile // 2, left + tile // 2


def test_neighbours_by_cosine_without_the_query_itself(tmp_path):
    path = str(tmp_path / "grid.png")
    neighbours, similarities = visualize_retrieval(canvas(), FEATURES, path, num_queries=4,
                                                   num_neighbours=3)
    # By angle from each query: 0 -> 10, 25, 100; 10 -> 0, 25, 100; 25 -> 10, 0, 100;
    # 100 -> 110, 25, 10 (10, 75 and 90 degrees away).
    np.testing.assert_array_equal(neighbours, [[1, 2, 3], [0, 2, 3], [1, 0, 3], [4, 2, 1]])
    np.testing.assert_allclose(similarities[3], np.cos(np.radians([10, 75, 90])), atol=1e-12)
    np.testing.assert_allclose(similarities[0], np.cos(np.radians([10, 25, 100])), atol=1e-12)
    pixels = tf.io.decode_png(tf.io.read_file(path), channels=3).numpy().astype(int)
    assert pixels.shape == (6 + 4 * (16 + 96 + 6), 6 + 4 * (96 + 6) + 6, 3)
    # Each tile shows its image: the query in column 0, then its neighbours, nearest first.
    for q in range(4):
        for c, index in enumerate([q, *neighbours[q]]):
            y, x = tile_centre(pixels, q, c)
            np.testing.assert_allclose(pixels[y, x], [SHADES[index]] * 3, atol=2)
    # Image 2 (40 x 10) keeps its aspect: a 96 x 24 strip, white beside it.
    y, x = tile_centre(pixels, 2, 0)
    np.testing.assert_allclose(pixels[y, x - 11], [SHADES[2]] * 3, atol=2)
    np.testing.assert_array_equal(pixels[y, x - 14], [255, 255, 255])


def test_small_sets_and_bad_input(tmp_path):
    path = str(tmp_path / "grid.png")
    images = np.full((3, 8, 8, 1), 100, np.uint8)  # grayscale, one size
    neighbours, _ = visualize_retrieval(images, FEATURES[:3], path, num_queries=6, num_neighbours=5)
    assert neighbours.shape == (3, 2)  # at most N queries and N - 1 neighbours
    with pytest.raises(ValueError, match=r"`features` must be \(N, D\).*\(2, 2\) for 3 images"):
        visualize_retrieval(images, FEATURES[:2], path)
    with pytest.raises(ValueError, match="num_neighbours=0"):
        visualize_retrieval(images, FEATURES[:3], path, num_neighbours=0)
