"""Shared check for input errors: the call raises a one-line ValueError (or
``exc``) whose head - the text before " must " or the first colon - names the
argument, with no warning (ComplexWarning, DataConversionWarning, ...) on the
way."""
import warnings

import pytest


def refused(name, call, exc=ValueError):
    """Assert the refusal described in the module docstring; return the message."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(exc) as info:
            call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    head = msg.split(" must ")[0].split(":")[0]
    assert name in head.replace(",", " ").split(), (name, msg)
    return msg
