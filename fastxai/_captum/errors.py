"""Error types raised at the API boundary.

``InputError`` derives from both ``ValueError`` (what a user expects for bad input) and
``AssertionError`` (what Captum raises for the same cases), so code written against either
keeps working. ``TargetError`` is also an ``IndexError``.
"""


class InputError(ValueError, AssertionError):
    """A bad argument; the message names the argument and the fix."""


class TargetError(InputError, IndexError):
    """A target that does not index the model output."""


class NonFiniteOutputError(InputError, FloatingPointError):
    """The model produced NaN or Inf."""
