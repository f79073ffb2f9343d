"""The training command's terminal: progress, results and real warnings, not TensorFlow's
internal info lines (unless --verbosity=1). The export's real chatter is checked against the
same filter in test_workdir.py (its run exports)."""

import logging as logging_lib

import pytest
from absl import logging

from simclr_tf.train import quiet_logs

CHATTER = ("contains input name(s)", "Sharding callback duration", "Writing fingerprint to")


class _Records(logging_lib.Handler):
    def __init__(self):
        super().__init__(logging_lib.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def absl_records():
    """The records that reach the absl logger's handlers, at info verbosity."""
    import tensorflow as tf

    quiet_logs(verbosity=1)  # drop a filter that an in-process `main()` of another test left
    logger, handler, verbosity = logging.get_absl_logger(), _Records(), logging.get_verbosity()
    tf_level = tf.get_logger().level
    tf.get_logger().setLevel("INFO")
    logging.set_verbosity(logging.INFO)
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    logging.set_verbosity(verbosity)
    tf.get_logger().setLevel(tf_level)


def test_internal_info_is_hidden_unless_verbosity(absl_records, tmp_path):
    from simclr_tf.data.sources import _folder

    def log_three(folder):
        absl_records.clear()
        logging.info("Writing fingerprint to x (an info line from outside the package)")
        logging.warning("a real warning")
        # The package's own info line (said once per folder, so each call names another one).
        _folder(f"dir:{tmp_path / folder}", "train")
        return [r.getMessage() for r in absl_records]

    assert quiet_logs(verbosity=1) is None  # --verbosity=1: everything comes through
    assert len(log_three("a")) == 3
    own = quiet_logs(verbosity=0)
    try:
        kept = log_three("b")
        assert kept[0] == "a real warning" and "has no 'train' sub-folder" in kept[1]
        assert len(kept) == 2
    finally:
        logging.get_absl_logger().removeFilter(own)
        import tensorflow as tf

        tf.get_logger().setLevel("WARNING")
