"""The examples in the engine's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "matching.flow",
    "matching.problem",
    "matching.engine",
    "matching.model",
    "matching.marginal",
    "matching.outcomes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 or name == "matching.model"
    assert failures == 0
