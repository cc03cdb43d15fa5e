"""Every lesson runs in quick mode and its claim holds (asserted on the numbers it returns)."""

import dataclasses
import inspect
import math
from pathlib import Path

import pytest

from deepnotes import lessons
from deepnotes.errors import UnknownNameError
from deepnotes.lessons.base import LessonConfig

# lessons on the harness: sizes from Config.QUICK, figures via deepnotes.figures, threads from
# LessonConfig (extend to lessons.names() once every lesson is converted)
# lessons whose quick mode is the full run (they take a second or two either way)
NO_QUICK_VALUES = {"adaptive-lr"}


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def test_every_lesson_has_the_common_shape():
    for name in lessons.names():
        lesson = lessons.get(name)
        fields = {f.name for f in dataclasses.fields(lesson.config_class)}
        assert {"quick", "seed"} <= fields, name
        assert lesson.summary and lesson.concepts, name


@pytest.mark.parametrize("name", lessons.names())
def test_lesson_quick_values_come_from_its_config(name):
    lesson = lessons.get(name)
    cls = lesson.config_class
    assert issubclass(cls, LessonConfig), name
    assert bool(cls.QUICK) == (name not in NO_QUICK_VALUES), name
    source = inspect.getsource(inspect.getmodule(cls))
    for banned in ("cfg.quick", "matplotlib.use", "pyplot", "cpu_threads", "set_num_threads",
                   "torch_threads"):
        assert banned not in source, (name, banned)
    full, quick = lesson.configure(), lesson.configure(quick=True)
    assert full.threads == 0 and not full.quick and quick.quick
    for key, value in cls.QUICK.items():
        assert getattr(quick, key) == value != getattr(full, key), (name, key)
    # what the user gives wins over the quick value, even a value equal to the default
    for key, value in cls.QUICK.items():
        default = getattr(full, key)
        assert getattr(lesson.configure(quick=True, **{key: default}), key) == default, (name, key)


def test_a_config_passed_in_gets_the_quick_values_once():
    lesson = lessons.get("mlp")
    cfg = lesson.config_class(quick=True, epochs=4)  # built by hand: quick values fill the rest
    done = lesson.configure(cfg)
    assert done.epochs == 4 and done.train_images == lesson.config_class.QUICK["train_images"]
    # configured once: a later configure (as run does) does not overwrite a default-equal value
    again = lesson.configure(lesson.configure(quick=True, batch_size=256))
    assert again.batch_size == 256


def test_unknown_lesson_suggests_a_close_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'dropout'"):
        lessons.get("dropuot")


def test_linear_regression_gd_finds_closed_form_and_lr_border(tmp_path):
    r = _run("linear-regression", tmp_path)
    m = r.metrics
    # B2/B4: η = 0.9·(2/λ_max) converges to the normal-equation solution
    assert m["gd_good_final_mse"] == pytest.approx(m["closed_form_mse"], rel=1e-6)
    assert m["gd_good_relative_weight_gap"] < 5e-3
    # too small crawls: still clearly above the optimum after the same steps
    assert m["gd_small_final_mse"] > (1 + 1e-3) * m["closed_form_mse"]
    assert m["gd_small_relative_weight_gap"] > 0.2
    # too large (just past 2/λ_max) diverges
    large = m["gd_large_final_mse"]
    assert not math.isfinite(large) or large > 100 * m["gd_large_initial_mse"]
    assert all(Path(f).is_file() for f in r.figures)


def test_softmax_regression_learns_fashion_mnist(tmp_path):
    r = _run("softmax-regression", tmp_path)
    assert r.metrics["test_accuracy"] > 0.70  # chance is 0.10
    assert (tmp_path / "checkpoint.safetensors").is_file()


def test_mlp_learns_fashion_mnist(tmp_path):
    r = _run("mlp", tmp_path)
    assert r.metrics["test_accuracy"] > 0.78
    assert len(r.history) == 3


def test_weight_decay_lowers_held_out_loss(tmp_path):
    m = _run("weight-decay", tmp_path).metrics
    # without decay it fits the training set better...
    assert m["synthetic_train_loss_no_decay"] < m["synthetic_train_loss_decay"]
    # ...and generalises worse
    assert m["synthetic_test_loss_decay"] < 0.5 * m["synthetic_test_loss_no_decay"]
    assert m["synthetic_w_norm_decay"] < 0.5 * m["synthetic_w_norm_no_decay"]
    assert m["images_chosen_lambda"] > 0  # chosen on validation data
    assert m["images_chosen_test_loss"] < 0.95 * m["images_test_loss_no_decay"]


def test_dropout_narrows_gap_and_mc_dropout_flags_errors(tmp_path):
    m = _run("dropout", tmp_path).metrics
    assert m["dropout_gap"] < m["plain_gap"]
    assert m["dropout_test_loss"] < m["plain_test_loss"]
    assert m["mc_entropy_wrong"] > 1.5 * m["mc_entropy_correct"]


def test_kfold_choice_is_near_the_test_optimum(tmp_path):
    m = _run("k-fold", tmp_path).metrics
    assert m["chosen_test_accuracy"] >= m["oracle_test_accuracy"] - 0.03
    assert m["chosen_cv_accuracy"] > m["smallest_cv_accuracy"] + 0.1


def test_momentum_and_adam_beat_plain_sgd(tmp_path):
    m = _run("optimizers", tmp_path).metrics
    assert m["momentum_train_loss"] < m["sgd_train_loss"]
    assert m["adam_train_loss"] < m["sgd_train_loss"]
    assert m["rmsprop_train_loss"] < m["sgd_train_loss"]
