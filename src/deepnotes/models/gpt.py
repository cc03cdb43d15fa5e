r"""GPT: a decoder-only Transformer language model (pre-LN blocks, causal self-attention).

For token ids :math:`x_1..x_T` (:math:`T \le` ``block_size``):

.. math::
    \mathbf h^{(0)}_t = \mathbf E_{x_t} + \mathbf P_t

then, in every block (pre-LN, as GPT-2: the LayerNorm *before* each branch, the residual sum
left un-normalised),

.. math::
    \mathbf a = \mathbf h + \mathrm{CausalMHA}\big(\mathrm{LN}_1(\mathbf h)\big), \qquad
    \mathbf h' = \mathbf a + W_2\,\mathrm{GELU}\big(W_1\,\mathrm{LN}_2(\mathbf a) + b_1\big) + b_2

and the next-token distribution :math:`P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}
(\mathbf E\,\mathrm{LN}_f(\mathbf h^{(L)}_t))`: the output layer is the input embedding
(tied weights). Causal attention: position :math:`t` attends to positions :math:`\le t` only,
:math:`\mathrm{softmax}(QK^\top/\sqrt{d_h} + M)V` with :math:`M_{ij} = -\infty` for
:math:`j > i`. GELU is GPT-2's tanh approximation
:math:`\tfrac12 x\,(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715\,x^3)))` (``gelu="tanh"``) or the
exact one (``gelu="erf"``, nanoGPT's ``nn.GELU()``).

Config names are nanoGPT's (``vocab_size``, ``block_size``, ``n_layer``, ``n_head``,
``n_embd``, ``dropout``, ``bias``) and so are parameter names (``transformer.wte``,
``transformer.h.N.attn.c_attn``, ...): a nanoGPT state dict loads as it is. Hugging Face's
``GPT2LMHeadModel`` uses the same names but stores its four projection matrices as ``Conv1D``
(``(in, out)``, the transpose of a ``Linear``'s weight): :func:`to_hf` / :func:`from_hf`
convert, :func:`save_hf` writes a folder ``transformers`` opens.

``fused=True`` runs torch's SDPA kernel, GELU and LayerNorm; ``fused=False`` our formula
(:func:`deepnotes.functional.scaled_dot_product_attention`, :func:`~deepnotes.functional.gelu`,
:func:`~deepnotes.functional.layer_norm`) with the same parameters.

Generation keeps a **KV cache**: each block's keys and values of the tokens read so far, so a
new token costs one query against the cache instead of re-reading the whole text
(:meth:`GPT.forward_cached`, :func:`generate`).

Notes: P7, A11, A14.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from deepnotes import functional as F
from deepnotes import nn as dnn
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model

__all__ = ["GPT", "GPTConfig", "from_hf", "generate", "hf_config", "save_hf", "to_hf"]

#: the four projections HF stores as Conv1D (weight (in, out), a Linear's transposed)
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


@dataclass
class GPTConfig:
    vocab_size: int = 65  # V: characters of Shakespeare (nanoGPT's shakespeare_char)
    block_size: int = 64  # T_max: the longest context (learned positions)
    n_layer: int = 4  # blocks
    n_head: int = 4  # heads per block
    n_embd: int = 128  # C: width of every block
    dropout: float = 0.0  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in the Linear layers and LayerNorms (GPT-2: True)
    gelu: str = "tanh"  # "tanh" (GPT-2's approximation) or "erf" (exact, nanoGPT)
    fused: bool = True  # torch's SDPA / GELU / LayerNorm kernels, or our formula

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"GPTConfig.{name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}; "
                              f"each head reads n_embd / n_head features")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.gelu not in ("tanh", "erf"):
            raise ConfigError(f"gelu must be 'tanh' (GPT-2) or 'erf' (exact), got {self.gelu!r}")


class _LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT's ``bias=False`` drops it)."""

    def __init__(self, n: int, bias: bool, fused: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None
        self.fused = fused

    def forward(self, x: Tensor) -> Tensor:
        # (x - mean) / sqrt(var + eps) * weight + bias, over the last dimension
        norm = TF.layer_norm if self.fused else F.layer_norm
        return norm(x, (x.shape[-1],), self.weight, self.bias, 1e-5)


class _Attention(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)  # W_Q, W_K, W_V at once
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)  # W_O
        self.resid_dropout = dnn.Dropout(c.dropout, fused=c.fused)


class _MLP(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = dnn.Dropout(c.dropout, fused=c.fused)


class _Block(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = _LayerNorm(c.n_embd, c.bias, c.fused)
        self.attn = _Attention(c)
        self.ln_2 = _LayerNorm(c.n_embd, c.bias, c.fused)
        self.mlp = _MLP(c)


class _Trunk(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # E: token embeddings
        self.wpe = nn.Embedding(c.block_size, c.n_embd)  # P: learned positions
        self.drop = dnn.Dropout(c.dropout, fused=c.fused)
        self.h = nn.ModuleList(_Block(c) for _ in range(c.n_layer))
        self.ln_f = _LayerNorm(c.n_embd, c.bias, c.fused)


Cache = tuple[Tensor, ...]  # (k_1, v_1, ..., k_L, v_L), each (B, heads, T_read, C / heads)


@register_model("gpt", GPTConfig, summary="GPT: decoder-only Transformer LM, pre-LN, KV cache "
                "(P7)", inputs="tokens")
class GPT(nn.Module):
    r"""The GPT language model (module docstring): ``forward(idx (B, T)) -> logits (B, T, V)``.

    Args:
        config: a :class:`GPTConfig` (nanoGPT's names).

    Example:
        >>> m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8))
        >>> m(torch.tensor([[1, 2, 3]])).shape
        torch.Size([1, 3, 10])

    Notes: P7.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        c = self.config = config
        self.transformer = _Trunk(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied: the output layer is E
        self.apply(self._init)
        # GPT-2: the projections into the residual stream start smaller, std 0.02 / sqrt(2L),
        # so the sum of 2L residual branches keeps the variance of one
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters (the tied embedding counted once); ``non_embedding`` leaves out the
        position table, as nanoGPT and the GPT papers count."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    # -- pieces ------------------------------------------------------------------------------
    def _attend(self, block: _Block, x: Tensor, past: tuple[Tensor, Tensor] | None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Causal multi-head self-attention of ``x (B, T, C)`` over the cached keys/values and
        its own; returns ``(output (B, T, C), keys, values)`` of everything read so far."""
        c = self.config
        b, t, d = x.shape
        heads = c.n_head
        q, k, v = block.attn.c_attn(x).split(d, dim=2)

        def split(z: Tensor) -> Tensor:  # (B, T, C) -> (B, heads, T, C / heads)
            return z.view(b, t, heads, d // heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        before = 0
        if past is not None:
            before = past[0].shape[2]
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        p = c.dropout if self.training else 0.0
        if before == 0:
            causal, mask = True, None  # query i sees keys j <= i
        elif t == 1:
            causal, mask = False, None  # the newest token sees everything read
        else:  # query i is token before + i: it sees keys j <= before + i
            causal = False
            mask = torch.ones(t, before + t, dtype=torch.bool, device=x.device).tril(before)
        if c.fused:
            out = F.fused_scaled_dot_product_attention(q, k, v, attn_mask=mask, causal=causal,
                                                       dropout_p=p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, causal=causal,
                                                 dropout_p=p)[0]
        out = out.transpose(1, 2).reshape(b, t, d)
        return block.attn.resid_dropout(block.attn.c_proj(out)), k, v

    def _mlp(self, block: _Block, x: Tensor) -> Tensor:
        z = block.mlp.c_fc(x)
        g = TF.gelu(z, approximate=self._approx) if self.config.fused else \
            F.gelu(z, approximate=self._approx)
        return block.mlp.dropout(block.mlp.c_proj(g))

    @property
    def _approx(self) -> str:
        return "tanh" if self.config.gelu == "tanh" else "none"

    def _trunk(self, idx: Tensor, cache: Cache | None) -> tuple[Tensor, Cache]:
        c = self.config
        if idx.dim() != 2 or idx.is_floating_point():
            raise ShapeError(f"GPT expects integer token ids (B, T), got {tuple(idx.shape)} "
                             f"{idx.dtype}")
        before = 0 if not cache else cache[0].shape[2]
        if before + idx.shape[1] > c.block_size:
            raise ShapeError(f"{before + idx.shape[1]} tokens; this GPT reads at most "
                             f"block_size={c.block_size} (keep the last {c.block_size})")
        if cache and len(cache) != 2 * c.n_layer:
            raise ShapeError(f"the cache holds {len(cache)} tensors; this GPT needs "
                             f"2 × n_layer = {2 * c.n_layer}")
        tr = self.transformer
        pos = torch.arange(before, before + idx.shape[1], device=idx.device)
        x = tr.drop(tr.wte(idx) + tr.wpe(pos))  # h0 = E_x + P_t
        new: list[Tensor] = []
        for i, block in enumerate(tr.h):
            past = (cache[2 * i], cache[2 * i + 1]) if cache else None
            a, k, v = self._attend(block, block.ln_1(x), past)
            x = x + a  # a = h + MHA(LN1(h))
            x = x + self._mlp(block, block.ln_2(x))  # h' = a + FFN(LN2(a))
            new += [k, v]
        return tr.ln_f(x), tuple(new)

    def forward(self, idx: Tensor) -> Tensor:
        """Logits ``(B, T, V)`` of the next token after every position of ``idx (B, T)``."""
        h, _ = self._trunk(idx, None)
        return self.lm_head(h)

    def forward_cached(self, idx: Tensor, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """Read ``idx (B, t)`` after the tokens of ``cache``: ``(logits (B, t, V), cache)``.

        ``cache=None`` starts a text; the returned cache holds every block's keys and values
        ``(B, heads, T_read, C / heads)`` of all tokens read, batch first, so the decoders of
        :mod:`deepnotes.decoding` can reorder or repeat rows.
        """
        h, cache = self._trunk(idx, cache)
        return self.lm_head(h), cache


# ---- generation ------------------------------------------------------------------------------
def step_fn(model: GPT, context: Tensor, use_cache: bool = True):
    """A decoder ``step`` (:mod:`deepnotes.decoding`) continuing ``context (1, P)`` whose last
    token is the decoders' first input (``bos``); returns ``(step, initial state)``.

    With the cache each step reads the newest token only; without it (or once the text is
    longer than ``block_size``) it re-reads the last ``block_size`` tokens, as nanoGPT does.
    """
    before = context[:, :-1]
    limit = model.config.block_size
    device = context.device

    def reread(tokens: Tensor) -> tuple[Tensor, Any]:
        full = torch.cat([before.expand(tokens.shape[0], -1), tokens], dim=1)[:, -limit:]
        if use_cache and full.shape[1] < limit:
            logits, cache = model.forward_cached(full)
            return TF.log_softmax(logits[:, -1].float(), dim=-1), cache
        return TF.log_softmax(model(full)[:, -1].float(), dim=-1), None

    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        if not use_cache or not state or state[0].shape[2] + 1 > limit:
            return reread(tokens)
        logits, cache = model.forward_cached(tokens[:, -1:], state)
        return TF.log_softmax(logits[:, -1].float(), dim=-1), cache

    state = None
    if use_cache and 0 < before.shape[1] < limit:
        _, state = model.forward_cached(before.to(device))
    return step, state


@torch.no_grad()
def generate(model: GPT, idx: Tensor | list[int], max_new_tokens: int, *,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             seed: int | None = 0, use_cache: bool = True, num_samples: int = 1) -> Tensor:
    r"""Continue ``idx`` (a list of ids or ``(1, P)``) by ``max_new_tokens`` tokens.

    Each new token is drawn from :math:`P(x_{t+1} \mid x_{\le t})` after temperature, top-k
    and top-p (:func:`deepnotes.decoding.sampling_distribution`); ``temperature=0`` is greedy.
    Returns ``(num_samples, P + max_new_tokens)``: the context and what followed.
    ``seed`` seeds the draws (``None``: seed 0 as well, so a call is always repeatable).

    Example:
        >>> m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8))
        >>> generate(m, [1, 2], 5, temperature=0).shape
        torch.Size([1, 7])

    Notes: P7, A14.
    """
    from deepnotes.decoding import greedy_search, sample

    device = next(model.parameters()).device
    ctx = torch.as_tensor(idx, dtype=torch.long, device=device)
    ctx = ctx[None] if ctx.dim() == 1 else ctx
    if ctx.dim() != 2 or ctx.shape[0] != 1 or ctx.shape[1] < 1:
        raise ShapeError(f"generate continues one text: ids as a list or (1, P) with P >= 1, "
                         f"got {tuple(ctx.shape)}")
    if int(ctx.min()) < 0 or int(ctx.max()) >= model.config.vocab_size:
        raise ConfigError(f"token ids must be in [0, {model.config.vocab_size}), got "
                          f"{int(ctx.min())}..{int(ctx.max())}")
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    was = model.training
    model.eval()
    try:
        step, state = step_fn(model, ctx, use_cache)
        if state is not None and num_samples > 1:
            state = tuple(s.expand(num_samples, *s.shape[1:]).contiguous() for s in state)
        bos = int(ctx[0, -1])
        if temperature == 0:
            out = greedy_search(step, bos, None, max_new_tokens, state=state,
                                batch_size=num_samples, device=device)
        else:
            g = torch.Generator().manual_seed(0 if seed is None else seed)
            out = sample(step, bos, None, max_new_tokens, temperature=temperature, top_k=top_k,
                         top_p=top_p, generator=g, state=state, batch_size=num_samples,
                         device=device)
    finally:
        model.train(was)
    new = torch.tensor(out.tokens, dtype=torch.long, device=device)
    return torch.cat([ctx.expand(num_samples, -1), new], dim=1)


# ---- Hugging Face GPT-2 ----------------------------------------------------------------------
def hf_config(config: GPTConfig) -> dict[str, Any]:
    """The ``transformers.GPT2Config`` fields of a :class:`GPTConfig`."""
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
            "vocab_size": config.vocab_size, "n_positions": config.block_size,
            "n_embd": config.n_embd, "n_layer": config.n_layer, "n_head": config.n_head,
            "n_inner": None, "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new" if config.gelu == "tanh" else "gelu",
            "resid_pdrop": config.dropout, "embd_pdrop": config.dropout,
            "attn_pdrop": config.dropout, "tie_word_embeddings": True,
            "bos_token_id": None, "eos_token_id": None,
            "deepnotes_gpt": asdict(config)}


def to_hf(model: GPT) -> dict[str, Tensor]:
    """A state dict ``transformers.GPT2LMHeadModel`` loads with ``strict=True``: Conv1D weights
    transposed; zero biases written where ``bias=False`` (GPT-2 always has them)."""
    out: dict[str, Tensor] = {}
    for name, t in model.state_dict().items():
        out[name] = t.t().contiguous() if name.endswith(_CONV1D) else t
    if not model.config.bias:
        for name, t in list(out.items()):
            if name.endswith(".weight") and (".ln_" in name or name.endswith(
                    ("c_attn.weight", "c_proj.weight", "c_fc.weight"))):
                width = t.shape[0] if ".ln_" in name else t.shape[1]
                out.setdefault(name[:-len("weight")] + "bias",
                               torch.zeros(width, dtype=t.dtype, device=t.device))
    return out


def from_hf(state_dict: dict[str, Tensor], config: GPTConfig | dict[str, Any]) -> GPT:
    """A :class:`GPT` holding a ``GPT2LMHeadModel`` state dict (Conv1D weights transposed
    back). ``config``: a :class:`GPTConfig`, or a GPT-2 ``config.json`` as a dict."""
    if isinstance(config, dict):
        config = _from_hf_config(config)
    # the Hub's original GPT-2 files name the trunk's tensors without "transformer."
    state_dict = {(k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}"): v
                  for k, v in state_dict.items()}
    model = GPT(config)
    head, wte = state_dict.get("lm_head.weight"), state_dict.get("transformer.wte.weight")
    if wte is not None and wte.is_floating_point():
        model = model.to(wte.dtype)  # a float64 state dict stays float64
    ours = model.state_dict()
    sd: dict[str, Tensor] = {}
    if head is not None and wte is not None and not torch.equal(head, wte):
        raise ConfigError("the state dict's lm_head.weight differs from transformer.wte.weight; "
                          "this GPT ties its output layer to the token embedding")
    for name, t in state_dict.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers of older transformers
        if name not in ours:
            if name.endswith(".bias") and not config.bias and not bool(t.any()):
                continue  # a zero bias of a bias=False model
            raise ConfigError(f"{name!r} is not a GPT-2 parameter of this config; is it a "
                              f"GPT2LMHeadModel state dict?")
        sd[name] = t.t() if name.endswith(_CONV1D) else t
    if "lm_head.weight" not in sd and "transformer.wte.weight" in sd:
        sd["lm_head.weight"] = sd["transformer.wte.weight"]
    missing = sorted(set(ours) - set(sd))
    if missing:
        raise ConfigError(f"the state dict lacks {', '.join(missing[:4])}"
                          f"{' ...' if len(missing) > 4 else ''}")
    for name, t in sd.items():
        if tuple(t.shape) != tuple(ours[name].shape):
            raise ShapeError(f"{name}: the state dict has shape {tuple(t.shape)}, this config "
                             f"{tuple(ours[name].shape)}; give the checkpoint's own config")
    model.load_state_dict(sd, strict=True)
    return model


def _from_hf_config(cfg: dict[str, Any]) -> GPTConfig:
    if "deepnotes_gpt" in cfg:
        keep = {f.name for f in fields(GPTConfig)}
        return GPTConfig(**{k: v for k, v in cfg["deepnotes_gpt"].items() if k in keep})
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu"):
        raise ConfigError(f"activation_function {act!r}: this GPT has tanh or erf GELU only")
    if cfg.get("n_inner") not in (None, 4 * cfg["n_embd"]):
        raise ConfigError(f"n_inner={cfg['n_inner']}: this GPT's MLP is 4 × n_embd wide")
    return GPTConfig(vocab_size=cfg["vocab_size"], block_size=cfg["n_positions"],
                     n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                     dropout=float(cfg.get("resid_pdrop", 0.0)), bias=True,
                     gelu="erf" if act == "gelu" else "tanh")


def save_hf(model: GPT, folder: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` that
    ``transformers.GPT2LMHeadModel.from_pretrained(folder)`` opens (the tied output layer is
    stored once, as ``transformers`` does)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in to_hf(model).items()
          if k != "lm_head.weight"}
    save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config(model.config), indent=2) + "\n")
    return folder


def load_hf(folder: str | os.PathLike) -> GPT:
    """A :class:`GPT` from a GPT-2 folder (``config.json`` + ``model.safetensors``; a pickled
    ``.bin`` is never opened)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ConfigError(f"{folder} is not a GPT-2 folder: it needs config.json and "
                          f"model.safetensors (write one with deepnotes.models.gpt.save_hf)")
    cfg = json.loads((folder / "config.json").read_text())
    return from_hf(load_file(str(folder / "model.safetensors")), cfg)
