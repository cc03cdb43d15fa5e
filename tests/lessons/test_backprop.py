"""The backprop lesson (B10): hand gradients and a hand-trained MLP equal autograd's."""

from __future__ import annotations

from pathlib import Path

from deepnotes import lessons


def test_backprop_matches_autograd_and_learns_digits(tmp_path):
    r = lessons.get("backprop").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the gradients of every parameter equal autograd's to float64 rounding
    assert m["gradient_max_abs_difference"] < 1e-12 * max(1.0, m["gradient_max_abs"])
    # the same weights and batches give the same training, step for step
    assert m["loss_curve_max_abs_difference"] < 1e-10
    assert m["final_weight_max_abs_difference"] < 1e-10
    assert m["test_accuracy"] == m["test_accuracy_autograd"]
    # and it learns: the loss falls, digits are read far above chance (0.1)
    assert m["last_train_loss"] < 0.5 * m["first_train_loss"]
    assert m["test_accuracy"] > 0.85
    # the graph of the MLP's loss: inputs, parameters, operations
    assert m["graph_nodes"] >= 15
    assert all(Path(f).is_file() for f in r.figures)
    assert len(r.history) == 5
