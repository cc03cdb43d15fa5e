"""The auto-encoder lesson (N8): its quick run asserts the claims that hold in quick mode."""

from __future__ import annotations

import math
from pathlib import Path

import doctest

import pytest

import deepnotes.lessons.autoencoder as lesson_module
from deepnotes import lessons


@pytest.mark.parametrize("seed", [0, 1])
def test_lesson_autoencoder_claims(tmp_path, seed):
    """AE beats PCA at small code sizes, the denoising AE beats the plain AE on noisy inputs,
    one-class AEs rank the other classes as anomalies (N8); choices on validation only (G3)."""
    r = lessons.get("autoencoder").run(out_dir=tmp_path, quick=True, seed=seed, threads=1)
    m = r.metrics
    assert m["train_images"] + m["val_images"] == 5000 and m["test_images"] == 1000
    for key, value in m.items():
        assert math.isfinite(value), key
    # a. quick mode: AE / PCA = 0.76, 0.88 at k = 2, 8 (seeds 0 and 1); PCA wins at k = 32
    #    after only 6 epochs, so k = 32 is not asserted here
    assert m["ae_mse_k2"] < 0.9 * m["pca_mse_k2"]
    assert m["ae_mse_k8"] < 0.97 * m["pca_mse_k8"]
    for k in (2, 8, 32):  # more code, less error, for PCA always (nested subspaces)
        assert 0 < m[f"ae_mse_k{k}"] < 0.06 and 0 < m[f"pca_mse_k{k}"] < 0.06
    assert m["pca_mse_k32"] < m["pca_mse_k8"] < m["pca_mse_k2"]
    assert m["conv_mse_k32"] < m["pca_mse_k2"]
    # b. the noisy input's own MSE is σ² = 0.25; every denoiser removes most of it, and the
    #    denoising AE beats the plain AE fed the same noisy images (0.0267 vs 0.0283, seed 0;
    #    0.0257 vs 0.0295, seed 1)
    assert abs(m["noisy_input_mse"] - 0.25) < 0.01
    for key in ("pca_denoise", "ae_noisy", "dae_noisy"):
        assert m[f"{key}_mse"] < 0.2 * m["noisy_input_mse"], key
    assert m["dae_noisy_mse"] < 0.98 * m["ae_noisy_mse"]
    assert m["ae_noisy_mse"] > m["ae_clean_mse"]  # the plain AE passes some noise through
    chosen = [row for row in r.tables["denoising_pca_val"] if row["chosen"]]
    assert len(chosen) == 1 and chosen[0]["k"] == m["pca_denoise_k"]
    assert chosen[0]["val_mse"] == min(row["val_mse"] for row in r.tables["denoising_pca_val"])
    # c. the 2-D AE code separates the classes better than PCA's plane (5-NN accuracy 0.62 and
    #    0.59 vs 0.52)
    assert m["ae_code_knn_accuracy"] > m["pca_code_knn_accuracy"] + 0.03
    assert m["pca_code_knn_accuracy"] > 0.3  # far above chance (0.1) even for PCA
    # d. one-class AUROC: 0.92 mean (both seeds), every class well above chance
    assert len(r.tables["anomaly"]) == 10
    assert m["ae_auroc_mean"] > 0.85 and m["pca_auroc_mean"] > 0.8
    assert all(m[f"ae_auroc_{c}"] > 0.7 for c in range(10))
    assert {row["method"] for row in r.tables["published"]} == {"Deep SVDD", "GeoTrans"}
    # every model kept its best validation epoch
    rows = r.tables["training"]
    assert len(rows) == 3 + 1 + 1 + 10  # AEs for k = 2, 8, 32; conv; denoising; one-class
    assert all(1 <= row["best_epoch"] for row in rows)
    assert len(r.figures) == 5 and all(Path(f).is_file() for f in r.figures)


def test_knn_accuracy_docstring_example():
    result = doctest.testmod(lesson_module)
    assert result.attempted >= 1 and result.failed == 0
