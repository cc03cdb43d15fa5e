"""GANs on toy data: why JS fails on disjoint supports, mode collapse, and why a generator
needs noise.

Claim (notes N1, N2, N3, N4, N9), in three parts on 2-D data where everything can be seen:

1. **Disjoint supports** (the WGAN paper's parallel lines): real points lie on the line
   x = 0, generated ones on x = θ. For every θ ≠ 0 a trained discriminator separates them, its
   JS estimate sits at log 2 ≈ 0.693 whatever θ is, and the minimax generator loss gives θ
   (almost) no gradient; a gradient-penalised critic's Wasserstein estimate grows like |θ| and
   its gradient keeps pointing to θ = 0.
2. **Mode collapse** (N1, N4): on a ring of 8 and a grid of 25 Gaussians, a plain GAN and a
   WGAN-GP with the same networks and the same number of generator updates: the modes the
   samples visit (nearest mode, a quarter of a fair share at least), the modes covered sharply
   (as many samples within 3σ) and the share of samples within 3σ of a mode. What these show at
   this CPU budget is in docs/results.md; the test asserts parts 1 and 3 only.
3. **One input, many right outputs** (N9): for each of 8 inputs x the right answers are y =
   ±√(1 − x²). A network trained with MSE outputs their mean, 0, which is never right; a
   conditional generator with noise draws right answers from both branches.

Notes: N1 (alternating D and G updates), N2 (JS stuck at log 2), N3 (Wasserstein critic),
N4 (gradient penalty), N9 (noise in, a distribution out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from deepnotes.data import ArrayDataset
from deepnotes.data.synthetic import gaussian_grid, gaussian_ring
from deepnotes.figures import save_figure, subplots
from deepnotes.functional import gan as G
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import mode_coverage
from deepnotes.models import create
from deepnotes.nn import MSELoss
from deepnotes.tasks.classification import fit_model
from deepnotes.tasks.gan import fit_discriminator, train_gan

NAME = "gan-toy"
SUMMARY = ("toy GANs: JS stuck at log 2 on disjoint supports vs a useful Wasserstein gradient; "
           "mode collapse on Gaussian mixtures; noise for many right answers (N2, N3, N9)")
CONCEPTS = ("N1", "N2", "N3", "N4", "N9")

_MIXTURES = {"ring": (gaussian_ring, 0.02), "grid": (gaussian_grid, 0.05)}


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "thetas": (-1.0, -0.3, 0.0, 0.3, 1.0), "probe_steps": 150, "updates": 150,
        "mixtures": ("ring",), "samples": 1000, "cond_updates": 300, "reg_epochs": 30}

    # part 1: parallel lines
    thetas: tuple[float, ...] = (-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0)  # offsets
    probe_steps: int = 400  # discriminator / critic updates at each θ
    probe_batch: int = 256  # points of each line per update
    # part 2: mixtures
    mixtures: tuple[str, ...] = ("ring", "grid")  # ring (8 modes, σ 0.02) | grid (25, σ 0.05)
    methods: tuple[str, ...] = ("gan", "wgan-gp")  # compared with the same networks
    updates: int = 5000  # generator updates per mixture and method
    batch_size: int = 256  # points per batch
    hidden: int = 128  # width of the two hidden layers of G and D
    latent_dim: int = 8  # noise size
    lr_gan: float = 1e-3  # Adam learning rate of the plain GAN (G and D)
    lr_wgan: float = 1e-3  # Adam learning rate of the WGAN-GP (G and critic)
    train_points: int = 50000  # points drawn from each mixture for training
    samples: int = 2500  # generated points scored for mode coverage
    # part 3: many right answers
    conditions: int = 8  # inputs x, evenly spaced in [-0.8, 0.8]
    cond_updates: int = 2000  # generator updates of the conditional GAN
    reg_epochs: int = 200  # epochs of the MSE regressor


def _line(n: int, theta: float, g: torch.Generator) -> torch.Tensor:
    """n points (θ, u), u ~ U[0, 1]: a vertical segment at x = θ."""
    return torch.stack([torch.full((n,), theta), torch.rand(n, generator=g)], 1)  # (n, 2)


def _probe(cfg: Config, theta: float, seed: int) -> dict[str, float]:
    """Fit a discriminator and a critic between the lines x = 0 and x = θ; their estimates and
    the generator's gradient dL_G/dθ through each."""
    g = torch.Generator().manual_seed(seed)
    real = lambda: _line(cfg.probe_batch, 0.0, g)  # noqa: E731
    fake = lambda: _line(cfg.probe_batch, theta, g)  # noqa: E731
    row: dict[str, float] = {"theta": theta}
    for method in ("gan", "wgan-gp"):
        torch.manual_seed(seed)
        disc = create("mlp-discriminator", in_shape=(2,), hidden=(64, 64))
        row.update({f"{method}_{k}": v for k, v in fit_discriminator(
            disc, real, fake, method=method, steps=cfg.probe_steps).items()})
        # the generator's gradient: move the fake line, θ → θ + dθ
        th = torch.tensor(theta, requires_grad=True)
        pts = torch.stack([th.expand(4096), torch.rand(4096, generator=g)], 1)
        scores = disc(pts)
        if method == "gan":
            (d_mm,) = torch.autograd.grad(G.generator_loss(scores, "minimax"), th,
                                          retain_graph=True)
            (d_ns,) = torch.autograd.grad(G.generator_loss(scores), th)
            row.update(gan_grad_minimax=float(d_mm), gan_grad_nonsat=float(d_ns))
        else:
            (d_w,) = torch.autograd.grad(-scores.mean(), th)
            row["wgan_grad"] = float(d_w)
    return row


def _parallel_lines(cfg: Config, out: Path) -> tuple[dict[str, float], list[dict], str]:
    rows = [_probe(cfg, t, cfg.seed + i) for i, t in enumerate(cfg.thetas)]
    off = [r for r in rows if r["theta"] != 0]
    at0 = [r for r in rows if r["theta"] == 0]
    w = torch.tensor([r["wgan-gp_wasserstein"] for r in off])
    a = torch.tensor([abs(r["theta"]) for r in off])
    # a gradient "points home" when stepping against it moves θ towards 0: sign(dL/dθ) = sign θ
    home = [math.copysign(1, r["wgan_grad"]) == math.copysign(1, r["theta"]) for r in off]
    m = {"js_mean_off_zero": sum(r["gan_js"] for r in off) / len(off),
         "js_min_off_zero": min(r["gan_js"] for r in off),
         "js_at_zero": at0[0]["gan_js"] if at0 else float("nan"),
         "minimax_grad_abs_max": max(abs(r["gan_grad_minimax"]) for r in off),
         # far from the data (|θ| >= 0.5) the saturated discriminator leaves it nothing
         "minimax_grad_abs_far": max(abs(r["gan_grad_minimax"]) for r in off
                                     if abs(r["theta"]) >= 0.5),
         "nonsat_grad_abs_mean": sum(abs(r["gan_grad_nonsat"]) for r in off) / len(off),
         "wasserstein_corr_abs_theta": float(torch.corrcoef(torch.stack([w, a]))[0, 1]),
         "wasserstein_over_abs_theta": float((w / a).mean()),
         "wgan_grad_abs_mean": sum(abs(r["wgan_grad"]) for r in off) / len(off),
         "wgan_grad_points_home": sum(home) / len(home)}
    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 3.8))
    th = [r["theta"] for r in rows]
    ax1.plot(th, [r["gan_js"] for r in rows], "o-", label="JS estimate (GAN discriminator)")
    ax1.plot(th, [r["wgan-gp_wasserstein"] for r in rows], "s-",
             label="Wasserstein estimate (WGAN-GP critic)")
    ax1.axhline(math.log(2), color="grey", ls=":", label="log 2")
    ax1.set(xlabel="θ (offset of the generated line)", ylabel="estimate",
            title="Two lines, x = 0 and x = θ")
    ax1.legend(fontsize=8)
    ax2.plot(th, [r["gan_grad_minimax"] for r in rows], "o-", label="minimax GAN dL_G/dθ")
    ax2.plot(th, [r["wgan_grad"] for r in rows], "s-", label="WGAN dL_G/dθ")
    ax2.set(xlabel="θ", ylabel="generator gradient", title="What the generator learns")
    ax2.legend(fontsize=8)
    return m, rows, save_figure(fig, out / "gan_toy_lines.png")


def _mixtures(cfg: Config, out: Path) -> tuple[dict[str, float], list[dict], list[dict], str]:
    metrics: dict[str, float] = {}
    rows, history = [], []
    shown: dict[tuple[str, str], torch.Tensor] = {}
    centers_of = {}
    for mix in cfg.mixtures:
        draw, std = _MIXTURES[mix]
        g = torch.Generator().manual_seed(cfg.seed)
        data, centers = draw(cfg.train_points, generator=g)
        centers_of[mix] = centers
        for method in cfg.methods:
            torch.manual_seed(cfg.seed)
            gen = create("mlp-generator", latent_dim=cfg.latent_dim, out_shape=(2,),
                         hidden=(cfg.hidden, cfg.hidden), output="linear")
            disc = create("mlp-discriminator", in_shape=(2,), hidden=(cfg.hidden, cfg.hidden))
            lr = cfg.lr_gan if method == "gan" else cfg.lr_wgan
            r = train_gan(gen, disc, data, method=method, updates=cfg.updates,
                          batch_size=cfg.batch_size, lr_g=lr, lr_d=lr, seed=cfg.seed,
                          log_every=max(1, cfg.updates // 20), progress=False)
            history += [{"mixture": mix, "method": method, **h} for h in r.history]
            with torch.no_grad():
                z = torch.randn(cfg.samples, cfg.latent_dim,
                                generator=torch.Generator().manual_seed(cfg.seed + 7))
                pts = gen(z)
            cov = mode_coverage(pts, centers, std)
            shown[mix, method] = pts
            rows.append({"mixture": mix, "method": method, "updates": r.updates,
                         "train_seconds": round(r.seconds, 1), **cov})
            key = f"{mix}_{method.replace('-', '_')}"
            metrics[f"{key}_modes_covered"] = cov["modes_covered"]
            metrics[f"{key}_modes_visited"] = cov["modes_visited"]
            metrics[f"{key}_kl_nearest"] = cov["kl_nearest_to_uniform"]
            metrics[f"{key}_high_quality"] = cov["high_quality_share"]
            metrics[f"{key}_modes_total"] = cov["modes_total"]
    fig, axes = subplots(len(cfg.mixtures), len(cfg.methods),
                         figsize=(4 * len(cfg.methods), 4 * len(cfg.mixtures)), squeeze=False)
    for i, mix in enumerate(cfg.mixtures):
        for j, method in enumerate(cfg.methods):
            ax, pts, c = axes[i][j], shown[mix, method], centers_of[mix]
            ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, label="generated")
            ax.scatter(c[:, 0], c[:, 1], s=30, marker="x", color="red", label="modes")
            row = next(r for r in rows if r["mixture"] == mix and r["method"] == method)
            ax.set_title(f"{mix}, {method}: {int(row['modes_visited'])}/"
                         f"{int(row['modes_total'])} modes visited,\n"
                         f"{int(row['modes_covered'])} sharp, "
                         f"{row['high_quality_share']:.0%} of points within 3σ", fontsize=9)
            ax.set_aspect("equal")
    return metrics, rows, history, save_figure(fig, out / "gan_toy_mixtures.png")


def _many_answers(cfg: Config, out: Path) -> tuple[dict[str, float], list[dict], str]:
    k = cfg.conditions
    xs = torch.linspace(-0.8, 0.8, k)
    g = torch.Generator().manual_seed(cfg.seed)
    n = 4000
    labels = torch.arange(n) % k
    branch = torch.randint(0, 2, (n,), generator=g) * 2 - 1  # ±1 with equal chance
    # y = ±√(1 − x²) (+ a little noise): two right answers for every x
    y = (branch * torch.sqrt(1 - xs[labels] ** 2)
         + 0.02 * torch.randn(n, generator=g)).unsqueeze(1)  # (n, 1)
    # a deterministic network trained with MSE: f(onehot(x)) ≈ E[y | x] = 0
    torch.manual_seed(cfg.seed)
    reg = create("mlp", in_features=k, hidden=(64, 64), num_classes=1)
    onehot = torch.nn.functional.one_hot(labels, k).float()
    fit_model(reg, MSELoss(), ArrayDataset(onehot, y, name="two-branches", task="regression"),
              None, optimizer="adam", lr=1e-3, epochs=cfg.reg_epochs, batch_size=256,
              seed=cfg.seed, progress=False, device="cpu")
    # a conditional generator G(z, x) against a conditional discriminator D(y, x)
    torch.manual_seed(cfg.seed)
    gen = create("mlp-generator", latent_dim=2, out_shape=(1,), hidden=(64, 64),
                 num_classes=k, output="linear")
    disc = create("mlp-discriminator", in_shape=(1,), hidden=(64, 64), num_classes=k)
    train_gan(gen, disc, y, labels, method="gan", updates=cfg.cond_updates, batch_size=256,
              lr_g=1e-3, lr_d=1e-3, seed=cfg.seed, progress=False)
    m_test = 500 * k
    lab = torch.arange(m_test) % k
    right = torch.sqrt(1 - xs[lab] ** 2)  # |right answer| for each query
    with torch.no_grad():
        pred_reg = reg(torch.nn.functional.one_hot(lab, k).float()).squeeze(1)
        pred_gen = gen(torch.randn(m_test, 2, generator=torch.Generator().manual_seed(5)),
                       lab).squeeze(1)

    def is_right(p: torch.Tensor) -> torch.Tensor:  # within 0.1 of +r or −r
        return (p.abs() - right).abs() < 0.1

    ok_gen = is_right(pred_gen)
    upper = (pred_gen[ok_gen] > 0).float().mean() if ok_gen.any() else torch.tensor(0.0)
    m = {"mse_right_share": float(is_right(pred_reg).float().mean()),
         "mse_mean_abs_output": float(pred_reg.abs().mean()),
         "generator_right_share": float(ok_gen.float().mean()),
         "generator_upper_branch_share": float(upper)}
    rows = [{"x": round(float(xs[c]), 3), "right_answer": round(float(right[c]), 3),
             "mse_output": round(float(pred_reg[lab == c].mean()), 3),
             "generator_right_share": round(float(ok_gen[lab == c].float().mean()), 3),
             "generator_upper_share": round(float((pred_gen[(lab == c) & ok_gen] > 0)
                                                  .float().mean()), 3)
             if (ok_gen & (lab == c)).any() else 0.0} for c in range(k)]
    fig, ax = subplots(figsize=(5, 4.5))
    t = torch.linspace(-1, 1, 200)
    ax.plot(t, torch.sqrt(1 - t ** 2), color="grey", lw=1, label="right answers")
    ax.plot(t, -torch.sqrt(1 - t ** 2), color="grey", lw=1)
    ax.scatter(xs[lab] + 0.01 * torch.randn(m_test), pred_gen, s=3, alpha=0.3,
               label="conditional generator")
    ax.scatter(xs, [r["mse_output"] for r in rows], s=60, marker="D", color="red",
               label="MSE network")
    ax.set(xlabel="input x", ylabel="output y", title="One input, two right outputs")
    ax.legend(fontsize=8)
    return m, rows, save_figure(fig, out / "gan_toy_many_answers.png")


def run(cfg: Config, out_dir: Path) -> LessonResult:
    from deepnotes.errors import ConfigError

    unknown = [m for m in cfg.mixtures if m not in _MIXTURES]
    if unknown:
        raise ConfigError(f"mixtures must be among {sorted(_MIXTURES)}, got {unknown}")
    far = {abs(t) for t in cfg.thetas if abs(t) >= 0.5}
    if len({abs(t) for t in cfg.thetas if t != 0}) < 2 or not far:
        raise ConfigError(f"thetas needs at least two different non-zero sizes |θ|, one of them "
                          f">= 0.5, got {cfg.thetas}")
    m1, lines, fig1 = _parallel_lines(cfg, out_dir)
    m2, mixtures, history, fig2 = _mixtures(cfg, out_dir)
    m3, answers, fig3 = _many_answers(cfg, out_dir)
    metrics = {**m1, **m2, **m3}
    claim = (f"Parallel lines: the JS estimate stays at {m1['js_mean_off_zero']:.3f} (log 2 = "
             f"0.693) for every θ ≠ 0 and the minimax generator gradient is at most "
             f"{m1['minimax_grad_abs_far']:.1e} for |θ| ≥ 0.5 (the non-saturating one "
             f"{m1['nonsat_grad_abs_mean']:.0f} on average: it explodes instead), while the "
             f"WGAN-GP critic's estimate tracks |θ| "
             f"(correlation {m1['wasserstein_corr_abs_theta']:.3f}) with a gradient pointing "
             f"home in {m1['wgan_grad_points_home']:.0%} of cases. Mixtures: "
             + "; ".join(f"{r['mixture']} {r['method']} visits {int(r['modes_visited'])}/"
                         f"{int(r['modes_total'])} modes ({int(r['modes_covered'])} sharp, "
                         f"{r['high_quality_share']:.0%} of points within 3σ)"
                         for r in mixtures)
             + f". Two right answers per input: the MSE network is right "
             f"{m3['mse_right_share']:.0%} of the time (it outputs their mean), the conditional "
             f"generator {m3['generator_right_share']:.0%}, upper branch "
             f"{m3['generator_upper_branch_share']:.0%}.")
    return LessonResult(NAME, metrics, [fig1, fig2, fig3], history, claim=claim,
                        tables={"parallel_lines": lines, "mixtures": mixtures,
                                "many_answers": answers})
