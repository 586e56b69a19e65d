"""The headless ``gmxai`` command line: a thin layer over :mod:`gmxai_desktop.core`."""
