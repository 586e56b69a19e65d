"""Analyses over maps and embeddings: metrics, evaluation, composites, similarity, model comparison.
"""
