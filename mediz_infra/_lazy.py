"""Lazy public names for a package (PEP 562), written once for every package that needs them.

A package lists which submodule defines each public name; the first read of a name imports that
submodule and caches the name in the package's namespace, so later reads are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: MutableMapping[str, Any],
    sources: Mapping[str, str],
    public: Iterable[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a package's module ``__getattr__`` and ``__dir__``.

    Args:
        package: the package's ``__name__``; relative submodule names resolve against it.
        namespace: the package's ``globals()``, where an imported name is cached.
        sources: public name → submodule (relative, e.g. ``".postgres"``) that defines it.
        public: the package's ``__all__``, listed by ``dir()`` before anything is imported.
    """
    names = tuple(public)

    def __getattr__(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
