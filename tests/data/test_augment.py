"""Image augmentation (G6): invariants of every transform, reproducibility, resumable batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepnotes import functional as F
from deepnotes import nn
from deepnotes.data import MiniBatches, augment
from deepnotes.data.augment import (
    AugmentedBatches,
    ColorJitter,
    Compose,
    GaussianBlur,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomGaussianNoise,
    RandomHorizontalFlip,
    RandomRotation,
    RandomScale,
    augmentation_generator,
    gaussian_kernel1d,
)
from deepnotes.errors import ConfigError, ShapeError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n=6, c=2, h=9, w=11, seed=0, dtype=torch.float32):
    return torch.rand(n, c, h, w, generator=gen(seed), dtype=dtype)


# Each transform at a real strength, with whether it promises to keep values in the input range.
STRONG = {
    "flip": (RandomHorizontalFlip(0.5), True),
    "rotation": (RandomRotation(30), True),
    "scale": (RandomScale((0.7, 1.3)), True),
    "affine": (RandomAffine(15, scale=(0.9, 1.1), translate=0.1), True),
    "crop": (RandomCrop(None, padding=2), True),
    "jitter": (ColorJitter(brightness=0.5, contrast=0.5), True),
    "noise": (RandomGaussianNoise(0.2), False),
    "noise-clamped": (RandomGaussianNoise(0.2, value_range=(0, 1)), True),
    "blur": (GaussianBlur(5, (0.5, 2.0)), True),
    "erasing": (RandomErasing(1.0, value=0.5), True),
}
# Each transform at zero strength: must return exactly its input.
IDENTITY = {
    "flip": RandomHorizontalFlip(0.0),
    "rotation": RandomRotation(0),
    "scale": RandomScale(1.0),
    "affine": RandomAffine(0, scale=1, translate=0),
    "crop": RandomCrop(None, padding=0),
    "crop-same-size": RandomCrop((9, 11), padding=0),
    "jitter": ColorJitter(0.0, 0.0),
    "noise": RandomGaussianNoise(0.0),
    "blur": GaussianBlur(5, 0.0),
    "erasing": RandomErasing(0.0),
    "compose": Compose([RandomHorizontalFlip(0.0), RandomGaussianNoise(0.0), RandomRotation(0)]),
}


@pytest.mark.parametrize("name", STRONG)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_range_are_kept(name, dtype):
    t, keeps_range = STRONG[name]
    x = images(dtype=dtype)
    y = t(x, generator=gen(1))
    assert y.shape == x.shape and y.dtype == dtype
    assert torch.isfinite(y).all()
    if keeps_range:
        assert y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)  # a real strength changes something
    # one image (C, H, W) works too
    assert t(x[0], generator=gen(1)).shape == x[0].shape


@pytest.mark.parametrize("name", IDENTITY)
def test_zero_strength_is_exactly_the_identity(name):
    x = images() * 3 - 1  # values outside [0, 1]: a clamp would show
    assert torch.equal(IDENTITY[name](x, generator=gen(2)), x)
    assert torch.equal(IDENTITY[name](x), x)  # global generator too


@pytest.mark.parametrize("name", STRONG)
def test_same_seed_same_output_different_seed_different(name):
    t, _ = STRONG[name]
    x = images(n=8)
    assert torch.equal(t(x, generator=gen(5)), t(x, generator=gen(5)))
    assert not torch.equal(t(x, generator=gen(5)), t(x, generator=gen(6)))


def test_draws_are_per_example():
    x = images(n=1).expand(16, -1, -1, -1).contiguous()  # 16 copies of one image
    for name, (t, _) in STRONG.items():
        y = t(x, generator=gen(3))
        distinct = {tuple(v.flatten().tolist()) for v in y}
        assert len(distinct) > 1, name  # copies of one image get different edits


def test_flip_matches_torch_flip_and_twice_is_identity():
    x = images(n=32)
    flip = RandomHorizontalFlip(1.0)
    assert torch.equal(flip(x), torch.flip(x, dims=[-1]))
    assert torch.equal(flip(flip(x)), x)
    half = RandomHorizontalFlip(0.5)(x, generator=gen(0))
    flipped = [torch.equal(y, torch.flip(xi, dims=[-1])) for y, xi in zip(half, x)]
    kept = [torch.equal(y, xi) for y, xi in zip(half, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 4 <= sum(flipped) <= 28  # about half of 32


def test_rotation_by_90_equals_rot90():
    x = images(n=4, h=10, w=10, dtype=torch.float64)
    for deg, k in ((90, 1), (-90, -1), (180, 2)):
        y = RandomRotation((deg, deg))(x, generator=gen(0))
        # square image, pixel centres map onto pixel centres: the whole image matches
        torch.testing.assert_close(y, torch.rot90(x, k, dims=(-2, -1)), rtol=0, atol=1e-12)
    # non-square: a half turn still maps the image onto itself
    x = images(n=2, h=6, w=10, dtype=torch.float64)
    torch.testing.assert_close(RandomRotation((180, 180))(x), torch.rot90(x, 2, dims=(-2, -1)),
                               rtol=0, atol=1e-12)


def test_scale_zooms_about_the_centre_and_translate_shifts():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    x[..., 2:6, 2:6] = 1.0  # a 4×4 square in the middle
    half = RandomScale((0.5, 0.5))(x)  # zoom out by 2: a 2×2 square in the middle
    expected = torch.zeros_like(x)
    expected[..., 3:5, 3:5] = 1.0
    assert half.sum().item() == pytest.approx(4.0, abs=1e-9)  # area shrinks by s² = 1/4
    assert torch.equal(half > 0.5, expected > 0.5)
    # a horizontal shift t ∈ [-2, 2] pixels (translate 0.25 of 8): rows untouched, mass kept,
    # every row is the input row read at j − t with linear interpolation
    y = RandomAffine(translate=(0.25, 0.0))(x.expand(6, -1, -1, -1), generator=gen(0))
    cols = torch.arange(8, dtype=torch.float64)
    shifts = set()
    for yi in y[:, 0]:
        torch.testing.assert_close(yi.sum(1), x[0, 0].sum(1), rtol=0, atol=1e-12)
        t = ((yi.sum(0) * cols).sum() / yi.sum() - 3.5).item()  # centroid moved from 3.5
        assert abs(t) <= 2 + 1e-9
        shifts.add(round(t, 6))
        expected_row = np.interp(cols.numpy() - t, cols.numpy(), x[0, 0, 3].numpy(),
                                 left=0, right=0)
        torch.testing.assert_close(yi[3], torch.from_numpy(expected_row), rtol=0, atol=1e-12)
    assert len(shifts) == 6


def test_crop_with_padding_is_a_shift_of_the_padded_image():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7).repeat(20, 1, 1, 1)
    P = 2
    y = RandomCrop(None, padding=P)(x, generator=gen(0))
    padded = torch.nn.functional.pad(x[:1], (P, P, P, P))
    offsets = set()
    for yi in y:  # every output is some window of the padded image, same for all channels
        found = [(i, j) for i in range(2 * P + 1) for j in range(2 * P + 1)
                 if torch.equal(yi, padded[0, :, i:i + 5, j:j + 7])]
        assert found, "crop is not a window of the padded image"
        offsets.add(found[0])
    assert len(offsets) > 3  # per-example offsets
    small = RandomCrop((3, 4))(x, generator=gen(0))
    assert small.shape == (20, 2, 3, 4)


def test_color_jitter_formula_and_clamp():
    x = images(n=5, dtype=torch.float64)
    g = gen(4)
    b = 0.5 + torch.rand(5, generator=g, dtype=torch.float64)  # U[0.5, 1.5] as drawn inside
    y = ColorJitter(brightness=0.5, value_range=None)(x, generator=gen(4))
    torch.testing.assert_close(y, b.view(5, 1, 1, 1) * x, rtol=0, atol=1e-12)
    y = ColorJitter(brightness=1.0, contrast=1.0)(x, generator=gen(4))
    assert y.min() >= 0 and y.max() <= 1
    # contrast keeps each image's mean when nothing is clamped
    y = ColorJitter(contrast=0.5, value_range=None)(x, generator=gen(4))
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), rtol=0, atol=1e-12)


def test_gaussian_noise_statistics():
    x = torch.zeros(64, 1, 32, 32, dtype=torch.float64)
    y = RandomGaussianNoise(0.3)(x, generator=gen(0))
    assert y.mean().item() == pytest.approx(0.0, abs=0.01)
    assert y.std().item() == pytest.approx(0.3, rel=0.02)


def test_gaussian_noise_is_the_functional_formula():
    # one formula (G5): the transform is deepnotes.functional.gaussian_noise, then the clamp
    x = images(dtype=torch.float64)
    y = RandomGaussianNoise(0.3)(x, generator=gen(5))
    assert torch.equal(y, F.gaussian_noise(x, 0.3, generator=gen(5)))
    clamped = RandomGaussianNoise(0.3, value_range=(0, 1))(x, generator=gen(5))
    assert torch.equal(clamped, y.clamp(0, 1)) and not torch.equal(clamped, y)
    # the only class called GaussianNoise is the layer
    assert not hasattr(augment, "GaussianNoise") and hasattr(nn, "GaussianNoise")


def test_gaussian_kernel_sums_to_one_and_matches_formula():
    sigma = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    g = gaussian_kernel1d(7, sigma)
    torch.testing.assert_close(g.sum(-1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-15)
    k = torch.arange(-3, 4, dtype=torch.float64)
    for s, row in zip(sigma.tolist(), g):
        w = torch.tensor([math.exp(-(v**2) / (2 * s * s)) for v in k.tolist()], dtype=torch.float64)
        torch.testing.assert_close(row, w / w.sum(), rtol=1e-12, atol=0)
    assert torch.equal(gaussian_kernel1d(5, torch.tensor(0.0))[0], torch.tensor([0.0, 0, 1, 0, 0]))


def test_blur_keeps_constant_images_and_matches_2d_convolution():
    c = torch.full((3, 2, 9, 9), 0.37, dtype=torch.float64)
    blurred = GaussianBlur(5, (0.5, 2.0))(c, generator=gen(0))
    torch.testing.assert_close(blurred, c, rtol=0, atol=1e-12)
    # separable = one 2-d convolution with the outer product g gᵀ (interior, away from the edges)
    x = images(n=1, c=1, h=12, w=12, dtype=torch.float64)
    y = GaussianBlur(5, 1.2)(x)
    g = gaussian_kernel1d(5, torch.tensor(1.2, dtype=torch.float64))[0]
    ref = torch.nn.functional.conv2d(x, torch.outer(g, g).view(1, 1, 5, 5))  # (1, 1, 8, 8)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], ref, rtol=0, atol=1e-12)
    assert y.std() < x.std()  # blurring smooths


def test_random_erasing_touches_one_rectangle_only():
    x = images(n=32, c=3, h=16, w=12)
    y = RandomErasing(0.5, scale=(0.05, 0.3), value=-1.0)(x, generator=gen(7))
    erased = 0
    for xi, yi in zip(x, y):
        changed = (yi != xi).any(0)  # (H, W)
        assert torch.equal(changed, (yi == -1).all(0))  # changed pixels are exactly the filled ones
        if changed.any():
            erased += 1
            rows = changed.any(1).nonzero().flatten()
            cols = changed.any(0).nonzero().flatten()
            box = changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            assert box.all()  # the changed set is one full rectangle
            area = box.numel() / changed.numel()
            assert 0.02 < area < 0.45
    assert 4 <= erased <= 28  # about half of 32


def test_compose_applies_in_order_with_one_generator():
    x = images(n=6)
    a, b = RandomRotation(20), RandomErasing(1.0, value=0.9)
    g = gen(11)
    manual = b(a(x, generator=g), generator=g)
    assert torch.equal(Compose([a, b])(x, generator=gen(11)), manual)
    g = gen(11)
    reverse = a(b(x, generator=g), generator=g)
    assert torch.equal(Compose([b, a])(x, generator=gen(11)), reverse)
    assert not torch.equal(manual, reverse)


def test_zero_strength_member_does_not_change_the_others_draws():
    # the rotation after a switched-off member draws the same angles as after one switched on:
    # with a barely-on noise / flip the rotated images agree to the noise level, while the
    # same rotation from a fresh generator (other angles) does not
    x = images(n=6, dtype=torch.float64)
    off = Compose([RandomGaussianNoise(0.0), RandomHorizontalFlip(0.0), RandomRotation(10)])
    barely_on = Compose([RandomGaussianNoise(1e-9), RandomHorizontalFlip(0.0), RandomRotation(10)])
    y_off = off(x, generator=gen(1))
    torch.testing.assert_close(y_off, barely_on(x, generator=gen(1)), rtol=0, atol=1e-7)
    assert (y_off - RandomRotation(10)(x, generator=gen(1))).abs().max() > 1e-3
    # a flip that is always on, given the mirrored images, hands the rotation the same images
    # and (its draws being the same whatever p) the same angles
    flip_on = Compose([RandomGaussianNoise(0.0), RandomHorizontalFlip(1.0), RandomRotation(10)])
    assert torch.equal(flip_on(x.flip(-1), generator=gen(1)), y_off)


@pytest.mark.parametrize("make", [
    lambda: RandomHorizontalFlip(1.5), lambda: RandomHorizontalFlip(-0.1),
    lambda: RandomRotation(-5), lambda: RandomRotation((10, 5)), lambda: RandomRotation("x"),
    lambda: RandomScale(0), lambda: RandomAffine(translate=2.0),
    lambda: RandomAffine(translate=(0.1,)),
    lambda: RandomCrop(0), lambda: RandomCrop(4, padding=-1), lambda: RandomCrop(2.5),
    lambda: ColorJitter(brightness=-0.1), lambda: ColorJitter(contrast=2),
    lambda: RandomGaussianNoise(-1), lambda: RandomGaussianNoise(float("nan")),
    lambda: GaussianBlur(4), lambda: GaussianBlur(0), lambda: GaussianBlur(3, -1.0),
    lambda: RandomErasing(p=2), lambda: RandomErasing(scale=(0.5, 0.1)),
    lambda: RandomErasing(ratio=(0, 1)), lambda: Compose([1, 2]),
    lambda: RandomHorizontalFlip(True),
])
def test_bad_arguments_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_bad_inputs():
    flip = RandomHorizontalFlip()
    for bad in (torch.rand(4, 4), torch.rand(2, 1, 1, 4, 4), torch.rand(5)):
        with pytest.raises(ShapeError, match="expects an image batch"):
            flip(bad)
    with pytest.raises(ConfigError, match="floating-point"):
        flip(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="torch.Generator"):
        flip(torch.rand(1, 1, 4, 4), generator=3)
    with pytest.raises(ShapeError, match="larger than the padded image"):
        RandomCrop(10, padding=1)(torch.rand(1, 1, 4, 4))


# ---------------------------------------------------------------------------- AugmentedBatches
def _dataset(n=23):
    x = torch.rand(n, 1, 6, 6, generator=gen(0))
    return x, torch.arange(n)


AUG = Compose([RandomHorizontalFlip(0.5), RandomCrop(None, padding=1), RandomGaussianNoise(0.05)])


def test_augmented_batches_transform_inputs_and_keep_the_order_of_minibatches():
    x, y = _dataset()
    plain = MiniBatches((x, y), batch_size=5, seed=3)
    aug = AugmentedBatches((x, y), batch_size=5, transform=AUG, seed=3)
    assert isinstance(aug, MiniBatches) and len(aug) == len(plain) == 5
    for epoch in range(2):
        for b, ((xp, yp), (xa, ya)) in enumerate(zip(plain, aug)):
            assert torch.equal(yp, ya)  # same examples, same order, targets untouched
            assert torch.equal(xa, AUG(xp, generator=augmentation_generator(3, epoch, b)))
            assert not torch.equal(xa, xp)


def test_augmented_batches_differ_between_epochs_and_repeat_per_seed():
    x, y = _dataset()
    a = AugmentedBatches((x, y), batch_size=23, transform=AUG, seed=1, shuffle=False)
    e0, e1 = next(iter(a))[0], next(iter(a))[0]
    assert not torch.equal(e0, e1)  # a fresh augmentation each epoch
    a.set_epoch(0)
    assert torch.equal(next(iter(a))[0], e0)
    b = AugmentedBatches((x, y), batch_size=23, transform=AUG, seed=2, shuffle=False)
    assert not torch.equal(next(iter(b))[0], e0)


def test_augmented_batches_resume_exactly():
    x, y = _dataset()

    def make():
        return AugmentedBatches((x, y), batch_size=5, transform=AUG, seed=9)

    full = make()
    reference = [b for _ in range(3) for b in full]  # 3 epochs, uninterrupted
    first = make()
    seen = []
    for _ in range(1):
        seen += list(first)
    it = iter(first)
    seen += [next(it), next(it)]  # two batches into epoch 1
    state = first.state_dict()
    assert state == {"seed": 9, "epoch": 1, "batch": 2}
    resumed = make()
    resumed.load_state_dict(state)
    seen += list(resumed) + list(resumed)
    assert len(seen) == len(reference)
    for (xs, ys), (xr, yr) in zip(seen, reference):
        assert torch.equal(xs, xr) and torch.equal(ys, yr)


def test_augmented_batches_bad_transform():
    with pytest.raises(ConfigError, match="transform must be callable"):
        AugmentedBatches(_dataset(), batch_size=4, transform="flip")


def test_trainer_resumes_an_augmented_run_exactly(tmp_path):
    from deepnotes.optim import SGD
    from deepnotes.train import TrainConfig, Trainer

    x, y = _dataset(40)
    y = y % 3

    def train(out, max_steps=None, resume=None):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3))
        data = AugmentedBatches((x, y), batch_size=8, transform=AUG, seed=4)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss(), data,
                          config=TrainConfig(epochs=4, max_steps=max_steps, out_dir=str(out),
                                             progress=False))
        trainer.fit(resume=resume)
        return model

    whole = train(tmp_path / "a")
    train(tmp_path / "b", max_steps=7)  # stops inside epoch 2 (5 batches per epoch)
    resumed = train(tmp_path / "b", resume=True)
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    # the same run without augmentation ends elsewhere: the augmentation was really applied
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3))
    Trainer(plain, SGD(plain.parameters(), lr=0.1), torch.nn.CrossEntropyLoss(),
            MiniBatches((x, y), batch_size=8, seed=4),
            config=TrainConfig(epochs=4, progress=False)).fit()
    assert not torch.equal(plain[1].weight, whole[1].weight)
