"""A lock-free ``cached_property`` for the reader classes.

``functools.cached_property`` takes a lock on every first access before Python 3.12;
opening a file and reading its metadata touches half a dozen of them, so that cost is
paid on every open. This one stores the value in the instance ``__dict__`` (later
reads never reach the descriptor). Two threads racing on the first access may both
compute the value; the structures it caches are immutable and equal, so either result
is fine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached_property"]

T = TypeVar("T")


class cached_property(Generic[T]):  # noqa: N801 - same name as functools'
    """Compute once per instance, then serve from the instance ``__dict__``."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.attrname = func.__name__
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value
