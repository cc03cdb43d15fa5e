r"""Training and measuring a variational auto-encoder on the Trainer.

The Trainer's default step computes ``loss_fn(model(x), y)``; a VAE's loss needs the code's
parameters and a sampled code, in training *and* in evaluation (the model's eval-mode forward
uses :math:`z = \mu`, which is not the ELBO). :func:`elbo_step` is that loss step:

.. math::
    (\mu, \log\sigma^2) = \mathrm{enc}(x), \quad z = \mu + \sigma \odot \varepsilon, \quad
    -\mathrm{ELBO} \approx \mathrm{BCE}(\mathrm{dec}(z), x) + \mathrm{KL}(q(z|x) \,\|\,
    \mathcal N(0, I))

so the history's ``loss`` columns are one-sample estimates of :math:`-\mathrm{ELBO}` (nats per
image) and ``recon`` / ``kl`` its two terms. :func:`fit_vae` trains with Adam and a cosine-
decayed learning rate and keeps the weights of the epoch with the lowest validation
:math:`-\mathrm{ELBO}` (the only choice made on the validation images);
:func:`evaluate_vae` measures a held-out set with a seeded generator.

Notes: N8 (reconstruction), N9 (a decoder that outputs a distribution).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data import MiniBatches
from deepnotes.errors import ConfigError
from deepnotes.functional.vae import elbo, reparameterize
from deepnotes.models import model_info
from deepnotes.optim import create_optimizer
from deepnotes.tasks.classification import Fit, cosine_over
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.callbacks import Callback

__all__ = ["BestWeights", "elbo_step", "evaluate_vae", "fit_vae"]

#: the history's extra columns: the two terms of −ELBO (the loss step's outputs)
METRICS = {"recon": lambda out, _: out[0], "kl": lambda out, _: out[1]}


def elbo_step(model: nn.Module, loss_fn: Any, batch: Any) -> tuple[Tensor, Any, Tensor]:
    """The Trainer's ``loss_step`` for a VAE: a batch ``(x, ...)`` (labels ignored) ->
    ``(-ELBO, (recon, kl), x)``, the code sampled in training and evaluation alike;
    ``loss_fn`` is :func:`~deepnotes.functional.vae.elbo`."""
    x = batch[0]
    mu, logvar = model.encode(x)  # (B, d), (B, d)
    # z = μ + σ ⊙ ε: the gradient reaches the encoder through the sample
    z = reparameterize(mu, logvar)  # (B, d)
    loss, recon, kl = loss_fn(model.decode(z), x, mu, logvar)
    return loss, (recon, kl), x


class BestWeights(Callback):
    """Keep a copy of the weights of the epoch with the lowest ``monitor`` (a validation
    column) and load them back when training ends; ``best_epoch`` says which epoch it was."""

    def __init__(self, monitor: str = "val_loss") -> None:
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = 0
        self._state: dict[str, Tensor] | None = None

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        value = float(row.get(self.monitor, math.nan))
        if value < self.best:  # NaN (no validation this epoch) never wins
            self.best, self.best_epoch = value, int(row["epoch"])
            self._state = copy.deepcopy(trainer.model.state_dict())

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._state is not None:
            trainer.model.load_state_dict(self._state)


def fit_vae(model: nn.Module, train_ds: Any, val_ds: Any, *, epochs: int = 30,
            lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
            progress: bool | None = None, device: str = "auto") -> tuple[Fit, int]:
    """Train ``model`` (a :class:`~deepnotes.models.vae.VAE`) on ``train_ds`` images by
    minimising the one-sample :math:`-\\mathrm{ELBO}` (Adam, ``lr`` decayed by a cosine to 0);
    validate on ``val_ds`` after each epoch and end with the best epoch's weights.

    ``train_ds`` and ``val_ds`` are datasets or tuples of tensors whose first tensor holds the
    images (values in [0, 1]).

    Returns:
        ``(fit, best_epoch)``; ``fit.test`` holds the best epoch's validation numbers
        (``loss``, ``recon``, ``kl``), ``fit.history`` one row per epoch.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    torch.manual_seed(seed)
    train_loader = MiniBatches(train_ds, batch_size=batch_size, shuffle=True, seed=seed)
    val_loader = MiniBatches(val_ds, batch_size=1024, shuffle=False)
    opt = create_optimizer("adam", model.parameters(), lr=lr)
    scheduler = cosine_over(epochs, len(train_loader))(opt)
    best = BestWeights("val_loss")
    cfg = TrainConfig(epochs=epochs, seed=seed, device=device, progress=progress,
                      checkpoint_every=0)
    trainer = Trainer(model, opt, elbo, train_loader, val_loader, scheduler=scheduler,
                      metrics=METRICS, config=cfg, model_info=model_info(model),
                      callbacks=(best,), loss_step=elbo_step)
    history = trainer.fit()
    row = history.rows[best.best_epoch - 1] if best.best_epoch else history.last()
    val = {k[len("val_"):]: v for k, v in row.items() if k.startswith("val_")}
    return Fit(model, history, trainer, val), best.best_epoch


@torch.no_grad()
def evaluate_vae(model: nn.Module, images: Tensor, generator: torch.Generator | None = None,
                 batch_size: int = 1000) -> dict[str, float]:
    r"""A VAE's numbers on ``images`` (values in [0, 1]), in eval mode.

    - ``neg_elbo``, ``recon``, ``kl``: the one-sample estimate of :math:`-\mathrm{ELBO}` and its
      terms, nats per image (codes drawn from ``generator``, so the numbers repeat);
    - ``mse``: per-pixel squared error of the reconstruction at the posterior mean,
      :math:`\frac1D \lVert \sigma(\mathrm{dec}(\mu(x))) - x \rVert^2`, averaged over images;
    - ``active_units``: code dimensions the encoder uses, :math:`\#\{j :
      \mathrm{Var}_x[\mu_j(x)] > 0.01\}` (Burda et al., 2016); a dimension whose mean never
      moves from the prior's carries no information (posterior collapse).
    """
    weight = next(model.parameters())
    was_training = model.training
    model.eval()
    sums = {"neg_elbo": 0.0, "recon": 0.0, "kl": 0.0, "mse": 0.0}
    mus = []
    try:
        for i in range(0, images.shape[0], batch_size):
            x = images[i:i + batch_size].to(device=weight.device, dtype=weight.dtype)
            mu, logvar = model.encode(x)  # (B, d), (B, d)
            z = reparameterize(mu, logvar, generator=generator)  # (B, d)
            loss, recon, kl = elbo(model.decode(z), x, mu, logvar)
            # ‖σ(dec(μ)) − x‖² / D per image, summed over the batch
            err = (torch.sigmoid(model.decode(mu)) - x).pow(2).flatten(1).mean(dim=1)  # (B,)
            n = x.shape[0]
            for key, value in (("neg_elbo", loss), ("recon", recon), ("kl", kl)):
                sums[key] += float(value) * n
            sums["mse"] += float(err.sum())
            mus.append(mu.cpu())
    finally:
        model.train(was_training)
    out = {k: v / images.shape[0] for k, v in sums.items()}
    out["active_units"] = float((torch.cat(mus).var(dim=0) > 0.01).sum())
    return out
