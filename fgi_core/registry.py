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
======================  ==============================  ===================================

Datasets follow the same style with their own dict in :mod:`fgi_core.data.base`
(``register_dataset`` / ``list_datasets``).

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

from typing import Any

from .config import look_up_option

__all__ = ["Registry"]


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
