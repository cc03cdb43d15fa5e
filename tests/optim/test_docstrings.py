"""The runnable examples in deepnotes.optim's docstrings print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["deepnotes.optim", "deepnotes.optim.sgd", "deepnotes.optim.adagrad",
           "deepnotes.optim.rmsprop", "deepnotes.optim.adam", "deepnotes.optim.schedules"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
