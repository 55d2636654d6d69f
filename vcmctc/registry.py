"""One generic, lazy registry for named parts (metrics, loaders, adapters, report formats).

Entries are ``"module:attribute"`` strings imported on first use, so registering a part costs
nothing at import time. Duplicate names are refused; an unknown name gets a suggestion.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Generic, Iterator, TypeVar

from vcmctc.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str) -> None:
        """Register ``name`` for ``target`` ("package.module:attribute")."""
        if name in self._targets:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._targets[name]})")
        if ":" not in target:
            raise ValueError(f"target {target!r} must be 'module:attribute'")
        self._targets[name] = target

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise a UserError that suggests near names."""
        if name not in self._targets:
            near = difflib.get_close_matches(name, self._targets, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise UserError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})")
        return name

    def get(self, name: str) -> T:
        self.check(name)
        if name not in self._loaded:
            module, _, attr = self._targets[name].partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._loaded[name] = obj
        return self._loaded[name]
