"""deepnotes: a deep-learning course as readable, tested, fast PyTorch code.

Sub-packages (dependencies point downward only)::

    functional  <- nn  <- models  <- train  <- lessons  <- cli
    optim, data, text, metrics are leaves used by the layers above.
"""

__version__ = "0.1.0"
