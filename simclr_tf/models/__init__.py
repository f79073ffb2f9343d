"""Models: the ResNet encoder family, the projection head and the SimCLR pretrainer.

Import the classes from their modules (`simclr_tf.models.resnet.ResNet`, ...) or, as users do,
from the package top level (`simclr_tf.ResNet`).
"""
