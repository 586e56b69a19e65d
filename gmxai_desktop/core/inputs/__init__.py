"""From a file on disk to a model input: image decoding, labels, face detection and alignment.

Depends on ``base`` only (and on ``models.base`` for the adapter contract in the pipeline).
"""
