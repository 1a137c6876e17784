"""Cache keys: built once per decorated function, then one cheap call per invocation.

A key is ``{prefix}:cache:{version}:{<id>}``; the braces are a Redis Cluster hash tag, so the value
and its lock (``...:lock``) live in one slot. ``<id>`` is either the user's template rendered with
the call's arguments (``"symptoms:popular:{limit}"``; a template that starts with an argument
gets a ``=`` in front, so the hash tag is never empty) or, by default, the function's module and
qualified name followed by its normalised arguments.

Normalised means: positional and keyword spellings of one call give one key (``f(1)``,
``f(x=1)`` and ``f()`` with ``x=1`` as default are the same call); ``self``/``cls`` are left out of
a method's key; scalars are written as Python literals (``repr``: stable across processes and
runs, unlike ``hash()``, and unambiguous when joined); anything else as canonical JSON (sorted
keys) via pydantic-core, so pydantic models, dataclasses, datetimes and UUIDs key by value. An id
longer than :data:`MAX_ID` is replaced by its SHA-256.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import string
from collections.abc import Callable, Mapping
from typing import Any

import pydantic_core

from ..errors import ConfigError

__all__ = ["MAX_ID", "KeyBuilder", "normalise"]

MAX_ID = 200
_LITERAL = frozenset({str, int, float, bool, type(None)})


def _to_jsonable(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value)


def normalise(value: Any) -> str:
    """One argument as a stable string: a literal for scalars, canonical JSON for the rest.

    Raises:
        TypeError: the value has no JSON form (an open file, a lock): pass ``key=`` instead.
    """
    if type(value) in _LITERAL:
        return repr(value)
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_to_jsonable)
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError) as exc:
        raise TypeError(
            f"cannot build a cache key from a {type(value).__name__} argument ({exc}); "
            "give the decorator a key= template naming the arguments that matter"
        ) from None
    return "j" + text


class KeyBuilder:
    """Turns one call's arguments into its cache key; everything costly is done in ``__init__``.

    Args:
        fn: the decorated function (its signature decides the argument binding).
        namespace: ``{prefix}:cache:{version}``.
        template: ``str.format`` template naming parameters, or ``None`` for the default key.

    Raises:
        ConfigError: the template names something that is not a parameter of ``fn``.
    """

    __slots__ = (
        "_fast",
        "_head",
        "_names",
        "_parts",
        "_signature",
        "_skip",
        "_template",
        "fast_format",
        "namespace",
    )

    def __init__(self, fn: Callable[..., Any], namespace: str, template: str | None) -> None:
        self.namespace = namespace
        self._signature = inspect.signature(fn)
        params = list(self._signature.parameters.values())
        # a method's first parameter (self/cls) is not part of what it computes
        self._skip = 1 if params and params[0].name in ("self", "cls") else 0
        simple = all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is p.empty
            for p in params
        )
        self._names = tuple(p.name for p in params)
        self._fast = len(params) if simple else -1  # positional call with every argument
        given = template
        if template is not None and template[:1] == "{" and template[:2] != "{{":
            # an argument first could render "" or "}..." and leave the hash tag empty: the
            # value and its lock would then hash to different Cluster slots (CROSSSLOT)
            template = "=" + template
        self._template = template
        # a template of plain {name} fields compiles to (literal, argument index) pairs
        self._parts: str | None = None
        if template is not None:
            parts: list[tuple[str, int]] | None = []
            for literal, field, spec, conversion in string.Formatter().parse(template):
                if field is None:
                    if parts is not None:
                        parts.append((literal, -1))
                    continue
                root = field.split(".", 1)[0].split("[", 1)[0]
                if root not in self._names[self._skip :]:
                    raise ConfigError(
                        "key",
                        f"key template {given!r} names {root!r}, which is not a parameter "
                        f"of {fn.__qualname__}{self._signature}",
                    )
                if parts is not None and root == field and not spec and not conversion:
                    parts.append((literal, self._names.index(root)))
                else:
                    parts = None  # attribute access or a format spec: use str.format
            if parts is not None:  # "{limit}" -> "{0}": str.format by position is cheapest
                escaped = [
                    lit.replace("{", "{{").replace("}", "}}") + ("" if i < 0 else f"{{{i}}}")
                    for lit, i in parts
                ]
                ns = namespace.replace("{", "{{").replace("}", "}}")
                self._parts = f"{ns}:{{{{{''.join(escaped)}}}}}"
        self._head = f"{namespace}:{{{fn.__module__}.{fn.__qualname__}:"
        #: for a compiled template: (format string, argument count) a caller may use directly
        #: when a call passes exactly that many positional arguments and no keywords
        self.fast_format = (self._parts, self._fast) if self._parts is not None else None

    def _bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def __call__(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        """The key for one call. Raises ``TypeError`` for arguments ``fn`` would reject."""
        if self._template is not None:
            if not kwargs and len(args) == self._fast:
                if self._parts is not None:
                    return self._parts.format(*args)
                mapping = dict(zip(self._names, args, strict=True))
            else:
                mapping = self._bind(args, kwargs)
            return f"{self.namespace}:{{{self._template.format_map(mapping)}}}"
        if not kwargs and len(args) == self._fast:
            values: Any = args[self._skip :]
        else:
            arguments = self._bind(args, kwargs)
            values = [arguments[name] for name in self._names[self._skip :]]
        ident = ",".join([normalise(v) for v in values])
        if len(ident) > MAX_ID:
            ident = "sha256:" + hashlib.sha256(ident.encode()).hexdigest()
        return f"{self._head}{ident}}}"
