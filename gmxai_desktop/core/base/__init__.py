"""Foundations every other core layer may use: errors, cancellable jobs, atomic writes, resources, devices.

This layer imports nothing else from gmxai_desktop.
"""
