"""The words for people in broker.wording: its docstring examples run and hold."""

from __future__ import annotations

import doctest

from broker import wording


def test_docstring_examples():
    failures, tried = doctest.testmod(wording)
    assert tried > 0 and failures == 0
