"""Lazy package attributes (PEP 562): a package's public names, imported on first use.

``import tiledproc`` and the ``tiledproc`` command must start fast: the
command's ``--help``, ``info``, ``ops`` and usage errors answer in well under
half a second, which importing dask, zarr and numba up front (about 1.2 s)
would not allow. A package lists its public names and the submodule of each;
the submodule is imported when a name is first used, exactly as if the
package had imported it eagerly (``from tiledproc import window_mean`` and
``tiledproc.window_mean`` both work, and ``dir()`` lists them).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping


class _LazyPackage(types.ModuleType):
    """A package whose public functions win over same-named submodules (``tiledproc.ops.gabor``).

    Importing a submodule binds it as an attribute of its package; with eager
    imports the package's own ``from .gabor import gabor`` then rebound the name
    to the function. Here the function is bound when first used, so the
    submodule must not take its name meanwhile.
    """

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_EXPORTS", ()):
            return
        super().__setattr__(name, value)


def lazy_exports(package: str, namespace: dict, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` whose names ``exports`` maps to submodules.

    ``exports`` maps a public name to the (relative) module defining it.
    """

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__():
        return sorted({*namespace, *exports})

    namespace["_EXPORTS"] = exports
    sys.modules[package].__class__ = _LazyPackage

    return __getattr__, __dir__


class LazyModule:
    """A module imported on first attribute access: ``da = lazy_module("dask.array")``.

    For modules whose metadata paths must not pay for dask (``tiledproc info``)
    while their other functions, and their annotations (``-> da.Array``, which
    ``typing.get_type_hints`` resolves), use it as usual.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> LazyModule:
    """``name`` (absolute), imported when one of its attributes is first used."""
    return LazyModule(name)
