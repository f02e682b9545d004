"""How a pipeline operation is described: :class:`Param` and :class:`Operation`.

The catalogue itself is :mod:`.operations`. Each :class:`Operation` declares its parameters with types and defaults, the
array inputs it takes and the named outputs it produces, and builds lazy
dask arrays from ``(band, y, x)`` rasters. Stored rasters keep colour in the
band axis, so colour operations are called with ``channel_axis=0`` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from ..errors import InvalidParameterError, InvalidTypeError

__all__ = ["Param", "Operation"]

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """A parameter: ``kind`` is int, float, str, bool, size (odd int or [y, x]),
    floats (a list of floats) or float? (a float or absent)."""

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value):
        """The value in the type the operation expects; TypeError/ValueError otherwise."""
        kind = self.kind.rstrip("?")
        if value is None and self.kind.endswith("?"):
            return None
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidTypeError(f"Expected an integer, got {value!r} ({_tname(value)}) instead.")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidTypeError(f"Expected a number, got {value!r} ({_tname(value)}) instead.")
            value = float(value)
        elif kind == "str":
            if not isinstance(value, str):
                raise InvalidTypeError(f"Expected a string, got {value!r} ({_tname(value)}) instead.")
        elif kind == "bool":
            if not isinstance(value, bool):
                raise InvalidTypeError(f"Expected true or false, got {value!r} ({_tname(value)}) instead.")
        elif kind == "size":
            if isinstance(value, list) and len(value) == 2 and all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value):
                value = tuple(value)
            elif isinstance(value, bool) or not isinstance(value, int):
                raise InvalidTypeError(
                    f"Expected an odd integer or a pair [size_y, size_x], got {value!r} ({_tname(value)}) instead."
                )
        elif kind == "floats":
            if not isinstance(value, list) or not value or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
                raise InvalidTypeError(f"Expected a non-empty list of numbers, got {value!r} instead.")
            value = [float(v) for v in value]
        else:  # pragma: no cover
            raise AssertionError(kind)
        if self.choices is not None and value not in self.choices:
            raise InvalidParameterError(
                f"Expected one of {', '.join(repr(c) for c in self.choices)}, got {value!r} instead."
            )
        return value


def _tname(value) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    build: Callable[..., dict]  # -> {output: dask array}
    inputs: tuple[str, ...] = ("input",)
    halo: Callable[[dict], tuple[int, int]] = field(default=lambda p: (0, 0))

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def unknown_params(self, given: dict) -> list[str]:
        """The names in ``given`` that are not parameters of this operation."""
        return [key for key in given if self.param(key) is None]

    def missing_params(self, given: dict) -> list[str]:
        """The required parameters that ``given`` lacks."""
        return [p.name for p in self.params if p.required and p.name not in given]

    def resolve_params(self, given: dict) -> dict:
        """Defaults filled in, every value coerced.

        The caller checks :meth:`unknown_params` and :meth:`missing_params`
        first; a value of the wrong type or outside the choices raises an
        error whose ``key`` is the parameter's name.
        """
        out = {}
        for p in self.params:
            if p.name in given:
                try:
                    out[p.name] = p.coerce(given[p.name])
                except (InvalidTypeError, InvalidParameterError) as e:
                    e.key = p.name  # the caller names the key in its message
                    raise
            elif p.required:
                e = InvalidParameterError(f"Missing the required parameter {p.name!r}.")
                e.key = p.name
                raise e
            else:
                out[p.name] = p.default
        return out
