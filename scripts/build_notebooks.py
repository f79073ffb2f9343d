"""Builds the Colab notebooks in colab/ from the cell sources below (the source of truth).

    python scripts/build_notebooks.py           # (re)write colab/*.ipynb, outputs cleared
    python scripts/build_notebooks.py --check   # exit 1 if a committed notebook differs

Edit the cells here, not in the .ipynb files: `tests/test_notebooks.py` checks that the
committed notebooks are exactly what this script writes. Cell ids are fixed names, so a rebuild
of unchanged cells is byte-identical. Every notebook has a cell tagged `parameters`
(papermill's convention); the tests insert their smoke settings after it and run the notebooks
top to bottom on CPU.
"""

import argparse
import os
import sys
import textwrap

import nbformat
from nbformat import v4

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB_DIR = os.path.join(ROOT, "colab")
# Placeholder organisation until the repository is published (colab/README.md says so).
REPO = "simclr-tf/simclr_tf"
PACKAGE_URL = f"git+https://github.com/{REPO}"


def colab_url(name):
    return f"https://colab.research.google.com/github/{REPO}/blob/main/colab/{name}"


def badge(name):
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(name)})"
    )


def md(cell_id, text):
    return v4.new_markdown_cell(textwrap.dedent(text).strip("\n"), id=cell_id)


def code(cell_id, text, tags=()):
    metadata = {"tags": list(tags)} if tags else {}
    return v4.new_code_cell(textwrap.dedent(text).strip("\n"), id=cell_id, metadata=metadata)


def notebook(cells, accelerator=None):
    metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    if accelerator:
        metadata["accelerator"] = accelerator
    nb = v4.new_notebook(cells=cells, metadata=metadata)
    nbformat.validate(nb)
    return nb


# === Cells shared by the three notebooks ===========================================================

INSTALL = f'''
# Installs simclr_tf with the TensorFlow build that fits this runtime; skipped when it is
# already importable (a local Jupyter, or a second run). Colab's TPU runtimes (TPU VMs) no longer
# ship TensorFlow: the `tpu` extra brings tensorflow-tpu, and libtpu comes from Google's index.
# GPU and CPU runtimes keep the TensorFlow that Colab preinstalls.
import glob, importlib.util, os, shutil, subprocess, sys

if importlib.util.find_spec("simclr_tf") is None:
    tpu_vm = bool(os.environ.get("TPU_ACCELERATOR_TYPE") or glob.glob("/dev/accel*")
                  or glob.glob("/dev/vfio/[0-9]*"))
    if tpu_vm:
        extra = "[tpu]"
    elif importlib.util.find_spec("tensorflow") is not None:
        extra = ""
    else:
        extra = "[gpu]" if shutil.which("nvidia-smi") else "[cpu]"
    command = [sys.executable, "-m", "pip", "install", "-q", f"simclr_tf{{extra}} @ {{PACKAGE_URL}}"]
    if tpu_vm:
        command += ["-f", "https://storage.googleapis.com/libtpu-releases/index.html"]
    print(" ".join(command))
    subprocess.run(command, check=True)
'''

MOUNT_DRIVE = '''
# A work directory in Google Drive survives the end of the Colab runtime.
if MOUNT_DRIVE:
    from google.colab import drive

    drive.mount("/content/drive")
'''

PACKAGE_PARAMETER = f'PACKAGE_URL = "{PACKAGE_URL}"  # @param {{type:"string"}} where pip gets simclr_tf'


# === pretrain_tpu.ipynb ============================================================================

def pretrain_notebook():
    name = "pretrain_tpu.ipynb"
    cells = [
        md("intro", f"""
            # SimCLR pretraining on a free Colab TPU

            {badge(name)}

            Pretrains a SimCLR ResNet (Chen et al. 2020, [arXiv:2002.05709](https://arxiv.org/abs/2002.05709))
            on CIFAR-10 with `simclr_tf`: the strategy from `simclr_tf.get_strategy()` (a TPU when
            the runtime has one, else a GPU or the CPU), bfloat16 mixed precision on TPU, live
            TensorBoard, resumable checkpoints and the exported encoder.

            **Runtime > Change runtime type > TPU** (Colab's TPU runtimes are TPU VMs; a GPU or CPU
            runtime works too, slower). Everything goes to `WORKDIR`:

            | path | what | read by |
            |---|---|---|
            | `checkpoints/ckpt-EEEEEE/` | weights, optimiser and augmentation state; re-running resumes | this notebook |
            | `tensorboard/`, `history.csv`, `training_curves.png` | the training curves | |
            | `simclr.keras` | the whole SimCLR model (Keras format) | `linear_eval.ipynb` |
            | `export/encoder/1/` | the encoder as a SavedModel (TF-Serving layout) | `linear_eval.ipynb`, `inference.ipynb` |

            The defaults are the reference's CIFAR-10 ResNet-18 recipe (batch 512, LARS 1.0 x B/256,
            temperature 0.5, colour strength 0.5, no blur) for 100 epochs, not its 1000.
            """),
        md("parameters-title", "## Parameters"),
        code("parameters", f'''
            # Where everything goes. With MOUNT_DRIVE = True, use a Drive folder, e.g.
            # "/content/drive/MyDrive/simclr_cifar10", so a disconnected runtime can resume.
            WORKDIR = "/content/simclr_cifar10"  # @param {{type:"string"}}
            MOUNT_DRIVE = False  # @param {{type:"boolean"}}
            # Data: a tfds name (prepared on first use when DOWNLOAD), or "embedded_fashion_mnist"
            # (shipped with simclr_tf, offline).
            DATASET = "cifar10"  # @param {{type:"string"}}
            TRAIN_SPLIT = "train"  # @param {{type:"string"}}
            EVAL_SPLIT = "test"  # @param {{type:"string"}} kNN monitor queries
            DOWNLOAD = True  # @param {{type:"boolean"}}
            CACHE = True  # @param {{type:"boolean"}} keep the decoded images in memory
            IMAGE_SIZE = 32  # @param {{type:"integer"}}
            # Model: ResNet depth 18, 34, 50, ...; the CIFAR stem for images of 32 px or less.
            DEPTH = 18  # @param {{type:"integer"}}
            WIDTH_MULTIPLIER = 1.0  # @param {{type:"number"}}
            HEAD_LAYERS = 2  # @param {{type:"integer"}}
            PROJECTION_DIM = 128  # @param {{type:"integer"}}
            # Optimisation: the global batch (all TPU cores), LARS with warmup + cosine.
            BATCH_SIZE = 512  # @param {{type:"integer"}}
            EPOCHS = 100  # @param {{type:"integer"}}
            STEPS_PER_EPOCH = None  # @param {{type:"raw"}} None: a pass over TRAIN_SPLIT; N batches
            WARMUP_EPOCHS = 10  # @param {{type:"integer"}}
            BASE_LEARNING_RATE = 1.0  # @param {{type:"number"}} x BATCH_SIZE / 256
            WEIGHT_DECAY = 1e-4  # @param {{type:"number"}}
            TEMPERATURE = 0.5  # @param {{type:"number"}}
            COLOR_JITTER_STRENGTH = 0.5  # @param {{type:"number"}}
            BLUR = False  # @param {{type:"boolean"}}
            # "auto": mixed_bfloat16 on TPU, mixed_float16 on GPU, float32 on CPU.
            PRECISION = "auto"  # @param ["auto", "mixed_bfloat16", "mixed_float16", "float32"]
            STEPS_PER_EXECUTION = 32  # @param {{type:"integer"}} steps per device call
            # Monitoring and checkpoints.
            KNN_EVERY_EPOCHS = 10  # @param {{type:"integer"}} 0: no kNN monitor
            KNN_EXAMPLES = 10000  # @param {{type:"integer"}} bank and query images
            CHECKPOINT_EVERY_EPOCHS = 5  # @param {{type:"integer"}}
            TENSORBOARD = True  # @param {{type:"boolean"}} inline TensorBoard (needs a notebook UI)
            TPU = None  # @param {{type:"raw"}} None: detect; "local" on a TPU VM it misses
            SEED = 0  # @param {{type:"integer"}}
            {PACKAGE_PARAMETER}
            ''', tags=["parameters"]),
        md("install-title", "## Install"),
        code("install", INSTALL),
        code("drive", MOUNT_DRIVE),
        md("strategy-title", """
            ## Strategy and precision

            `get_strategy()` returns a `TPUStrategy` on a TPU runtime (`TPUClusterResolver(tpu="local")`
            on TPU VMs), a `MirroredStrategy` over several GPUs, else the default strategy. Batch
            sizes are global: each of the replicas gets `BATCH_SIZE / replicas` images. If a TPU
            runtime prints `_DefaultDistributionStrategy` below, set `TPU = "local"`.
            """),
        code("strategy", '''
            import os

            import keras
            import numpy as np
            import tensorflow as tf
            from IPython.display import Image, display

            import simclr_tf

            strategy = simclr_tf.get_strategy(tpu=TPU)
            on_tpu = isinstance(strategy, tf.distribute.TPUStrategy)
            if PRECISION == "auto":
                PRECISION = ("mixed_bfloat16" if on_tpu
                             else "mixed_float16" if tf.config.list_logical_devices("GPU")
                             else "float32")
            keras.mixed_precision.set_global_policy(PRECISION)
            keras.utils.set_random_seed(SEED)
            os.makedirs(WORKDIR, exist_ok=True)
            per_replica = simclr_tf.check_global_batch(BATCH_SIZE, strategy)  # clear error if uneven
            print(f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replica(s) of "
                  f"{per_replica} images, policy {PRECISION}, TensorFlow {tf.__version__}, "
                  f"Keras {keras.__version__}")
            '''),
        md("data-title", """
            ## Data

            Batched uint8 images and labels; the host only decodes. Images of one size come as a
            batch; images of several sizes (image folders, ImageNet) at native resolution in a
            padded canvas with their sizes, `{"image", "image_size"}`, and every view is cropped
            from the whole original. Augmentation runs on the accelerator, inside the model's
            train step. The labels feed
            the online linear probe (trained on stop-gradient features) and the kNN monitor.
            """),
        code("data", '''
            train_ds, info = simclr_tf.data.get_dataset(
                DATASET, TRAIN_SPLIT, BATCH_SIZE, IMAGE_SIZE, labeled=True, seed=SEED, cache=CACHE,
                download=DOWNLOAD, with_info=True)
            # The reference's step counts, as the training command computes them: total steps
            # num_examples * EPOCHS // BATCH_SIZE + 1, warmup capped at the total.
            num_examples = STEPS_PER_EPOCH * BATCH_SIZE if STEPS_PER_EPOCH else info.num_examples
            steps = simclr_tf.steps_from_epochs(num_examples, BATCH_SIZE, EPOCHS, WARMUP_EPOCHS)
            steps_per_epoch = steps.steps_per_epoch
            sample_images, sample_labels = next(iter(train_ds))
            print(info)
            shapes = tf.nest.map_structure(lambda t: (tuple(t.shape), t.dtype.name), sample_images)
            print(f"{steps_per_epoch} steps per epoch, {steps.total_steps} in all "
                  f"({steps.warmup_steps} of warmup), batch {shapes}")
            '''),
        md("views-title", """
            Each row: an image, then three pairs of views. The encoder learns to match the two
            views of a pair against the views of every other image in the batch.
            """),
        code("views", '''
            augment_args = dict(image_size=IMAGE_SIZE, color_jitter_strength=COLOR_JITTER_STRENGTH,
                                blur=BLUR, seed=SEED)
            simclr_tf.visualize_views(simclr_tf.data.take(sample_images, slice(0, 6)),
                                      simclr_tf.SimCLRAugment(**augment_args),
                                      os.path.join(WORKDIR, "views.png"))
            display(Image(os.path.join(WORKDIR, "views.png"), width=600))
            '''),
        md("model-title", """
            ## Model

            Built and compiled in `strategy.scope()`, and built before `fit` so that a checkpoint
            can be restored into it.
            """),
        code("model", '''
            with strategy.scope():
                model = simclr_tf.SimCLR(
                    encoder=simclr_tf.ResNet(depth=DEPTH, width_multiplier=WIDTH_MULTIPLIER,
                                             cifar_stem=IMAGE_SIZE <= 32,
                                             input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                    projection_head=simclr_tf.ProjectionHead(num_layers=HEAD_LAYERS,
                                                             output_dim=PROJECTION_DIM),
                    augment=simclr_tf.SimCLRAugment(**augment_args),
                    temperature=TEMPERATURE,
                    num_classes=info.num_classes or None,  # the online linear probe
                )
                learning_rate = simclr_tf.WarmupCosine(
                    simclr_tf.scale_learning_rate(BASE_LEARNING_RATE, BATCH_SIZE),
                    total_steps=steps.total_steps, warmup_steps=steps.warmup_steps)
                model.compile(optimizer=simclr_tf.LARS(learning_rate, weight_decay=WEIGHT_DECAY),
                              steps_per_execution=STEPS_PER_EXECUTION)
                # (A dict of shapes when the images come as a canvas of several sizes.)
                model.build(tf.nest.map_structure(lambda t: t.shape, sample_images))
            print(f"encoder: {model.encoder.count_params():,} parameters, "
                  f"features {model.encoder.output_dim}")
            '''),
        md("tensorboard-title", """
            ## TensorBoard

            Live curves while training (`loss`, `contrast_acc`, `probe_top1`, `knn_top1`,
            `learning_rate`); refresh the panel to update. Skipped with `TENSORBOARD = False`.
            """),
        code("tensorboard", '''
            log_dir = os.path.join(WORKDIR, "tensorboard")
            if TENSORBOARD:
                %load_ext tensorboard
                %tensorboard --logdir {log_dir}
            '''),
        md("fit-title", """
            ## Pretrain

            `ResumableCheckpoint` restores the newest checkpoint in `WORKDIR/checkpoints` (weights,
            optimiser, step counter, augmentation state) and continues with the next epoch, so
            running this notebook again after a disconnect picks up where it stopped (keep
            `WORKDIR` in Drive for that). The kNN monitor adds `knn_top1`: a weighted 200-NN vote of
            the encoder's features of `KNN_EXAMPLES` test images among as many training images.
            """),
        code("fit", '''
            callbacks = []
            if KNN_EVERY_EPOCHS and info.num_classes:
                bank = simclr_tf.data.load_arrays(DATASET, TRAIN_SPLIT, IMAGE_SIZE, KNN_EXAMPLES)
                queries = simclr_tf.data.load_arrays(DATASET, EVAL_SPLIT, IMAGE_SIZE, KNN_EXAMPLES)
                callbacks.append(simclr_tf.KNNMonitor(bank, queries, info.num_classes,
                                                      every_epochs=KNN_EVERY_EPOCHS))
            checkpoint = simclr_tf.ResumableCheckpoint(os.path.join(WORKDIR, "checkpoints"),
                                                       every_epochs=CHECKPOINT_EVERY_EPOCHS)
            callbacks += [
                keras.callbacks.TensorBoard(log_dir),
                keras.callbacks.CSVLogger(os.path.join(WORKDIR, "history.csv"), append=True),
                checkpoint,  # last: an epoch is logged before its checkpoint exists
            ]
            history = model.fit(train_ds.repeat(), epochs=EPOCHS, steps_per_epoch=steps_per_epoch,
                                callbacks=callbacks)
            print(f"resumed from epoch {checkpoint.restored_epoch}; checkpoints:",
                  [os.path.basename(path) for _, path in checkpoint.checkpoints()])
            '''),
        code("curves", '''
            # Every epoch of every session (history.csv is appended to on resume).
            from simclr_tf.evaluation import report

            report.plot_history(os.path.join(WORKDIR, "history.csv"),
                                os.path.join(WORKDIR, "training_curves.png"))
            if os.path.exists(os.path.join(WORKDIR, "training_curves.png")):
                display(Image(os.path.join(WORKDIR, "training_curves.png")))
            '''),
        md("export-title", """
            ## Export

            The encoder with its evaluation preprocessing as a SavedModel (signatures
            `serving_default` for float images in [0, 1], `serving_uint8`, `serving_bytes` for
            encoded JPEG/PNG; output `embedding`), loadable without simclr_tf and by TF-Serving;
            and the whole model as a `.keras` file for linear evaluation and fine-tuning.
            """),
        code("export", '''
            export_dir = simclr_tf.export_encoder(model, os.path.join(WORKDIR, "export", "encoder", "1"),
                                                  overwrite=True)
            keras_path = simclr_tf.save_keras(model, os.path.join(WORKDIR, "simclr.keras"),
                                              overwrite=True)

            # The export reproduces the model's own features (evaluation crop, inference mode).
            exported = simclr_tf.protocols.ExportedEncoder(export_dir)
            check = simclr_tf.data.take(sample_images, slice(0, 8))
            if isinstance(check, dict):  # a canvas of several sizes: the export takes one size
                height, width = check["image_size"][0].numpy()
                check = check["image"][:1, :height, :width]
            embedding = exported(check).numpy()
            features = keras.ops.convert_to_numpy(model(check)["features"])
            print(f"{export_dir}: embedding {embedding.shape}, "
                  f"max |export - model| = {np.abs(embedding - features).max():.2e}")
            print(f"{keras_path}: {os.path.getsize(keras_path) / 1e6:.1f} MB")
            '''),
        md("next", f"""
            ## Next

            - `linear_eval.ipynb` {badge("linear_eval.ipynb")}: linear evaluation of
              `WORKDIR/simclr.keras` or of the export (top-1 / top-5 table).
            - `inference.ipynb` {badge("inference.ipynb")}: embeddings from
              `WORKDIR/export/encoder/1`, nearest-neighbour retrieval and a 2-D projection.
            - From a shell, about the same run is `python -m simclr_tf.train
              --config=tf_configs/cifar10_r18.py --workdir=... --config.epochs=100`.
            """),
    ]
    return name, notebook(cells, accelerator="TPU")


# === linear_eval.ipynb =============================================================================

def linear_eval_notebook():
    name = "linear_eval.ipynb"
    cells = [
        md("intro", f"""
            # Linear evaluation of a SimCLR encoder

            {badge(name)}

            The SimCLR paper's protocol: the encoder is frozen (inference-mode batch norm, no
            gradient) and a zero-initialised linear classifier is trained on its features
            (Nesterov momentum 0.9, 0.1 x B/256, cosine decay), then top-1 / top-5 are measured on
            the test split. `simclr_tf.linear_evaluation` does it; with `BASELINES` the same
            protocol also runs on raw pixels and on a randomly initialised copy of the encoder,
            so the table shows what pretraining added. A weighted kNN (k = 200) column comes for free.

            `MODEL_PATH` is what `pretrain_tpu.ipynb` wrote: `WORKDIR/simclr.keras` (the Keras
            model) or `WORKDIR/export/encoder/1` (the SavedModel; cached features only, no random
            baseline); a work directory of `python -m simclr_tf.train` works too. A GPU helps
            for CIFAR-10 (one encoder pass over 60,000 images); the classifier itself is cheap.
            """),
        md("parameters-title", "## Parameters"),
        code("parameters", f'''
            MODEL_PATH = "/content/simclr_cifar10/simclr.keras"  # @param {{type:"string"}}
            MOUNT_DRIVE = False  # @param {{type:"boolean"}}
            DATASET = "cifar10"  # @param {{type:"string"}} the pretraining's dataset, or another one
            TRAIN_SPLIT = "train"  # @param {{type:"string"}}
            TEST_SPLIT = "test"  # @param {{type:"string"}}
            DOWNLOAD = True  # @param {{type:"boolean"}}
            IMAGE_SIZE = 32  # @param {{type:"integer"}}
            MAX_TRAIN_EXAMPLES = None  # @param {{type:"raw"}} None: the whole split
            MAX_TEST_EXAMPLES = None  # @param {{type:"raw"}}
            EPOCHS = 90  # @param {{type:"integer"}} of the linear classifier
            BATCH_SIZE = 256  # @param {{type:"integer"}}
            BASE_LEARNING_RATE = 0.1  # @param {{type:"number"}} x BATCH_SIZE / 256
            STANDARDIZE = False  # @param {{type:"boolean"}} z-score the features first
            AUGMENT = False  # @param {{type:"boolean"}} crop + flip through the encoder each step (Keras model only; slow)
            BASELINES = True  # @param {{type:"boolean"}} raw pixels and a random-init encoder
            KNN_K = 200  # @param {{type:"integer"}} 0: no kNN column
            RESULTS_PATH = "/content/simclr_cifar10/linear_eval.json"  # @param {{type:"string"}}
            SEED = 0  # @param {{type:"integer"}}
            {PACKAGE_PARAMETER}
            ''', tags=["parameters"]),
        md("install-title", "## Install"),
        code("install", INSTALL),
        code("drive", MOUNT_DRIVE),
        md("data-title", "## Data and model"),
        code("data", '''
            import json
            import os

            import keras
            import numpy as np
            import tensorflow as tf
            from IPython.display import Markdown, display

            import simclr_tf
            from simclr_tf.evaluation import load_pretrained
            from simclr_tf.protocols import extract_features, train_linear_classifier

            tf.get_logger().setLevel("ERROR")  # retracing notices of the short predict calls
            keras.utils.set_random_seed(SEED)
            info = simclr_tf.data.get_source(DATASET, TEST_SPLIT, IMAGE_SIZE, download=DOWNLOAD).info
            train = simclr_tf.data.load_arrays(DATASET, TRAIN_SPLIT, IMAGE_SIZE, MAX_TRAIN_EXAMPLES)
            test = simclr_tf.data.load_arrays(DATASET, TEST_SPLIT, IMAGE_SIZE, MAX_TEST_EXAMPLES)
            num_classes = info.num_classes
            num_images = simclr_tf.data.num_images  # images of several sizes are canvas dicts
            print(f"{DATASET}: {num_images(train[0])} training and {num_images(test[0])} test "
                  f"images, {num_classes} classes")

            pretrained = load_pretrained(MODEL_PATH)  # a SimCLR model, or an ExportedEncoder
            print(f"{MODEL_PATH}: {type(pretrained).__name__}")
            '''),
        md("eval-title", """
            ## Linear evaluation

            Each representation gets the same classifier, recipe and data. Raw pixels are
            z-scored (unscaled pixels would handicap that baseline); the random-init twin is the
            same architecture built from the model's config with fresh weights.
            """),
        code("evaluate", '''
            settings = dict(num_classes=num_classes, epochs=EPOCHS, batch_size=BATCH_SIZE,
                            base_learning_rate=BASE_LEARNING_RATE, seed=SEED)
            representations = {"SimCLR encoder": pretrained}
            if BASELINES and isinstance(pretrained, simclr_tf.SimCLR):
                representations["same encoder, random init"] = simclr_tf.SimCLR.from_config(
                    pretrained.get_config())

            results = {}
            for label, model in representations.items():
                if AUGMENT and isinstance(model, simclr_tf.SimCLR):
                    result = simclr_tf.linear_evaluation(model, train, test, augment=True, **settings)
                else:
                    result = simclr_tf.linear_evaluation(model, train, test, standardize=STANDARDIZE,
                                                         **settings)
                if KNN_K:
                    result["knn_top1"] = simclr_tf.knn_accuracy(
                        extract_features(model, train[0], BATCH_SIZE), train[1],
                        extract_features(model, test[0], BATCH_SIZE), test[1], num_classes, k=KNN_K)
                results[label] = result
            if BASELINES and not isinstance(train[0], dict):  # raw pixels need one image size
                flat = lambda images: images.reshape(len(images), -1).astype("float32") / 255.0
                results["linear model on raw pixels"] = train_linear_classifier(
                    flat(train[0]), train[1], flat(test[0]), test[1], standardize=True, **settings)
                if KNN_K:
                    results["linear model on raw pixels"]["knn_top1"] = simclr_tf.knn_accuracy(
                        flat(train[0]), train[1], flat(test[0]), test[1], num_classes, k=KNN_K)
            '''),
        code("table", '''
            percent = lambda value: "" if value is None else f"{100 * value:.1f} %"
            rows = [f"| {label} | {percent(r['top1'])} | {percent(r['top5'])} | {percent(r.get('knn_top1'))} |"
                    for label, r in results.items()]
            display(Markdown("\\n".join([
                f"**{DATASET}**, encoder `{MODEL_PATH}`: {num_images(train[0])} training / {num_images(test[0])} "
                f"test images, {EPOCHS} epochs{', crop + flip' if AUGMENT else ''}",
                "", "| representation | top-1 | top-5 | kNN top-1 |", "|---|---|---|---|", *rows])))

            os.makedirs(os.path.dirname(os.path.abspath(RESULTS_PATH)), exist_ok=True)
            with open(RESULTS_PATH, "w") as f:
                json.dump({"model_path": MODEL_PATH, "dataset": DATASET,
                           "train_examples": num_images(train[0]),
                           "test_examples": num_images(test[0]), "epochs": EPOCHS, "results": results},
                          f, indent=2)
            print(f"wrote {RESULTS_PATH}")
            '''),
        md("notes", """
            Expected: the reference reports about 91 % top-1 for a ResNet-18 pretrained 1000 epochs
            on CIFAR-10 (batch 512); 100 epochs give less. On the embedded Fashion-MNIST subset
            the offline demo (`bash scripts/demo.sh`, 8 CPU epochs) measured 80 % for SimCLR,
            56 % for the random-init encoder and 81 % for raw pixels. Fine-tuning, label fractions and
            distillation: README, "Evaluation and fine-tuning".
            """),
    ]
    return name, notebook(cells)


# === inference.ipynb ===============================================================================

def inference_notebook():
    name = "inference.ipynb"
    cells = [
        md("intro", f"""
            # Inference with the exported SimCLR encoder

            {badge(name)}

            Loads the SavedModel that `pretrain_tpu.ipynb` (or `python -m simclr_tf.train`) wrote
            to `WORKDIR/export/encoder/1`, embeds images with it, finds each query's nearest
            neighbours by cosine similarity and draws the embeddings in 2-D (PCA). The SavedModel
            carries its own preprocessing (centre crop, resize), so any image size goes in; it
            needs TensorFlow only: simclr_tf is used here to read the dataset.
            """),
        md("parameters-title", "## Parameters"),
        code("parameters", f'''
            EXPORT_PATH = "/content/simclr_cifar10/export/encoder/1"  # @param {{type:"string"}}
            MOUNT_DRIVE = False  # @param {{type:"boolean"}}
            DATASET = "cifar10"  # @param {{type:"string"}}
            SPLIT = "test"  # @param {{type:"string"}}
            DOWNLOAD = True  # @param {{type:"boolean"}}
            IMAGE_SIZE = 32  # @param {{type:"integer"}}
            NUM_IMAGES = 2000  # @param {{type:"integer"}} the gallery to search
            NUM_QUERIES = 6  # @param {{type:"integer"}}
            NUM_NEIGHBOURS = 8  # @param {{type:"integer"}}
            BATCH_SIZE = 256  # @param {{type:"integer"}}
            SEED = 0  # @param {{type:"integer"}}
            {PACKAGE_PARAMETER}
            ''', tags=["parameters"]),
        md("install-title", "## Install"),
        code("install", INSTALL),
        code("drive", MOUNT_DRIVE),
        md("load-title", """
            ## The SavedModel

            Three signatures with the same output, `embedding` (float32 `[batch, dim]`):
            `serving_default` takes float images in [0, 1], `serving_uint8` uint8 images,
            `serving_bytes` encoded JPEG / PNG / GIF / BMP strings. Images must have 3 channels.
            """),
        code("load", '''
            import matplotlib.pyplot as plt
            import numpy as np
            import tensorflow as tf

            import simclr_tf

            loaded = tf.saved_model.load(EXPORT_PATH)
            for signature_name, signature in loaded.signatures.items():
                inputs = signature.structured_input_signature[1]
                outputs = {key: spec.shape.as_list() for key, spec in signature.structured_outputs.items()}
                print(f"{signature_name}: {inputs} -> {outputs}")
            '''),
        md("embed-title", "## Embed a gallery"),
        code("embed", '''
            info = simclr_tf.data.get_source(DATASET, SPLIT, IMAGE_SIZE, download=DOWNLOAD).info
            # A gallery of one image size (thumbnails, the uint8 signature): images of several
            # sizes get their centred square resized here (canvas_size=0).
            images, labels = simclr_tf.data.load_arrays(DATASET, SPLIT, IMAGE_SIZE, NUM_IMAGES,
                                                        canvas_size=0)
            class_names = list(info.class_names) or [str(c) for c in range(info.num_classes)]
            rgb = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images  # the export wants RGB

            embed = loaded.signatures["serving_uint8"]
            embeddings = np.concatenate([
                embed(images=tf.constant(rgb[start:start + BATCH_SIZE]))["embedding"].numpy()
                for start in range(0, len(rgb), BATCH_SIZE)])
            print(f"{len(images)} images {images.shape[1:]} -> embeddings {embeddings.shape}")

            # The bytes signature decodes in the graph: a PNG of the first image gives its embedding.
            png = tf.io.encode_png(rgb[0])
            from_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.stack([png]))["embedding"].numpy()
            print(f"serving_bytes vs serving_uint8: max difference {np.abs(from_bytes[0] - embeddings[0]).max():.1e}")
            '''),
        md("retrieval-title", """
            ## Nearest-neighbour retrieval

            Cosine similarity between L2-normalised embeddings. The first column is the query
            itself (similarity 1); a green title marks a neighbour of the query's class.
            """),
        code("retrieval", '''
            unit = embeddings.astype(np.float64)
            unit /= np.linalg.norm(unit, axis=1, keepdims=True)
            query_ids = np.random.default_rng(SEED).choice(len(unit), NUM_QUERIES, replace=False)
            similarity = unit[query_ids] @ unit.T
            neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :NUM_NEIGHBOURS + 1]
            neighbour_similarity = np.take_along_axis(similarity, neighbours, axis=1)
            same_class = labels[neighbours[:, 1:]] == labels[query_ids][:, None]
            print(f"precision@{NUM_NEIGHBOURS}: {same_class.mean():.2f} "
                  f"(chance about {1 / info.num_classes:.2f})")

            fig, axes = plt.subplots(NUM_QUERIES, NUM_NEIGHBOURS + 1, squeeze=False,
                                     figsize=(1.3 * (NUM_NEIGHBOURS + 1), 1.5 * NUM_QUERIES))
            for row, (ids, sims) in enumerate(zip(neighbours, neighbour_similarity)):
                for col, (i, sim) in enumerate(zip(ids, sims)):
                    ax = axes[row, col]
                    ax.imshow(rgb[i])
                    ax.set_xticks([]), ax.set_yticks([])
                    match = labels[i] == labels[query_ids[row]]
                    ax.set_title(f"{class_names[labels[i]][:10]}\\n{sim:.3f}", fontsize=7,
                                 color="black" if col == 0 else "green" if match else "red")
                axes[row, 0].set_ylabel("query", fontsize=8)
            fig.tight_layout()
            plt.show()
            '''),
        md("projection-title", """
            ## 2-D projection

            The embeddings' first two principal components (PCA by SVD of the centred
            embeddings), coloured by class. A well-trained encoder separates classes it never saw
            labels for.
            """),
        code("projection", '''
            centred = embeddings - embeddings.mean(axis=0)
            _, singular_values, components = np.linalg.svd(centred, full_matrices=False)
            projection = centred @ components[:2].T
            explained = singular_values[:2] ** 2 / np.sum(singular_values ** 2)

            fig, ax = plt.subplots(figsize=(7, 6))
            for c, class_name in enumerate(class_names):
                points = projection[labels == c]
                ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.6, label=class_name)
            ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f} % of the variance)")
            ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f} %)")
            ax.legend(markerscale=3, fontsize=8, loc="best")
            ax.set_title(f"{len(embeddings)} {DATASET} {SPLIT} embeddings")
            plt.show()
            '''),
    ]
    return name, notebook(cells)


# === Writing ======================================================================================

BUILDERS = (pretrain_notebook, linear_eval_notebook, inference_notebook)


def build_all():
    """{file name: notebook} for every notebook, outputs cleared."""
    return dict(builder() for builder in BUILDERS)


def render(nb):
    """The exact text written to disk."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, nb in build_all().items():
        path = os.path.join(COLAB_DIR, name)
        text = render(nb)
        current = open(path).read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if args.check and stale:
        print(f"out of date (run python scripts/build_notebooks.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
