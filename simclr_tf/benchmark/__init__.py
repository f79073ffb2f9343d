"""Speed and memory benchmark: `python -m simclr_tf.benchmark` (flags and modes: `__main__.py`).

    options.py             the flags, the presets, the settings every mode starts from
    machine.py             the machine, peak memory, CPU time, timed calls, FLOPs
    train.py               --mode=train: the full train step through `fit`, the encoder's floor
    augment.py             --mode=augment: the augmentation layers alone
    input.py               --mode=input: host pipelines on photo-like JPEG files
    reference_pipeline.py  the host pipelines `input` compares with this package's
    suites.py              lists of measurements, each in a fresh process, and derived figures
"""
