"""The serving signatures: three ways in (float, uint8, encoded bytes), one network behind them.

Every signature checks its input inside the graph, so that a client of TF-Serving (which does not
check shapes against the SignatureDef) gets a readable message instead of an error from deep
inside the network. For the same reason the SignatureDefs declare dtypes only: a static
`[None, None, None, 3]` would let TensorFlow fold the rank check away while a server still feeds
whatever arrives.
"""

import tensorflow as tf

FLOAT_SIGNATURE = "serving_default"
UINT8_SIGNATURE = "serving_uint8"
BYTES_SIGNATURE = "serving_bytes"
KERAS_ENDPOINT = "serve"  # the name `keras.layers.TFSMLayer` calls by default

_IMAGES_SHAPE = "[batch, height, width, 3]"


def check_images(images, name="images"):
    """Asserts (at run time) rank 4 and 3 channels; returns `images` with that static shape."""
    shape = tf.shape(images)
    # `shape[-1:]` rather than `shape[-1]`: a scalar must reach the assert, not fail the slice.
    ok = tf.logical_and(tf.equal(tf.size(shape), 4), tf.reduce_all(tf.equal(shape[-1:], 3)))
    message = f"`{name}` must have shape {_IMAGES_SHAPE} (RGB). Received shape:"
    with tf.control_dependencies([tf.debugging.Assert(ok, [message, shape])]):
        images = tf.identity(images)
    return tf.ensure_shape(images, [None, None, None, 3])


def check_unit_range(images, name="images"):
    """Asserts float images lie in [0, 1]: 0-255 floats are the commonest client mistake."""
    low, high = tf.reduce_min(images), tf.reduce_max(images)
    ok = tf.logical_and(low >= 0.0, high <= 1.0)
    message = (
        f"float `{name}` must be in [0, 1] (send uint8 0-255 images to the "
        f"'{UINT8_SIGNATURE}' signature). Received min, max:"
    )
    with tf.control_dependencies([tf.debugging.Assert(ok, [message, low, high])]):
        return tf.identity(images)


def check_image_bytes(image_bytes, name="image_bytes"):
    """Asserts a 1-D batch of strings."""
    shape = tf.shape(image_bytes)
    message = f"`{name}` must be a 1-D batch of encoded images, shape [batch]. Received shape:"
    with tf.control_dependencies([tf.debugging.Assert(tf.equal(tf.size(shape), 1), [message, shape])]):
        image_bytes = tf.identity(image_bytes)
    return tf.ensure_shape(image_bytes, [None])


def decode_and_preprocess(image_bytes, preprocess, image_size):
    """Decodes each JPEG/PNG/GIF/BMP string to RGB and preprocesses it to the model's size.

    Images in one request may have different sizes, so each is decoded and resized on its own
    (a `tf.map_fn`: fine for serving, where decoding dominates) with the very function the
    batched signatures use, so the same pixels give the same embedding. GIFs give their first
    frame; grayscale and RGBA images are converted to RGB by the decoder.
    """

    def one(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return preprocess(tf.cast(image[None], tf.float32) / 255.0)[0]

    size = [image_size, image_size, 3] if image_size else [None, None, 3]
    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec(size, tf.float32))


def add_serving_endpoints(archive, network, preprocess, image_size):
    """Registers the float, uint8 and bytes signatures (plus `serve`) on an `ExportArchive`.

    Args:
        archive: a `keras.export.ExportArchive` that already tracks the network's layers.
        network: views (float32 [B, S, S, 3] in [0, 1], already preprocessed) -> dict of tensors.
        preprocess: float32 images [B, H, W, 3] in [0, 1] of any size -> views of the model's
            size; the same function serves all three signatures.
        image_size: the side S of the views, or None when it is not known statically.
    """

    def outputs(views):
        if image_size:
            views = tf.ensure_shape(views, [None, image_size, image_size, 3])
        return {k: tf.cast(v, tf.float32) for k, v in network(views).items()}

    def from_float(images):
        images = check_unit_range(check_images(images))
        return outputs(preprocess(images))

    def from_uint8(images):
        images = tf.cast(check_images(images), tf.float32) / 255.0
        return outputs(preprocess(images))

    def from_bytes(image_bytes):
        image_bytes = check_image_bytes(image_bytes)
        return outputs(decode_and_preprocess(image_bytes, preprocess, image_size))

    float_fn = archive.add_endpoint(
        FLOAT_SIGNATURE, from_float, [tf.TensorSpec(None, tf.float32, name="images")]
    )
    archive.add_endpoint(
        UINT8_SIGNATURE, from_uint8, [tf.TensorSpec(None, tf.uint8, name="images")]
    )
    archive.add_endpoint(
        BYTES_SIGNATURE, from_bytes, [tf.TensorSpec(None, tf.string, name="image_bytes")]
    )
    # The same traced function under Keras' default endpoint name, so `TFSMLayer(path)` works.
    float_fn.get_concrete_function()
    archive.add_endpoint(KERAS_ENDPOINT, float_fn)
