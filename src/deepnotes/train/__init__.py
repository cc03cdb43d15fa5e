"""deepnotes.train: the Trainer, its config and callbacks, metrics, history and checkpoints.

Notes: B4, B8 (minibatch training), B11 (saving/loading, devices), O7, O11.
"""

from deepnotes.train.callbacks import Callback, EarlyStopping, StepRecorder
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint, save_checkpoint
from deepnotes.train.history import History
from deepnotes.train.metrics import accuracy
from deepnotes.train.trainer import TrainConfig, Trainer, default_loss_step

__all__ = [
    "Trainer", "TrainConfig", "default_loss_step", "Callback", "EarlyStopping", "StepRecorder",
    "History", "accuracy", "save_checkpoint", "load_checkpoint", "peek_checkpoint",
]
