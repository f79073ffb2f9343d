"""The paper's own numbers (Chen et al. 2020, arXiv:2002.05709), printed beside ours.

Transcribed from the paper's text tables (ImageNet, ResNet-50, linear evaluation top-1 %).
Figures 5, 7, 8 and 9 give their values only as plots: no number is transcribed for them
(`FIGURE_ONLY` says so in the tables), only the finding the text states.
"""

# Table 1: colour distortion strength (SimCLR linear eval vs supervised ResNet-50).
TABLE_1 = {
    "simclr": {"1/8": 59.6, "1/4": 61.0, "1/2": 62.6, "1": 63.2, "1+blur": 64.5, "autoaug": 61.1},
    "supervised": {"1/8": 77.0, "1/4": 76.7, "1/2": 76.5, "1": 75.7, "1+blur": 75.4, "autoaug": 77.1},
}
# Table 4: loss functions ("sh" = semi-hard negative mining), best of each one's tuning grid.
TABLE_4 = {
    "margin_triplet": 50.9, "nt_logistic": 51.6, "margin_triplet (sh)": 57.5,
    "nt_logistic (sh)": 57.9, "nt_xent": 63.9,
}
# Table 5: l2 norm and temperature of NT-Xent: (entropy, contrastive acc. %, top-1 %).
TABLE_5 = {
    (True, 0.05): (1.0, 90.5, 59.7), (True, 0.1): (4.5, 87.8, 64.4),
    (True, 0.5): (8.2, 68.2, 60.7), (True, 1.0): (8.3, 59.1, 58.0),
    (False, 10.0): (0.5, 91.7, 57.2), (False, 100.0): (0.5, 92.1, 57.0),
}
FIGURE_ONLY = "plot only in the paper (no number transcribed)"
FINDINGS = {
    "augmentation_composition": (
        "Figure 5: no single transformation suffices; composing them helps, and crop + colour "
        "stands out (Section 3.1)."
    ),
    "color_strength": (
        "Table 1: stronger colour distortion helps SimCLR (59.6 -> 64.5) but not supervised "
        "learning (77.0 -> 75.4) (Section 3.2)."
    ),
    "projection_head": (
        "Figure 8: a nonlinear head beats a linear one (+3%) and none (>10%); the output "
        "dimension matters little; h is >10% better than g(h) (Section 4.2)."
    ),
    "loss_function": (
        "Table 4: NT-Xent (63.9) beats NT-Logistic and margin triplet, with or without semi-hard "
        "negative mining (Section 5.1)."
    ),
    "temperature": (
        "Table 5: l2 normalisation with a tuned temperature (0.1 at batch 4096) is best; "
        "without it the contrastive accuracy is higher but the representation worse (Section 5.1)."
    ),
    "batch_size_epochs": (
        "Figure 9: larger batches help most when training is short; the gap shrinks with more "
        "epochs (Section 5.2)."
    ),
    "model_size": (
        "Figure 7: depth and width help; the gap to supervised models shrinks as models grow "
        "(Section 4.1)."
    ),
}
