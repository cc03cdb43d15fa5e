"""Quick runs of the GAN lessons (N1–N6, N9): their claims where quick mode can show them, the
run folder, and `deepnotes sample` on the generators they save."""

from __future__ import annotations

import math
import subprocess
import sys

from deepnotes import lessons


def _run(name, tmp_path, **kw):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **kw)


def test_gan_toy_js_stuck_wasserstein_useful_and_mse_averages(tmp_path):
    """N2, N3: on disjoint supports the JS estimate sits at log 2 while the critic's estimate
    tracks |θ| and points home; N9: MSE answers the mean of the two right answers."""
    m = _run("gan-toy", tmp_path).metrics
    assert m["js_min_off_zero"] > 0.6 and m["js_mean_off_zero"] < math.log(2) + 1e-6
    assert m["js_at_zero"] < 0.05
    # far from the data the minimax gradient has vanished; the critic's has not
    assert m["minimax_grad_abs_far"] < 0.1 * m["wgan_grad_abs_mean"]
    assert m["wasserstein_corr_abs_theta"] > 0.95
    assert 0.7 < m["wasserstein_over_abs_theta"] < 1.4
    assert m["wgan_grad_points_home"] == 1.0 and m["wgan_grad_abs_mean"] > 0.5
    assert m["mse_right_share"] == 0.0 and m["mse_mean_abs_output"] < 0.25
    assert (tmp_path / "gan_toy_lines.png").exists()
    assert (tmp_path / "gan_toy_mixtures.png").exists()


def test_dcgan_quick_run_scores_every_method_and_saves_samplable_generators(tmp_path):
    """N1, N3–N5: four methods trained and scored by FID above the real-vs-real floor."""
    r = _run("dcgan", tmp_path)
    m = r.metrics
    for method in ("gan", "wgan", "wgan_gp", "sngan"):
        assert m[f"{method}_updates"] == 30
        assert math.isfinite(m[f"{method}_fid"]) and m[f"{method}_fid"] > m["real_floor_fid"]
        assert 0 < m[f"{method}_class_spread"] <= math.log(10) + 1e-6
    assert len(list((tmp_path / "grids").glob("gan_*.png"))) == 2  # updates 15 and 30
    out = tmp_path / "s.png"
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", "sample",
                        str(tmp_path / "generators" / "sngan"), "--n", "16", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 1000


def test_conditional_gan_quick_run_and_sampling_one_class(tmp_path):
    """N5, N6: both variants trained and scored per class; a class can be asked for."""
    r = _run("conditional-gan", tmp_path)
    m = r.metrics
    assert m["mean_real_floor"] < m["mean_other_class_fid"]  # the per-class scale is sound
    for key in ("wrong_labels_w1", "no_wrong_labels"):
        assert 0 <= m[f"{key}_label_accuracy"] <= 1
        assert math.isfinite(m[f"{key}_mean_class_fid"])
    assert len(r.tables["per_class"]) == 20
    out = tmp_path / "bags.png"
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", "sample",
                        str(tmp_path / "generators" / "wrong-labels-w1"), "--label", "8",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert out.exists()
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", "sample",
                        str(tmp_path / "generators" / "wrong-labels-w1"), "--label", "12"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "0..9" in p.stderr and "Traceback" not in p.stderr


def test_gan_augmentation_chooses_the_amount_on_validation(tmp_path):
    """G6: real-only vs real + cGAN images, the amount chosen on validation, and a classifier
    on generated images only; the test split is read once per classifier, never to choose."""
    r = _run("gan-augmentation", tmp_path, extra_per_class=(10, 20))
    rows = r.tables["training_sets"]
    assert [row["training set"] for row in rows] == ["real only", "real + generated",
                                                     "real + generated", "generated only"]
    aug = rows[1:3]
    best = max(aug, key=lambda row: row["val_accuracy"])
    m = r.metrics
    assert m["chosen_generated_per_class"] == best["generated_per_class"]
    assert m["augmented_test_accuracy"] == best["test_accuracy"]
    assert m["real_only_test_accuracy"] > 0.2  # 20 images per class already beat chance
    assert [row["images"] for row in rows] == [200, 300, 400, 200]
    assert (tmp_path / "gan_augmentation_samples.png").exists()
