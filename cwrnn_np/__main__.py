"""``python -m cwrnn_np`` is the ``cwrnn`` command line."""
import sys

from .cli import main

sys.exit(main())
