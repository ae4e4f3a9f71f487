"""``python -m openai_usage_async``: the ``openai-usage`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
