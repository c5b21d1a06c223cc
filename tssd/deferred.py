"""A function named by ``'module:attr'`` and imported when first called.

The registries (methods, models, datasets) declare their built-in entries with one of these in
place of the function, so the declarations (names, options, sizes, fields read) import without
torch: planning, hashing and validating a run never load the code that trains it. The function
is imported on its first call, or by :func:`resolve`, which hands the plain function to whoever
needs the object itself (``torch.compile`` traces the resolved step, as before).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any


class Deferred:
    """``Deferred("pkg.mod:fn", *args, **kwargs)``: calls ``pkg.mod.fn(*args, *more, **kwargs,
    **more_kw)`` (arguments bound as :func:`functools.partial` binds them), importing
    ``pkg.mod`` on the first call."""

    __slots__ = ("target", "args", "kwargs", "_fn")

    def __init__(self, target: str, *args: Any, **kwargs: Any):
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"Deferred: got {target!r}, expected 'module:attr'")
        self.target, self.args, self.kwargs = target, args, kwargs
        self._fn: Callable | None = None

    def resolve(self) -> Callable:
        """The function itself (a :class:`functools.partial` when arguments are bound)."""
        if self._fn is None:
            module, _, attr = self.target.partition(":")
            fn = getattr(importlib.import_module(module), attr)
            self._fn = partial(fn, *self.args, **self.kwargs) if self.args or self.kwargs else fn
        return self._fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        bound = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Deferred({', '.join([repr(self.target), *bound])})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Deferred):
            return NotImplemented
        return (self.target, self.args, self.kwargs) == (other.target, other.args, other.kwargs)

    def __hash__(self) -> int:
        return hash((self.target, self.args, tuple(sorted(self.kwargs.items()))))

    def __reduce__(self):
        return (_rebuild, (self.target, self.args, self.kwargs))


def _rebuild(target: str, args: tuple, kwargs: dict) -> Deferred:
    return Deferred(target, *args, **kwargs)


def lazy_attributes(package: str, sources: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` (PEP 562) of ``package`` that reads each name of ``sources``
    from the module it maps to, imported on first use (so that importing the package imports
    none of them); any other name raises :class:`AttributeError` as a module does."""

    def __getattr__(name: str) -> Any:
        if name in sources:
            return getattr(importlib.import_module(sources[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def resolve(fn: Callable) -> Callable:
    """``fn``'s function when it is a :class:`Deferred`, else ``fn`` unchanged."""
    return fn.resolve() if isinstance(fn, Deferred) else fn
