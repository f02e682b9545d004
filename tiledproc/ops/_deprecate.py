"""Deprecated names of the public operations, kept working with a DeprecationWarning.

Two kinds, each in one place: a renamed parameter (``a`` became ``image``,
:func:`renamed_parameter`) and a renamed function (``hessian`` became
``finite_difference_hessian``, :func:`deprecated_alias`). Every warning names
the new spelling and points at the caller's line (the first frame outside
``tiledproc.ops``), so it is shown where the old name is written.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from typing import Any, Callable, TypeVar

from ..errors import InvalidTypeError

__all__ = ["renamed_parameter", "deprecated_alias", "warn_deprecated"]

F = TypeVar("F", bound=Callable[..., Any])

_OPS_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_deprecated(message: str) -> None:
    """A DeprecationWarning attributed to the first caller outside ``tiledproc.ops``."""
    frame = sys._getframe(1)
    level = 2  # the caller of this function
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_OPS_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def renamed_parameter(old: str, new: str) -> Callable[[F], F]:
    """Accept the keyword ``old`` for the parameter now called ``new``, with a DeprecationWarning.

    Positional calls and calls with ``new`` are untouched; giving both (by
    keyword, or ``new`` positionally and ``old`` by keyword) is a TypeError, as
    any argument given twice is.
    """

    def decorate(func: F) -> F:
        position = list(inspect.signature(func).parameters).index(new)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs or len(args) > position:
                    raise InvalidTypeError(
                        f"{func.__name__}() got both {new!r} and its deprecated name {old!r}; "
                        f"pass {new!r} only.",
                        param=new,
                    )
                warn_deprecated(
                    f"{func.__name__}(): the parameter {old!r} is deprecated, use {new!r} instead "
                    f"({func.__name__}({new}=...)); {old!r} will be removed in a future release."
                )
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def deprecated_alias(func: F, old_name: str, why: str = "") -> F:
    """``func`` under its former name ``old_name``: same signature and result, with a
    DeprecationWarning that names ``func``. ``why``, a short reason, goes in the docstring."""

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(
            f"{old_name}() is deprecated, use {func.__name__}() instead (the same arguments and "
            f"result); {old_name}() will be removed in a future release."
        )
        return func(*args, **kwargs)

    alias.__name__ = old_name
    alias.__qualname__ = old_name
    alias.__doc__ = (
        f"Deprecated: use :func:`{func.__name__}`{' (' + why + ')' if why else ''}.\n\n"
        f"    The former name of :func:`{func.__name__}`: the same arguments and result, with a\n"
        f"    DeprecationWarning.\n"
    )
    return alias  # type: ignore[return-value]
