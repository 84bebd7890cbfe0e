#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    # A developer's checkout runs in debug unless told otherwise; deployments set DEBUG=0
    # (and the system check common.E001 refuses the development keys off the devnet).
    os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
