"""deepnotes.functional: the course's formulas as pure functions on tensors.

Each function is written from its formula (given in its docstring) and tested against the
PyTorch op it mirrors; ``deepnotes.nn`` wraps them in modules with a ``fused`` fast path.
"""

from deepnotes.functional.activations import (
    ACTIVATION_FUNCTIONS,
    activation_function,
    gelu,
    hard_sigmoid,
    relu,
    sigmoid,
    tanh,
)
from deepnotes.functional.attention import (
    additive_attention,
    additive_scores,
    banded_attention,
    causal_mask,
    fused_scaled_dot_product_attention,
    graph_mask,
    lengths_mask,
    masked_softmax,
    scaled_dot_product_attention,
    window_mask,
)
from deepnotes.functional.clip import clip_grad_norm_, grad_norm
from deepnotes.functional.conv import (
    avg_pool2d,
    conv2d,
    conv_transpose2d,
    conv_output_size,
    corr2d,
    max_pool2d,
)
from deepnotes.functional.ctc import ctc_loss
from deepnotes.functional.dropout import dropout, gaussian_noise
from deepnotes.functional.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mae_loss,
    mse_loss,
    reduce_loss,
)
from deepnotes.functional.norms import batch_norm, layer_norm
from deepnotes.functional.rnn import (
    gru_cell,
    gru_sequence,
    jordan_cell,
    lstm_cell,
    lstm_sequence,
    rnn_cell,
    rnn_sequence,
)
from deepnotes.functional.sequence import (
    fused_masked_cross_entropy,
    masked_cross_entropy,
    reverse_padded,
    sequence_mask,
)
from deepnotes.functional.softmax import log_softmax, logsumexp, softmax

__all__ = [
    # activations (B5, B6)
    "sigmoid",
    "tanh",
    "relu",
    "hard_sigmoid",
    "gelu",
    "ACTIVATION_FUNCTIONS",
    "activation_function",
    # softmax (B7)
    "softmax",
    "log_softmax",
    "logsumexp",
    # losses (B3)
    "reduce_loss",
    "l1_loss",
    "mae_loss",
    "mse_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    # dropout and noise (G5)
    "dropout",
    "gaussian_noise",
    # normalisation (O9, O10)
    "batch_norm",
    "layer_norm",
    # gradient clipping (O11)
    "grad_norm",
    "clip_grad_norm_",
    # convolution and pooling (C2, C3, C5)
    "corr2d",
    "conv_output_size",
    "conv2d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    # connectionist temporal classification (R10)
    "ctc_loss",
    # attention (A2, A3, A4, A7, A9)
    "lengths_mask",
    "causal_mask",
    "window_mask",
    "banded_attention",
    "graph_mask",
    "masked_softmax",
    "additive_scores",
    "additive_attention",
    "scaled_dot_product_attention",
    "fused_scaled_dot_product_attention",
    # recurrent cells and sequences (R4, R5, R6, R7)
    "rnn_cell",
    "gru_cell",
    "lstm_cell",
    "jordan_cell",
    "rnn_sequence",
    "gru_sequence",
    "lstm_sequence",
    # padded sequences (S1, S2, R4)
    "sequence_mask",
    "masked_cross_entropy",
    "fused_masked_cross_entropy",
    "reverse_padded",
]
