"""Maintainer tools that train the pretrained entries and write their cards and figures into
the source tree (``build``, ``publish``); they are not part of the installed ``zoo`` package."""
