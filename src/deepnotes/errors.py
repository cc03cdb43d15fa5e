"""Errors deepnotes raises on purpose.

Every one carries a single sentence that says what is wrong and how to fix it; the CLI prints
that sentence and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations


class DeepnotesError(Exception):
    """Base class: an error whose message is meant for the user as it is."""


class UnknownNameError(DeepnotesError, KeyError):
    """A registry lookup (model, dataset, lesson, optimizer ...) found no such name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(DeepnotesError, ValueError):
    """A configuration value is malformed or of the wrong type."""


class DataMissingError(DeepnotesError, FileNotFoundError):
    """Data a loader needs is not on disk; the message names the command that gets it."""


class CheckpointError(DeepnotesError, ValueError):
    """A checkpoint is corrupted, truncated or does not match the model (names the key)."""


class NonFiniteLossError(DeepnotesError, FloatingPointError):
    """Training produced a NaN or infinite loss (the message names the step)."""


class ShapeError(DeepnotesError, ValueError):
    """A tensor argument has the wrong shape (the message gives expected vs got)."""


class InvalidTargetError(DeepnotesError, ValueError):
    """A loss target holds a value the loss cannot use (a class index out of range, a
    probability outside [0, 1]); the message names the value."""


class TrainingWarning(UserWarning):
    """Training ran but something looks wrong (e.g. a finite loss that keeps growing)."""
