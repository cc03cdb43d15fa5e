"""The CycleGAN lesson (N7, N5) in quick mode, on seeds 0 and 1: what holds on a
seconds-long run, not the full run's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.models import from_info
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint


@pytest.mark.parametrize("seed", [0, 1])
def test_n7_cyclegan_quick_run(tmp_path, seed):
    """(N7, N5) after a few dozen updates translating there and back already returns the
    inputs far closer than the untrained pair does, while each translation changes its input
    and lands closer (FID) to the target class than the input was; every rate lies in [0, 1],
    every FID is finite, the figures and both generators are written."""
    r = lessons.get("cyclegan").run(out_dir=tmp_path, quick=True, seed=seed, threads=1)
    m = r.metrics
    assert all(math.isfinite(v) for v in m.values())
    for key in ("x_to_y_target_rate", "y_to_x_target_rate", "x_input_target_rate",
                "y_input_target_rate", "x_input_source_rate", "y_input_source_rate"):
        assert 0 <= m[key] <= 1, key
    for d in ("x", "y"):
        assert m[f"{d}_cycle_l1"] < 0.7 * m[f"untrained_{d}_cycle_l1"]
        assert m[f"{d}_floor_fid"] >= 0
    assert m["x_to_y_change_l1"] > 0.05 and m["y_to_x_change_l1"] > 0.05
    # N5: the translations sit closer (FID) to the target class than the untranslated inputs
    assert max(m["x_to_y_fid"], m["y_to_x_fid"]) < 0.85 * m["untranslated_fid"]
    assert m["test_images_x"] == m["test_images_y"] == 1000
    assert m["updates"] == 60
    assert {Path(f).name for f in r.figures} == {"cyclegan_pairs.png", "cyclegan_losses.png"}
    assert all(Path(f).is_file() for f in r.figures)
    # the quick FID classifier lives in the run folder, not in the shared cache
    assert (tmp_path / "fid-classifier.safetensors").is_file()
    assert [row["direction"] for row in r.tables["directions"]] == [
        "Sneaker → Ankle boot", "Ankle boot → Sneaker"]
    assert r.history[-1]["update"] == 60 and "cycle" in r.history[-1]
    # the saved generators load back into the registry's model
    for tag in ("x-to-y", "y-to-x"):
        st = tmp_path / "generators" / tag / "checkpoint.safetensors"
        g = from_info(peek_checkpoint(st)["model_info"])
        load_checkpoint(st, g)
        assert g(torch.zeros(1, 1, 28, 28)).shape == (1, 1, 28, 28)
