"""The diffusion lesson (N9; DDPM beyond the notes) in quick mode, on seeds 0 and 1: what holds
on a seconds-long run, not the full run's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from deepnotes import lessons


@pytest.mark.parametrize("seed", [0, 1])
def test_n9_diffusion_quick_run(tmp_path, seed):
    """(N9) forty updates already teach the U-Net to find much of the noise: the training
    loss falls below its first value and the test loss below the untrained network's and below
    the guess ε̂ = 0 (which scores 1); noise in, images out, their FID above the real-vs-real
    floor at the same n; every figure is written."""
    r = lessons.get("diffusion").run(out_dir=tmp_path, quick=True, seed=seed, threads=1)
    m = r.metrics
    assert all(math.isfinite(v) for v in m.values()), m
    assert m["train_loss_last"] < m["train_loss_first"]
    assert m["test_loss"] < m["untrained_test_loss"]
    assert m["test_loss"] < 1.0
    assert m["fid"] > m["fid_floor"] >= 0
    assert m["updates"] == 40 and m["fid_samples"] == 200 and m["sample_steps"] == 10
    assert m["sample_seconds"] > 0 and m["train_seconds"] > 0
    for key in ("confidence", "class_spread"):
        assert 0 < m[f"sample_{key}"] and 0 < m[f"real_{key}"]
    names = {Path(f).name for f in r.figures}
    assert names == {"diffusion_samples.png", "diffusion_forward.png", "diffusion_reverse.png",
                     "diffusion_loss.png"}
    assert all(Path(f).is_file() for f in r.figures)
    # the quick FID classifier lives in the run folder, not in the shared cache
    assert (tmp_path / "fid-classifier.safetensors").is_file()
    assert Path(r.checkpoint).is_file()
    assert [row["update"] for row in r.history] == list(range(5, 41, 5))
    assert [row["images"] for row in r.tables["classifier_scores"]][1] == "real test images"
