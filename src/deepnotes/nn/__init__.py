"""deepnotes.nn: layers built on :mod:`deepnotes.functional`.

Every layer takes ``fused=``: ``True`` runs PyTorch's kernel, ``False`` runs our formula;
both share the same parameters (torch's names), so a model can switch paths at any time.
"""

from deepnotes.nn.activation import (
    ACTIVATIONS,
    GELU,
    HardSigmoid,
    ReLU,
    Sigmoid,
    Tanh,
    activation_class,
    make_activation,
)
from deepnotes.nn.attention import AdditiveAttention, DotProductAttention, MultiHeadAttention
from deepnotes.nn.conv import AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d
from deepnotes.nn.dropout import Dropout, GaussianNoise
from deepnotes.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MaskedCrossEntropyLoss,
    MSELoss,
)
from deepnotes.nn.norms import BatchNorm1d, BatchNorm2d, LayerNorm
from deepnotes.nn.positional import LearnedPositionalEmbedding, PositionalEncoding
from deepnotes.nn.recurrent import GRU, LSTM, RNN, JordanRNN
from deepnotes.nn.spectral import SpectralNorm, spectral_norm, spectral_norm_sigma
from deepnotes.nn.transformer import (
    AddNorm,
    PositionWiseFFN,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

__all__ = [
    "Sigmoid", "Tanh", "ReLU", "GELU", "HardSigmoid",
    "ACTIVATIONS", "activation_class", "make_activation",
    "Dropout", "GaussianNoise",
    "MSELoss", "L1Loss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MaskedCrossEntropyLoss",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
    "AdditiveAttention", "DotProductAttention", "MultiHeadAttention",
    "PositionalEncoding", "LearnedPositionalEmbedding",
    "RNN", "GRU", "LSTM", "JordanRNN",
    "SpectralNorm", "spectral_norm", "spectral_norm_sigma",
    "PositionWiseFFN", "AddNorm", "TransformerEncoderBlock", "TransformerDecoderBlock",
]
