"""deepnotes.train: the Trainer, its config and callbacks, history and checkpoints (metrics live in
:mod:`deepnotes.metrics`).

Notes: B4, B8 (minibatch training), B11 (saving/loading, devices), O7, O11.
"""

from deepnotes.train.callbacks import Callback, EarlyStopping, StepRecorder, TensorBoardLogger
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint, save_checkpoint, save_model
from deepnotes.train.history import History
from deepnotes.train.trainer import TrainConfig, Trainer, default_loss_step

__all__ = [
    "Trainer", "TrainConfig", "default_loss_step", "Callback", "EarlyStopping", "StepRecorder",
    "TensorBoardLogger",
    "History", "save_checkpoint", "save_model", "load_checkpoint", "peek_checkpoint",
]
