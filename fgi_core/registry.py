"""The one registry style of the project: a name -> thing dict, a ``register_*`` decorator, a
``list_*`` function.

Registries built on :class:`Registry` (each keeps the dict name it always had):

======================  ==============================  ===================================
what                    dict                            register / list
======================  ==============================  ===================================
networks                ``fgi_core.models.MODELS``      ``register_model`` / ``list_models``
VLM backends            ``fgi_core.explain.backends``   ``register_explainer`` /
                        ``.EXPLAINERS``                 ``list_explainers``
text encoders           ``fgi_core.explain.encode``     ``register_text_encoder`` /
                        ``.ENCODERS``                   ``list_text_encoders``
supervised losses       ``fgi_core.losses``             ``register_loss`` / ``list_losses``
                        ``.SUPERVISED_LOSSES``
dataset readers         ``fgi_core.data.base``          ``register_dataset`` /
                        ``.DATASETS``                   ``list_datasets``
======================  ==============================  ===================================

A dataset reader registers itself with its presets and its data folder
(``@register_dataset(name, presets=..., folder=...)``);
``fgi_core.data.PRESETS`` and ``fgi_core.runs.DATA_FOLDERS`` are views of that registry
(:class:`RegistryView`), not tables of their own.

:func:`look_up_option` is the project's one "did you mean" check of a name against the allowed
ones. This module imports nothing else of fgi_core, so every other module may import it.

Example:
    >>> shapes = Registry("shape")
    >>> @shapes.register("square")
    ... class Square: ...
    >>> shapes.names(), shapes.lookup("square") is Square
    (['square'], True)
    >>> shapes.lookup("sqare")
    Traceback (most recent call last):
    ...
    ValueError: Unknown shape 'sqare'; allowed: square. Did you mean 'square'?
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = ["Registry", "RegistryView", "look_up_option"]


def look_up_option(name: str, allowed: Iterable[str], what: str = "option") -> str:
    """Return ``name`` if it is one of ``allowed``, else raise a ValueError that lists them.

    The message names the allowed values and, where one is close, asks "did you mean".

    Raises:
        ValueError: ``Unknown profile 'quik'; allowed: cpu, paper, quick. Did you mean 'quick'?``
    """
    allowed = sorted(allowed)
    if name in allowed:
        return name
    close = difflib.get_close_matches(str(name), allowed, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"Unknown {what} {name!r}; allowed: {', '.join(allowed)}.{hint}")


class Registry(dict):
    """A ``dict`` of name -> thing, filled with :meth:`register`.

    Args:
        what: what a name names, for messages (``"model kind"``, ``"explainer"``, ...).
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, name: str, value: Any = None) -> Any:
        """Add ``value`` under ``name``; without ``value``, a decorator that adds what it decorates.

        Raises:
            ValueError: ``name`` is registered already.
        """
        def add(thing: Any) -> Any:
            if name in self:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self[name] = thing
            return thing

        return add if value is None else add(value)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self)

    def lookup(self, name: str) -> Any:
        """The thing registered as ``name``.

        Raises:
            ValueError: an unknown name, with the allowed ones and "Did you mean ...".
        """
        return self[look_up_option(name, self, self.what)]


class RegistryView(Mapping):
    """A read-only ``name -> value`` mapping derived from a registry each time it is read.

    For the tables that used to be written out beside a registry (``fgi_core.data.PRESETS``,
    ``fgi_core.runs.DATA_FOLDERS``): the registry is their one home, the view reads it, so a
    reader registered later shows up too. It compares equal to a ``dict`` with the same items.

    Args:
        build: returns the current ``dict`` (it may import the registry's module: the view can
            be made before that module is importable).
        what: what a key names, for ``repr``.

    Example:
        >>> shapes = Registry("shape")
        >>> sides = RegistryView(lambda: {name: 4 for name in shapes}, "shape")
        >>> _ = shapes.register("square", object)
        >>> sides == {"square": 4}, sides.get("circle")
        (True, None)
    """

    def __init__(self, build: Callable[[], Mapping[str, Any]], what: str) -> None:
        self._build = build
        self.what = what

    def __getitem__(self, name: str) -> Any:
        return self._build()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"RegistryView({self.what}: {dict(self._build())!r})"
