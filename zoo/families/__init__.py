"""Registered autoencoder recipes: one module per family, found and imported automatically.

Adding a family is adding a module here whose recipes carry ``@register_model``
(see ``docs/contributing.md``); no other file changes.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
