r"""Gradients, Hessians and their eigenvalues for a loss given as a closure over parameters.

Near a critical point :math:`\theta'` (where :math:`\nabla L(\theta') = 0`) the Taylor expansion
of the loss is

.. math::
    L(\theta) \approx L(\theta') + (\theta-\theta')^\top g
        + \tfrac12 (\theta-\theta')^\top H (\theta-\theta'),

with :math:`g = \nabla L(\theta')` and
:math:`H_{ij} = \partial^2 L / \partial\theta_i\partial\theta_j`. With :math:`g = 0` the sign
pattern of :math:`H`'s eigenvalues decides the kind of point: all positive → local minimum,
all negative → local maximum, both signs → saddle point. Along a unit eigenvector :math:`u`
with eigenvalue :math:`\lambda < 0`,
:math:`L(\theta' + \alpha u) \approx L(\theta') + \tfrac12\alpha^2\lambda < L(\theta')`, so a
saddle can be escaped along :math:`u`.

Everything here works on a *closure* (a function of no arguments that computes the loss from
the current values of ``params``, as for :meth:`torch.optim.Optimizer.step`) and ``params`` (a
list of tensors that require grad, or an ``nn.Module``). Parameters are seen as one flat vector
:math:`\theta \in \mathbb{R}^P` in the order given. Small nets get the exact :math:`P \times P`
Hessian (:func:`hessian`); large ones get Hessian-vector products (:func:`hvp`) and the extreme
eigenvalues from :func:`lanczos`.

Example:
    >>> x = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    >>> saddle = lambda: x[0] ** 2 - x[1] ** 2
    >>> eigs = torch.linalg.eigvalsh(hessian(saddle, [x]))
    >>> eigs.tolist(), classify_critical_point(eigs)
    ([-2.0, 2.0], 'saddle point')

Notes: O1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError

__all__ = [
    "Closure", "CriticalPoint", "LanczosResult", "analyse_critical_point",
    "classify_critical_point", "escape_direction", "extreme_eigenpairs", "flat_gradient",
    "flatten", "get_flat_params", "gradient_norm", "hessian", "hessian_operator", "hvp",
    "lanczos", "minimum_ratio", "model_closure", "parameters_of", "set_flat_params",
    "taylor_quadratic", "unflatten",
]

Closure = Callable[[], Tensor]


def parameters_of(params: Iterable[Tensor] | nn.Module) -> list[Tensor]:
    """The list of tensors to differentiate: a module's parameters that require grad, or
    the given tensors (each must require grad)."""
    if isinstance(params, nn.Module):
        out = [p for p in params.parameters() if p.requires_grad]
    else:
        out = [params] if isinstance(params, Tensor) else list(params)
    if not out:
        raise ConfigError("no parameters to differentiate; pass tensors that require grad.")
    for i, p in enumerate(out):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ConfigError(f"parameter {i} ({type(p).__name__}) does not require grad; "
                              f"create it with requires_grad=True.")
    return out


def flatten(tensors: Iterable[Tensor]) -> Tensor:
    """Concatenate tensors into one vector :math:`\\theta = [\\text{vec}(W_1); \\ldots]`."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: Tensor, like: Iterable[Tensor]) -> list[Tensor]:
    """Split a flat vector back into tensors shaped like ``like`` (the inverse of
    :func:`flatten`)."""
    like = list(like)
    total = sum(t.numel() for t in like)
    if vector.ndim != 1 or vector.numel() != total:
        raise ShapeError(f"flat vector has shape {tuple(vector.shape)}; expected ({total},) "
                         f"for parameters of {total} numbers.")
    return [chunk.view_as(t) for chunk, t in zip(vector.split([t.numel() for t in like]), like)]


def get_flat_params(params: Iterable[Tensor] | nn.Module) -> Tensor:
    """A detached copy of the parameters as one vector."""
    return flatten(p.detach() for p in parameters_of(params)).clone()


def set_flat_params(params: Iterable[Tensor] | nn.Module, vector: Tensor) -> None:
    """Write a flat vector into the parameters in place (θ ← vector)."""
    ps = parameters_of(params)
    with torch.no_grad():
        for p, v in zip(ps, unflatten(vector.to(ps[0]), ps)):
            p.copy_(v)


def model_closure(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor,
                  y: Tensor) -> Closure:
    """The closure ``L(θ) = loss_fn(model(x), y)`` on a fixed batch (e.g. the whole set)."""
    return lambda: loss_fn(model(x), y)


def _grads(loss: Tensor, ps: list[Tensor], create_graph: bool) -> list[Tensor]:
    if loss.ndim != 0:
        raise ShapeError(f"the closure must return a scalar loss, got shape {tuple(loss.shape)}.")
    if not loss.requires_grad:  # the loss does not depend on the parameters
        return [torch.zeros_like(p) for p in ps]
    gs = torch.autograd.grad(loss, ps, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, ps)]


def flat_gradient(closure: Closure, params: Iterable[Tensor] | nn.Module) -> Tensor:
    """:math:`g = \\nabla_\\theta L(\\theta)` as one detached vector of length P."""
    ps = parameters_of(params)
    return flatten(_grads(closure(), ps, create_graph=False)).detach()


def gradient_norm(closure: Closure, params: Iterable[Tensor] | nn.Module) -> float:
    """:math:`\\|\\nabla_\\theta L(\\theta)\\|_2` (it is ≈ 0 at a critical point)."""
    return float(flat_gradient(closure, params).norm())


def hessian_operator(closure: Closure, params: Iterable[Tensor] | nn.Module
                     ) -> Callable[[Tensor], Tensor]:
    r"""A function ``v ↦ H v`` that reuses one gradient graph (double backward).

    .. math:: H v = \nabla_\theta\big(\nabla_\theta L(\theta)^\top v\big)

    The gradient is built once with ``create_graph=True``; each product is one more backward
    pass through it, so a product costs about two gradient evaluations. The operator sees the
    parameters as they were when it was made.
    """
    ps = parameters_of(params)
    g = flatten(_grads(closure(), ps, create_graph=True))  # (P,)
    return _matvec_on(g, ps)


def _matvec_on(g: Tensor, ps: list[Tensor]) -> Callable[[Tensor], Tensor]:
    """``v ↦ ∇(gᵀv)`` for a gradient ``g`` built with ``create_graph=True``."""
    if not g.requires_grad:  # L is linear in θ: H = 0
        return lambda v: torch.zeros_like(g)

    def matvec(v: Tensor) -> Tensor:
        if v.shape != g.shape:
            raise ShapeError(f"vector has shape {tuple(v.shape)}; expected {tuple(g.shape)}.")
        # H v = ∇(gᵀ v), v held constant
        hv = torch.autograd.grad(g, ps, grad_outputs=v.to(g).detach(), retain_graph=True,
                                 allow_unused=True)
        return flatten(torch.zeros_like(p) if h is None else h for h, p in zip(hv, ps)).detach()

    return matvec


def hvp(closure: Closure, params: Iterable[Tensor] | nn.Module, v: Tensor) -> Tensor:
    """One Hessian-vector product :math:`Hv` without forming :math:`H` (see
    :func:`hessian_operator`)."""
    return hessian_operator(closure, params)(v)


def hessian(closure: Closure, params: Iterable[Tensor] | nn.Module, vectorize: bool = True
            ) -> Tensor:
    r"""The exact Hessian :math:`H_{ij} = \partial^2 L/\partial\theta_i\partial\theta_j`, (P, P).

    Row :math:`i` is the gradient of :math:`g_i = \partial L/\partial\theta_i` (double backward),
    i.e. :math:`H e_i`: P backward passes, done as one batched pass (``vectorize=True``,
    through ``torch.vmap``; one at a time if an op cannot be batched) or in a readable loop
    (``vectorize=False``). Use it for nets of up to a few thousand parameters. The result is
    symmetric up to rounding.

    Example:
        >>> w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
        >>> hessian(lambda: w[0] ** 2 * w[1], [w])
        tensor([[4., 2.],
                [2., 0.]], dtype=torch.float64)
    """
    ps = parameters_of(params)
    g = flatten(_grads(closure(), ps, create_graph=True))  # (P,)
    P = g.numel()
    if not g.requires_grad:  # L is linear in θ
        return g.new_zeros(P, P)
    eye = torch.eye(P, dtype=g.dtype, device=g.device)
    if vectorize:
        try:
            # all P products H e_i in one batched backward (torch.vmap over grad_outputs)
            rows = torch.autograd.grad(g, ps, grad_outputs=eye, retain_graph=True,
                                       allow_unused=True, is_grads_batched=True)
            return torch.cat([g.new_zeros(P, p.numel()) if r is None else r.reshape(P, -1)
                              for r, p in zip(rows, ps)], dim=1)  # (P, P)
        except RuntimeError:
            pass  # an op without a batching rule: fall back to one backward per row
    matvec = _matvec_on(g, ps)
    return torch.stack([matvec(eye[i]) for i in range(P)])  # (P, P), row i = H e_i


def taylor_quadratic(loss: float | Tensor, grad: Tensor, hess: Tensor, delta: Tensor) -> Tensor:
    r"""Second-order Taylor estimate :math:`L(\theta+\delta) \approx L + g^\top\delta +
    \tfrac12\delta^\top H\delta` (``delta`` may be a batch (K, P) of steps)."""
    d = delta if delta.ndim == 2 else delta[None]  # (K, P)
    out = loss + d @ grad + 0.5 * ((d @ hess) * d).sum(-1)  # (K,)
    return out if delta.ndim == 2 else out[0]


@dataclass
class LanczosResult:
    """Ritz pairs from :func:`lanczos`, eigenvalues ascending.

    Attributes:
        values: Ritz values :math:`\\theta_1 \\le \\dots \\le \\theta_m`, (m,).
        vectors: Ritz vectors as columns, (P, m), unit length.
        residuals: :math:`\\|H y_i - \\theta_i y_i\\| = |\\beta_m s_{m,i}|`, (m,); a small
            residual means the pair is converged.
        iterations: Krylov steps taken (fewer than asked on breakdown = invariant subspace).
    """

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    iterations: int


def lanczos(matvec: Callable[[Tensor], Tensor], dim: int, num_iters: int = 80, *,
            dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
            seed: int = 0) -> LanczosResult:
    r"""Lanczos with full re-orthogonalisation: Ritz pairs of a symmetric operator.

    From a random unit :math:`q_1`, build an orthonormal basis :math:`Q_m` of the Krylov space
    :math:`\{q_1, Hq_1, \ldots, H^{m-1}q_1\}` and the tridiagonal :math:`T_m = Q_m^\top H Q_m`:

    .. math::
        w = H q_j - \alpha_j q_j - \beta_{j-1} q_{j-1}, \quad \alpha_j = q_j^\top H q_j, \quad
        \beta_j = \|w\|, \quad q_{j+1} = w/\beta_j.

    ``w`` is also projected off every earlier :math:`q_i` (twice), which keeps :math:`Q_m`
    orthonormal in floating point (plain Lanczos loses orthogonality and repeats eigenvalues).
    The eigenvalues of :math:`T_m` (Ritz values) converge first at both ends of the spectrum,
    so a few dozen products give the extreme eigenvalues of a large Hessian; with
    ``num_iters = dim`` they are all of them.

    Args:
        matvec: ``v ↦ H v`` for vectors of length ``dim`` (e.g. :func:`hessian_operator`).
        dim: P, the operator's size.
        num_iters: Krylov steps m (capped at ``dim``). Default: ``80``.
        dtype: working precision. Default: ``torch.float64``.
        device: where the vectors live. Default: CPU.
        seed: seed of the random start vector. Default: ``0``.

    Example:
        >>> A = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64))
        >>> r = lanczos(lambda v: A @ v, 100, num_iters=60)
        >>> round(float(r.values[0]), 6), round(float(r.values[-1]), 6)
        (1.0, 100.0)

    Notes: O1.
    """
    if dim < 1 or num_iters < 1:
        raise ConfigError(f"lanczos needs dim >= 1 and num_iters >= 1, got dim={dim}, "
                          f"num_iters={num_iters}.")
    m = min(num_iters, dim)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=gen, dtype=dtype).to(device)
    Q = torch.empty(m, dim, dtype=dtype, device=device)  # rows are q_1 … q_m
    Q[0] = q / q.norm()
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    beta_last = torch.zeros((), dtype=dtype, device=device)
    scale = 0.0
    k = 0
    for j in range(m):
        k = j + 1
        w = matvec(Q[j]).to(dtype)
        if w.shape != (dim,):
            raise ShapeError(f"matvec returned shape {tuple(w.shape)}; expected ({dim},).")
        # α_j = q_jᵀ H q_j
        a = torch.dot(w, Q[j])
        # w = H q_j − α_j q_j − β_{j−1} q_{j−1}
        w = w - a * Q[j]
        if j > 0:
            w = w - betas[-1] * Q[j - 1]
        # full re-orthogonalisation against q_1 … q_j ("twice is enough")
        for _ in range(2):
            w = w - Q[:k].T @ (Q[:k] @ w)
        alphas.append(a)
        b = w.norm()
        scale = max(scale, float(a.abs() + b))
        beta_last = b
        if j == m - 1:
            break
        if float(b) <= 10 * torch.finfo(dtype).eps * math.sqrt(dim) * max(scale, 1e-300):
            beta_last = torch.zeros((), dtype=dtype, device=device)
            break  # breakdown: span(Q) is invariant, its Ritz values are exact eigenvalues
        betas.append(b)
        Q[j + 1] = w / b
    T = torch.diag(torch.stack(alphas))
    if k > 1:
        off = torch.stack(betas[: k - 1])
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    values, S = torch.linalg.eigh(T)  # ascending
    vectors = Q[:k].T @ S  # (P, k) Ritz vectors y_i = Q s_i
    residuals = (beta_last * S[-1]).abs()
    return LanczosResult(values, vectors, residuals, k)


def extreme_eigenpairs(closure: Closure, params: Iterable[Tensor] | nn.Module,
                       num_iters: int = 80, seed: int = 0) -> LanczosResult:
    """Lanczos on the loss's Hessian (through Hessian-vector products) at the current θ.

    ``values[0]`` / ``vectors[:, 0]`` approximate the most negative eigenpair (the escape
    direction at a saddle), ``values[-1]`` the largest (the sharpness).
    """
    ps = parameters_of(params)
    P = sum(p.numel() for p in ps)
    return lanczos(hessian_operator(closure, ps), P, num_iters, dtype=ps[0].dtype,
                   device=ps[0].device, seed=seed)


def _as_eigs(eigs: Tensor | Iterable[float]) -> Tensor:
    e = torch.as_tensor(eigs if isinstance(eigs, Tensor) else list(eigs), dtype=torch.float64)
    if e.ndim != 1 or e.numel() == 0:
        raise ShapeError(f"expected a non-empty 1-D vector of eigenvalues, got shape "
                         f"{tuple(e.shape)}.")
    return e


def classify_critical_point(eigs: Tensor | Iterable[float], tol: float = 0.0) -> str:
    r"""The kind of critical point from the Hessian's eigenvalues (second-derivative test).

    With :math:`|\lambda| \le` ``tol`` counted as zero: all :math:`\lambda > 0` → ``"local
    minimum"``, all :math:`\lambda < 0` → ``"local maximum"``, some of each sign → ``"saddle
    point"``, otherwise (zeros and one sign) → ``"degenerate"`` (second order cannot decide).

    Example:
        >>> classify_critical_point([2.0, -2.0]), classify_critical_point([1.0, 1e-9], tol=1e-6)
        ('saddle point', 'degenerate')
    """
    if tol < 0:
        raise ConfigError(f"tol must be >= 0, got {tol}.")
    e = _as_eigs(eigs)
    pos, neg = int((e > tol).sum()), int((e < -tol).sum())
    if pos and neg:
        return "saddle point"
    if pos == e.numel():
        return "local minimum"
    if neg == e.numel():
        return "local maximum"
    return "degenerate"


def minimum_ratio(eigs: Tensor | Iterable[float], tol: float = 0.0) -> float:
    r"""The notes' "minimum ratio": :math:`\#\{\lambda_i > \text{tol}\} / P`.

    1 at a (strict) local minimum; the share of directions in which the point looks like a
    minimum otherwise.

    Example:
        >>> minimum_ratio([3.0, 1.0, -0.5, 2.0])
        0.75
    """
    e = _as_eigs(eigs)
    return float((e > tol).sum()) / e.numel()


def escape_direction(eigenvalues: Tensor, eigenvectors: Tensor) -> tuple[float, Tensor] | None:
    r"""The eigenpair :math:`(\lambda_{min}, u)` to leave a saddle along, or ``None`` if
    :math:`\lambda_{min} \ge 0`.

    :math:`L(\theta + \alpha u) \approx L(\theta) + \tfrac12\alpha^2\lambda_{min}`: both
    :math:`\pm u` lower the loss. ``eigenvectors`` holds unit eigenvectors as columns, (P, k).
    """
    if eigenvectors.ndim != 2 or eigenvectors.shape[1] != eigenvalues.numel():
        raise ShapeError(f"eigenvectors of shape {tuple(eigenvectors.shape)} do not match "
                         f"{eigenvalues.numel()} eigenvalues (columns are eigenvectors).")
    i = int(torch.argmin(eigenvalues))
    lam = float(eigenvalues[i])
    if lam >= 0:
        return None
    u = eigenvectors[:, i]
    return lam, u / u.norm()


@dataclass
class CriticalPoint:
    """What :func:`analyse_critical_point` measured at one θ (eigenvalues ascending)."""

    loss: float
    grad_norm: float
    eigenvalues: Tensor
    eigenvectors: Tensor
    kind: str
    minimum_ratio: float
    tol: float


def analyse_critical_point(closure: Closure, params: Iterable[Tensor] | nn.Module,
                           tol: float | None = None) -> CriticalPoint:
    """Exact Hessian, its eigen-decomposition, the kind of point and its minimum ratio.

    ``tol`` (eigenvalues with :math:`|\\lambda| \\le` tol count as zero) defaults to
    :math:`\\max(\\sqrt{\\epsilon}\\,\\max_i|\\lambda_i|,\\ \\|\\nabla L\\|)`: below the first an
    eigenvalue cannot be told from rounding; below the second it is no larger than the
    gradient still left, so at a point that is only nearly critical its sign says little (at an
    exact critical point the second term is ~0 and only the first counts).
    """
    ps = parameters_of(params)
    with torch.enable_grad():
        loss = float(closure().detach())
        gnorm = gradient_norm(closure, ps)
        H = hessian(closure, ps)
    H = 0.5 * (H + H.T)  # symmetric part (exact H is symmetric; removes rounding)
    values, vectors = torch.linalg.eigh(H)
    if tol is None:
        tol = max(math.sqrt(torch.finfo(H.dtype).eps) * float(values.abs().max()), gnorm)
    return CriticalPoint(loss, gnorm, values, vectors, classify_critical_point(values, tol),
                         minimum_ratio(values, tol), tol)
