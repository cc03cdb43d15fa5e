"""CycleGAN on Fashion-MNIST: sneakers into ankle boots and back, from unpaired images.

Claim (notes N7, N5): two generators trained on two unpaired sets, the training sneakers
(domain X) and the training ankle boots (domain Y), each shuffled on its own, learn to
translate between the domains: our classifier labels most translated test sneakers as ankle
boots and most translated test ankle boots as sneakers (the untranslated inputs: almost never),
the FID of the translations to the real test images of the target class falls far below that
of the untranslated inputs towards the real floor of that class, and the cycle-consistency
term keeps the translation invertible: translating there and back returns the input with a
small per-pixel error, far below that of the untrained pair. No pair (this sneaker, that
boot) is ever shown; the cycle term is what ties each output to its input.

Notes: N7 (CycleGAN: adversarial, cycle-consistency and identity terms; unpaired data),
N5 (classifier label rate and FID of generated images, next to the real floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError
from deepnotes.figures import image_grid, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.runtime import resolve_device
from deepnotes.tasks.cyclegan import train_cyclegan
from deepnotes.tasks.image_features import feature_classifier, fid_images, image_probs
from deepnotes.tasks.image_generation import CLASS_NAMES, load_images
from deepnotes.train.checkpoint import save_model

NAME = "cyclegan"
SUMMARY = ("CycleGAN between Fashion-MNIST sneakers and ankle boots from unpaired images: "
           "classifier target rate, FID next to the floor, cycle error, pairs (N7, N5)")
CONCEPTS = ("N7", "N5")


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "train_per_class": 600, "updates": 60, "batch_size": 16, "width": 8, "blocks": 1,
        "disc_width": 8, "classifier_epochs": 1, "classifier_images": 3000}

    classes: tuple[int, int] = (7, 9)  # domain X, domain Y (Fashion-MNIST: sneaker, ankle boot)
    train_per_class: int | None = None  # training images per domain (None: all 6,000)
    updates: int = 3000  # updates of both generators (each followed by one of both critics)
    batch_size: int = 32  # images of each domain per update
    width: int = 32  # generator channel base (2·width at 7 × 7)
    blocks: int = 2  # residual blocks of each generator
    disc_width: int = 32  # DCGAN discriminator channel base (no norm: per-sample LSGAN loss)
    lr: float = 2e-4  # Adam's learning rate, betas (0.5, 0.999), for all four networks
    lambda_cycle: float = 10.0  # weight of the cycle-consistency term (the paper: 10)
    lambda_identity: float = 5.0  # weight of the identity term (the paper's code: 5)
    pairs: int = 8  # test images per direction in the figure of pairs
    classifier_epochs: int = 5  # epochs of the FID classifier (cached under the data home)
    classifier_images: int | None = None  # its training images (None: all 60,000, cached)
    device: str = "cpu"  # cpu | cuda | auto


@torch.no_grad()
def _translate(net: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """``net`` over ``images`` (in [-1, 1]) in eval mode, on its device; results on the CPU."""
    net.eval()
    device = next(net.parameters()).device
    return torch.cat([net(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


def _to01(images: Tensor) -> Tensor:
    return ((images + 1) / 2).clamp(0, 1)  # [-1, 1] → [0, 1], the classifier's range


def _cycle_l1(there: nn.Module, back: nn.Module, images: Tensor) -> tuple[float, Tensor, Tensor]:
    """Per-pixel L1 of back(there(x)) − x on the [0, 1] scale, and the two outputs."""
    out = _translate(there, images)
    rec = _translate(back, out)
    return float((_to01(rec) - _to01(images)).abs().mean()), out, rec


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if (len(cfg.classes) != 2 or cfg.classes[0] == cfg.classes[1]
            or not all(0 <= c < 10 for c in cfg.classes)):
        raise ConfigError(f"classes must be two different Fashion-MNIST classes in 0..9, got "
                          f"{cfg.classes}")
    cx, cy = cfg.classes
    if cfg.pairs < 1:
        raise ConfigError(f"pairs must be >= 1, got {cfg.pairs}")
    name_x, name_y = CLASS_NAMES[cx], CLASS_NAMES[cy]
    if cfg.classifier_images is None:
        clf = feature_classifier(epochs=cfg.classifier_epochs, device="cpu")
    else:  # quick runs: a small classifier of the run's own, never the shared cache
        clf = feature_classifier(out_dir / "fid-classifier.safetensors",
                                 epochs=cfg.classifier_epochs, limit=cfg.classifier_images,
                                 device="cpu")
    train, train_lab = load_images("train", classes=(cx, cy))
    test, test_lab = load_images("test", classes=(cx, cy))
    train_x, train_y = train[train_lab == cx], train[train_lab == cy]  # 6,000 each
    xs, ys = train_x[:cfg.train_per_class], train_y[:cfg.train_per_class]
    x_test, y_test = test[test_lab == cx], test[test_lab == cy]  # about 1,000 each

    G = create("cyclegan-generator", width=cfg.width, blocks=cfg.blocks)  # X → Y
    F = create("cyclegan-generator", width=cfg.width, blocks=cfg.blocks)  # Y → X
    D_x = create("dcgan-discriminator", width=cfg.disc_width, norm="none")
    D_y = create("dcgan-discriminator", width=cfg.disc_width, norm="none")
    # the untrained pair's cycle error: what the cycle term starts from
    untrained_x = _cycle_l1(G, F, x_test)[0]
    untrained_y = _cycle_l1(F, G, y_test)[0]

    r = train_cyclegan(G, F, D_x, D_y, xs, ys, updates=cfg.updates, batch_size=cfg.batch_size,
                       lr=cfg.lr, lambda_cycle=cfg.lambda_cycle,
                       lambda_identity=cfg.lambda_identity, seed=cfg.seed,
                       log_every=max(1, cfg.updates // 50), device=resolve_device(cfg.device))
    G.cpu(), F.cpu()
    cyc_x, x_to_y, x_back = _cycle_l1(G, F, x_test)
    cyc_y, y_to_x, y_back = _cycle_l1(F, G, y_test)

    def rate(images: Tensor, cls: int) -> float:
        # share of the images our classifier labels as class cls
        return float((image_probs(clf, _to01(images)).argmax(1) == cls).float().mean())

    x01, y01 = _to01(x_test), _to01(y_test)
    metrics: dict[str, float] = {
        "x_to_y_target_rate": rate(x_to_y, cy), "y_to_x_target_rate": rate(y_to_x, cx),
        "x_input_target_rate": rate(x_test, cy), "y_input_target_rate": rate(y_test, cx),
        "x_input_source_rate": rate(x_test, cx), "y_input_source_rate": rate(y_test, cy),
        "x_cycle_l1": cyc_x, "y_cycle_l1": cyc_y,
        "untrained_x_cycle_l1": untrained_x, "untrained_y_cycle_l1": untrained_y,
        # how much a translation changes its input (0 for the identity map)
        "x_to_y_change_l1": float((_to01(x_to_y) - x01).abs().mean()),
        "y_to_x_change_l1": float((_to01(y_to_x) - y01).abs().mean()),
        # FID to the target class's test images: translations, untranslated inputs, real floor
        "x_to_y_fid": fid_images(clf, _to01(x_to_y), y01),
        "y_to_x_fid": fid_images(clf, _to01(y_to_x), x01),
        # untranslated inputs against the target class (FID is symmetric: one number)
        "untranslated_fid": fid_images(clf, x01, y01),
        "y_floor_fid": fid_images(clf, _to01(train_y[:len(y_test)]), y01),
        "x_floor_fid": fid_images(clf, _to01(train_x[:len(x_test)]), x01),
        "test_images_x": float(len(x_test)), "test_images_y": float(len(y_test)),
        "updates": float(r.updates), "train_seconds": r.seconds}
    save_model(G, out_dir / "generators" / "x-to-y")
    save_model(F, out_dir / "generators" / "y-to-x")

    k = min(cfg.pairs, len(x_test), len(y_test))
    grid = torch.cat([x_test[:k], x_to_y[:k], x_back[:k], y_test[:k], y_to_x[:k], y_back[:k]])
    figures = [image_grid(_to01(grid), out_dir / "cyclegan_pairs.png", nrow=k,
                          title="test images: input, translated, translated back",
                          row_labels=[name_x, f"→ {name_y}", f"→ {name_x}", name_y,
                                      f"→ {name_x}", f"→ {name_y}"])]
    fig, axes = subplots(1, 3, figsize=(12, 3.6))
    steps = [h["update"] for h in r.history]
    for ax, keys, title in (
            (axes[0], ("adv_g", "adv_f"), "generators' adversarial terms (LSGAN)"),
            (axes[1], ("d_x", "d_y"), "discriminators' losses (LSGAN)"),
            (axes[2], ("cycle", "identity"), "cycle and identity terms (L1)")):
        for key in keys:
            ax.plot(steps, [h[key] for h in r.history], label=key)
        ax.set(xlabel="update", title=title)
        ax.legend(fontsize=8)
    figures.append(save_figure(fig, out_dir / "cyclegan_losses.png"))

    m = metrics
    claim = (f"Trained on unpaired {name_x.lower()}s and {name_y.lower()}s, our classifier "
             f"labels {m['x_to_y_target_rate']:.1%} of the translated test {name_x.lower()}s "
             f"as {name_y.lower()}s and {m['y_to_x_target_rate']:.1%} of the translated "
             f"{name_y.lower()}s as {name_x.lower()}s (untranslated: "
             f"{m['x_input_target_rate']:.1%}, {m['y_input_target_rate']:.1%}); FID to the "
             f"target class {m['x_to_y_fid']:.2f} and {m['y_to_x_fid']:.2f} (untranslated "
             f"{m['untranslated_fid']:.2f}, real floor "
             f"{m['y_floor_fid']:.2f} and {m['x_floor_fid']:.2f}); there and back the images "
             f"differ from the inputs by {m['x_cycle_l1']:.3f} and {m['y_cycle_l1']:.3f} per "
             f"pixel (untrained pair {m['untrained_x_cycle_l1']:.3f}, "
             f"{m['untrained_y_cycle_l1']:.3f}).")
    rows = [{"direction": f"{name_x} → {name_y}", "target_rate": round(m["x_to_y_target_rate"], 4),
             "input_target_rate": round(m["x_input_target_rate"], 4),
             "fid": round(m["x_to_y_fid"], 3), "input_fid": round(m["untranslated_fid"], 3),
             "real_floor": round(m["y_floor_fid"], 3), "cycle_l1": round(m["x_cycle_l1"], 4),
             "change_l1": round(m["x_to_y_change_l1"], 4)},
            {"direction": f"{name_y} → {name_x}", "target_rate": round(m["y_to_x_target_rate"], 4),
             "input_target_rate": round(m["y_input_target_rate"], 4),
             "fid": round(m["y_to_x_fid"], 3), "input_fid": round(m["untranslated_fid"], 3),
             "real_floor": round(m["x_floor_fid"], 3), "cycle_l1": round(m["y_cycle_l1"], 4),
             "change_l1": round(m["y_to_x_change_l1"], 4)}]
    return LessonResult(NAME, metrics, figures, r.history, claim=claim,
                        tables={"directions": rows}, checkpoint=str(out_dir / "generators"))
