"""gmxai-desktop: explain facial-syndrome classifiers (GestaltMatcher, DeepGestalt) visually."""

__version__ = "0.1.0"
