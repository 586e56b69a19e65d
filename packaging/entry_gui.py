"""Frozen entry point of the gmxai-desktop executable (see gmxai-desktop.spec)."""

import sys

from gmxai_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
