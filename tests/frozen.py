"""Shared check of the one result contract (asymptotics.results.ReadOnlyResult):
every array read-only, every mapping a FrozenDict, every dataclass frozen,
no mutable containers, models read-only; recursively."""
import dataclasses
from collections.abc import Mapping

import numpy as np
import pytest

import asymptotics as asy
from asymptotics.results import FrozenDict


def assert_frozen(obj, path="result"):
    """Assert the contract of the module docstring on ``obj`` and everything it holds."""
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, f.name, None)
            assert_frozen(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, np.ndarray):
        assert not obj.flags.writeable, path
        if obj.size and obj.dtype != object:
            with pytest.raises(ValueError, match="read-only"):
                obj.flat[0] = obj.flat[0]
        for idx in (np.ndindex(obj.shape) if obj.dtype == object else ()):
            assert_frozen(obj[idx], f"{path}[{idx}]")
    elif isinstance(obj, (dict, Mapping)):
        assert isinstance(obj, FrozenDict), path          # the read-only mapping of every result
        with pytest.raises(TypeError):
            obj["__new__"] = 1
        for key, value in obj.items():
            assert_frozen(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, set)):
        raise AssertionError(f"{path} is a mutable {type(obj).__name__}")
    elif isinstance(obj, tuple):
        for j, value in enumerate(obj):
            assert_frozen(value, f"{path}[{j}]")
    elif isinstance(obj, asy.ClusterGMM):
        for attr in ("priors", "labels", "gram", "factor"):
            assert not getattr(obj, attr).flags.writeable, f"{path}.{attr}"
