"""Qt-free core of gmxai-desktop.

Nothing under ``gmxai_desktop.core`` may import Qt: the GUI and the ``gmxai`` CLI are thin
layers over this package, and the core must stay testable headless.
"""
