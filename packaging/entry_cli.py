"""Frozen entry point of the gmxai executable (see gmxai-desktop.spec)."""

import sys

from gmxai_desktop.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
