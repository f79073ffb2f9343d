"""One worker of the two-process MultiWorkerMirroredStrategy test (TF_CONFIG set by the test).

Trains the tiny deterministic model for a few steps on a fixed global batch and writes the loss
history and final weights to the .npz named on the command line.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(out_path, multi_worker, init_path):
    import keras

    from helpers.tiny import images_and_labels, tiny_model
    from simclr_tf.optimizers.lars import LARS

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if multi_worker else tf.distribute.get_strategy()
    images, _ = images_and_labels(16)
    with strategy.scope():
        model = tiny_model()
        model.build(images.shape)
        init = np.load(init_path)
        for i, var in enumerate(model.weights):
            var.assign(init[f"w{i}"])
        model.compile(optimizer=LARS(learning_rate=0.05, weight_decay=1e-4))
    ds = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    history = model.fit(ds, epochs=int(os.environ.get("MW_EPOCHS", "2")), verbose=0).history
    np.savez(out_path, loss=np.ravel(history["contrast_loss"]), **{f"w{i}": v.numpy() for i, v in enumerate(model.weights)})


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2] == "multi", sys.argv[3])
