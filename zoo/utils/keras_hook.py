"""Register a package's Keras classes on demand, so a light ``import`` still lets Keras load its files.

``keras.saving.load_model`` finds a custom class by its registered name
(``"aezoo>Autoencoder"``) in Keras' registry, which the class's module fills when
it is imported. A package that keeps its import light (no Keras until needed)
would make users import its model modules by hand first. Instead,
:func:`register_on_lookup` makes the registry import them the first time
Keras looks up a name of the package that is not there yet: at load time,
never at ``import`` time. If Keras is not imported yet, this waits for it
(a one-shot import hook), so importing the package still imports no Keras.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable

_LOCK = threading.RLock()


class _RegistryThatLoads(dict):
    """Keras' name -> class registry that first runs a package's loader for an unknown ``package>Name``."""

    def __init__(self, registry: dict) -> None:
        super().__init__(registry)
        self.loaders: dict[str, Callable[[], None]] = {}

    def _load_for(self, name) -> None:
        package = name.split(">", 1)[0] if isinstance(name, str) and ">" in name else None
        with _LOCK:
            load = self.loaders.pop(package, None)
        if load is not None:
            load()

    def __contains__(self, name) -> bool:
        if not super().__contains__(name):
            self._load_for(name)
        return super().__contains__(name)

    def __missing__(self, name):
        self._load_for(name)
        if super().__contains__(name):
            return super().__getitem__(name)
        raise KeyError(name)

    def get(self, name, default=None):
        return self[name] if name in self else default


def _install(package: str, load: Callable[[], None]) -> None:
    """Put the loading registry in place of Keras' own (keeping every entry) and add ``package``'s loader."""
    from keras.src.saving import object_registration

    with _LOCK:
        registry = object_registration.GLOBAL_CUSTOM_OBJECTS
        if not isinstance(registry, _RegistryThatLoads):
            registry = _RegistryThatLoads(registry)
            object_registration.GLOBAL_CUSTOM_OBJECTS = registry
        registry.loaders[package] = load


class _Loader:
    """The real loader of a module, then the callbacks once the module is complete."""

    def __init__(self, loader, callbacks: list[Callable[[], None]]) -> None:
        self._loader, self._callbacks = loader, callbacks

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader  # introspection sees the real loader
        for callback in self._callbacks:
            callback()


class _AfterImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: when ``name`` is first imported, run callbacks after its module has loaded."""

    def __init__(self, name: str) -> None:
        self.name, self.callbacks = name, []

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        with _LOCK:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the finders after this one
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.callbacks)
        return spec


def register_on_lookup(package: str, load: Callable[[], None]) -> None:
    """Call ``load()`` when Keras first looks up an unregistered ``"<package>>Name"``.

    Importing Keras is left to whoever needs it: if it is not imported yet,
    a one-shot import hook installs the lookup once Keras has loaded.

    Args:
        package: The ``package`` given to ``keras.saving.register_keras_serializable``.
        load: Imports the modules that register the package's classes (idempotent).
    """
    keras_module = sys.modules.get("keras")
    if keras_module is not None and not getattr(getattr(keras_module, "__spec__", None), "_initializing", False):
        _install(package, load)
        return
    with _LOCK:
        hook = next((f for f in sys.meta_path if isinstance(f, _AfterImport) and f.name == "keras"), None)
        if hook is None:
            hook = _AfterImport("keras")
            sys.meta_path.insert(0, hook)
        hook.callbacks.append(lambda: _install(package, load))


__all__ = ["register_on_lookup"]
