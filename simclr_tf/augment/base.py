"""Shared machinery of the augmentation layers: input checks, seeds, per-image random draws.

Every layer in `simclr_tf.augment` splits randomness from the transform, like Keras'
image preprocessing layers: `get_random_transformation(images, training, seed)` returns a dict of
per-image parameters, `transform_images(images, transformation, training)` applies it. Tests
inject the dict to check a transform deterministically.

Randomness is stateless: each call draws one seed from the layer's `keras.random.SeedGenerator`
(a variable advanced once per call, so two calls give two different views) and every random
quantity comes from `tf.random.stateless_uniform` on a seed split from it. Two facts measured
with TensorFlow 2.21 shape the details:

- Stateless *float* draws differ between a TensorFlow kernel and an XLA-compiled function for the
  same seed, while *integer* draws agree, as long as the seed is non-negative. Uniform floats are
  therefore built from 24-bit integer draws on seeds with the sign bit cleared, so one seed gives
  the same views eagerly, in `tf.function` and under `jit_compile=True`.
- Under `tf.distribute.MirroredStrategy` the generator's state, created in the strategy scope, is
  a `MirroredVariable`: every replica reads the same state, so without care all replicas would
  draw identical parameters for their slices of the batch. The replica id is folded into the seed
  (`replica_id_in_sync_group`, 0 outside a strategy), so replicas draw independently. A layer
  created outside the scope holds a plain variable that the replicas race on; create it inside.
- Inside `tf.data.Dataset.map` the generator works (the dataset function updates its variable),
  but parallel calls (`num_parallel_calls`) race on it: measured, 300 parallel calls advanced the
  state 299 times and repeated 4 draws. Passing `seed=` to the call (e.g. built from
  `Dataset.enumerate()`) makes such pipelines stateless and reproducible.
"""

import numbers

import keras
import tensorflow as tf

_UNIFORM_BITS = 24  # float32 has a 24-bit significand: k / 2**24 is exact for k < 2**24.


def prepare_images(images, name="images"):
    """Converts a batch (or one image) to float32 RGB in [0, 1] and checks it.

    Integer images are read on the 0-255 scale (uint8 as decoded by `tf.io.decode_image`),
    floating images on 0-1. One channel is tiled to three.

    Returns:
        `(batch, unbatched)`: a float32 tensor of shape (B, H, W, 3), and whether the input was a
        single image (rank 3), so that the caller can drop the batch axis again.
    """
    images = tf.convert_to_tensor(images)
    dtype = images.dtype
    if not (dtype.is_integer or dtype.is_floating):
        raise ValueError(
            f"`{name}` must hold numbers (uint8 0-255 or float 0-1). "
            f"Received: {name}.dtype={dtype.name}"
        )
    rank = images.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            f"`{name}` must have rank 3 (H, W, C) or 4 (B, H, W, C). "
            f"Received: {name}.shape={images.shape}"
        )
    channels = images.shape[-1]
    if channels not in (1, 3):
        raise ValueError(
            f"`{name}` must have 1 or 3 channels (last axis). Received: {name}.shape={images.shape}"
        )
    unbatched = rank == 3
    if unbatched:
        images = images[None]
    if dtype.is_integer:
        images = tf.cast(images, tf.float32) / 255.0
    else:
        images = tf.cast(images, tf.float32)
    if channels == 1:
        images = tf.tile(images, [1, 1, 1, 3])
    return images, unbatched


CANVAS_KEYS = ("image", "image_size")


def prepare_inputs(inputs, accepts_canvas, name="images"):
    """`prepare_images` for a batch of equal-size images or a canvas dict.

    A canvas is `{"image": canvas, "image_size": sizes}`: `canvas` (B, H, W, C) holds image b in
    its top-left `sizes[b] = (height, width)` corner, padding after it (what `simclr_tf.data`
    yields for images of several sizes). Other keys (a label) are ignored, so a dataset element
    can be passed as it is; a dict without "image_size" is a plain batch.

    Returns:
        `(images, sizes, unbatched)`: images as `prepare_images`, sizes (B, 2) float32 clipped
        to the canvas (so a wrong size cannot read outside it), or None for a plain batch.
    """
    if not isinstance(inputs, dict):
        images, unbatched = prepare_images(inputs, name)
        return images, None, unbatched
    if "image" not in inputs:
        raise ValueError(
            f"A dict of `{name}` must have an 'image' key (and 'image_size' for a canvas of "
            f"images of several sizes). Received keys: {sorted(inputs)}"
        )
    images, unbatched = prepare_images(inputs["image"], name)
    sizes = inputs.get("image_size")
    if sizes is None:
        return images, None, unbatched
    if not accepts_canvas:
        raise ValueError(
            "This layer takes images of one size: crop a canvas first (`RandomResizedCrop`, "
            "`CenterCropResize` or `SimCLRAugment` take `{'image': canvas, 'image_size': "
            "sizes}`). Received keys: " + str(sorted(inputs))
        )
    sizes = tf.convert_to_tensor(sizes)
    if unbatched:
        sizes = sizes[None]
    if sizes.shape.rank != 2 or sizes.shape[-1] != 2:
        raise ValueError(
            "`image_size` of a canvas must be (batch, 2): each image's (height, width). "
            f"Received: image_size.shape={sizes.shape}"
        )
    shape = tf.cast(tf.shape(images)[1:3], tf.float32)
    sizes = tf.clip_by_value(tf.cast(sizes, tf.float32), 1.0, shape)
    return images, sizes, unbatched


def image_inputs(data):
    """The image part of a dict element: the canvas `{"image", "image_size"}` when it has sizes,
    else the image batch; anything else as it is (models' `call` and `_unpack` use this)."""
    if not isinstance(data, dict):
        return data
    if "image" not in data:
        raise ValueError(
            "A dict batch must have an 'image' key (tfds style {'image', 'label'}, or a canvas "
            f"{{'image', 'image_size'}}). Received keys: {sorted(data)}"
        )
    if "image_size" in data:
        return {"image": data["image"], "image_size": data["image_size"]}
    return data["image"]


def output_image_shape(input_shape, image_size=None):
    """A layer's output shape for `input_shape`, an image batch's shape or a canvas's dict of
    shapes: the images with 3 channels, as `image_size` squares when it is given (the layers
    that crop and resize)."""
    if isinstance(input_shape, dict):
        input_shape = input_shape["image"]
    if image_size is None:
        return tuple(input_shape[:-1]) + (3,)
    return tuple(input_shape[:-3]) + (image_size, image_size, 3)


def per_image(values):
    """(B,) -> (B, 1, 1, 1), to broadcast one value per image over its pixels."""
    return values[:, None, None, None]


def _non_negative(seed):
    # TensorFlow's kernels and XLA read a negative int32 seed differently (measured: 11 of 20
    # random seeds gave other numbers under XLA); with the sign bit cleared they agree.
    return tf.bitwise.bitwise_and(seed, 0x7FFFFFFF)


def split_seed(seed, num):
    """`num` independent (2,) int32 seeds from one."""
    seeds = _non_negative(tf.random.experimental.stateless_split(seed, num))
    return tf.unstack(seeds, num=num)


def uniform(seed, shape, minval=0.0, maxval=1.0):
    """Uniform float32 in [minval, maxval), identical in eager, tf.function and XLA."""
    bits = tf.random.stateless_uniform(
        shape, seed=seed, minval=0, maxval=2**_UNIFORM_BITS, dtype=tf.int32
    )
    unit = tf.cast(bits, tf.float32) * (2.0**-_UNIFORM_BITS)
    return minval + (maxval - minval) * unit


def bernoulli(seed, batch_size, probability):
    """(B,) bool, each True with `probability`."""
    return uniform(seed, [batch_size]) < probability


def check_probability(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}")
    return float(value)


def check_range(name, value, low=None, high=None):
    """A (min, max) pair with min <= max, optionally within [low, high]."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a pair (min, max). Received: {name}={value!r}"
        ) from None
    if lo > hi or (low is not None and lo < low) or (high is not None and hi > high):
        bounds = f" within [{low}, {high}]" if low is not None or high is not None else ""
        raise ValueError(
            f"`{name}` must be a pair (min, max) with min <= max{bounds}. "
            f"Received: {name}={value!r}"
        )
    return (lo, hi)


def check_image_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise ValueError(
            f"`image_size` must be a positive int. Received: image_size={image_size!r}"
        )
    return image_size


class BaseAugmentation(keras.layers.Layer):
    """Base of the augmentation layers: seeds, input conversion and the train/eval dispatch.

    Subclasses implement `get_random_transformation(images, training=True, seed=None)` and
    `transform_images(images, transformation, training=True)` on float32 (B, H, W, 3) batches.

    Args:
        seed: int or None. Initial state of the layer's `keras.random.SeedGenerator`; the same
            seed gives the same sequence of views.
        **kwargs: passed to `keras.layers.Layer` (e.g. `name`).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        # Images arrive as uint8 or float; this layer converts them itself (no autocasting).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        # No weights to build: the only state is the seed generator, made here.
        self.built = True
        # === Config ===
        self.seed = seed
        # === State ===
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw_seed(self, seed=None):
        """A (2,) int32 seed: `seed` as given, else the generator's next one with the replica id
        folded in (see the module docstring)."""
        if seed is not None:
            return _non_negative(tf.cast(tf.convert_to_tensor(seed), tf.int32))
        seed = self.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        context = tf.distribute.get_replica_context()
        replica_id = 0 if context is None else context.replica_id_in_sync_group
        return _non_negative(tf.random.experimental.stateless_fold_in(seed, replica_id))

    # Layers that crop take a canvas (`prepare_inputs`) and get its sizes as `sizes=`.
    accepts_canvas = False

    def call(self, images, training=True, seed=None):
        """Augments `images`; `seed` ((2,) ints, optional) replaces the generator's next seed:
        the stateless path for parallel `tf.data` maps, where calls would race on the state."""
        images, sizes, unbatched = prepare_inputs(images, self.accepts_canvas)
        extra = {"sizes": sizes} if self.accepts_canvas else {}
        transformation = self.get_random_transformation(
            images, training=training, seed=seed, **extra
        )
        images = self.transform_images(images, transformation, training=training, **extra)
        return images[0] if unbatched else images

    def get_random_transformation(self, images, training=True, seed=None):
        raise NotImplementedError

    def transform_images(self, images, transformation, training=True):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return output_image_shape(input_shape)

    def save_own_variables(self, store):
        """Saves the seed generator's state too (Keras leaves it out of `weights`), so a model
        saved or checkpointed mid-training resumes with the same sequence of views."""
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_generator_state" in store:
            self.seed_generator.state.assign(store["seed_generator_state"])
        # Files written before the seed state was saved hold only the (empty) base variables.
        rest = {k: store[k] for k in store.keys() if k != "seed_generator_state"}
        super().load_own_variables(rest)

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
