"""Exporters (SavedModel, TFLite/LiteRT, ONNX) and their validation.

Not built yet: the export issue adds one module per format here. Nothing in this
package is used by the rest of aezoo today.
"""
