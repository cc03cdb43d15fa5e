"""The VAE lesson (N8, N9; beyond the notes) in quick mode, on seeds 0 and 1: what holds on a
seconds-long run, not the full run's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from deepnotes import lessons


@pytest.mark.parametrize("seed", [0, 1])
def test_n8_n9_vae_quick_run(tmp_path, seed):
    """(N8, N9) training lowers the test −ELBO of both VAEs below the untrained model's; the
    code carries information (KL > 0); decoded noise is still far from real images (FID above
    the real-vs-real floor at the same n); every figure is written."""
    r = lessons.get("vae").run(out_dir=tmp_path, quick=True, seed=seed, threads=1)
    m = r.metrics
    for prefix in ("", "latent2_"):
        neg_elbo = m[f"{prefix}test_neg_elbo"]
        assert math.isfinite(neg_elbo)
        assert neg_elbo < m[f"{prefix}untrained_test_neg_elbo"]
        assert m[f"{prefix}test_kl"] > 0
        assert neg_elbo == pytest.approx(m[f"{prefix}test_recon"] + m[f"{prefix}test_kl"],
                                         rel=1e-4)
        assert 0 < m[f"{prefix}test_mse"] < 1
        assert m[f"{prefix}fid"] > m["fid_floor"] >= 0
    assert m["latent2_test_active_units"] <= 2
    assert m["fid_samples"] == 500
    names = {Path(f).name for f in r.figures}
    assert names == {"vae_samples.png", "vae_reconstructions.png", "vae_interpolation.png",
                     "vae_elbo_curves.png", "vae_latent2_map.png"}
    assert all(Path(f).is_file() for f in r.figures)
    # the quick FID classifier lives in the run folder, not in the shared cache
    assert (tmp_path / "fid-classifier.safetensors").is_file()
    assert Path(r.checkpoint).is_file()
    assert [row["model"] for row in r.tables["models"]] == ["latent 16", "latent 2"]
    assert len(r.history) == 3 and "val_kl" in r.history[-1]
