"""GestaltMatcher-Arc: onnx2torch-converted iResNet ArcFace networks, read without running file code.

``unpickle`` reads upstream's whole-model ``.pth`` through an allow-listed unpickler, ``onnx_reader``
converts the ``.onnx`` backbones, ``graph`` rebuilds either as a plain dataflow network, and
``iresnet`` is the reference topology for fixtures and benchmarks.
"""
