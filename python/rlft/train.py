"""Entry point: ``deepspeed python/rlft/train.py [--config FILE] [section.key=value ...]``,
``python python/rlft/train.py ...`` (one rank) or ``rlft train ...``.

This file stays thin: run as a script, its own folder is first on sys.path, so everything
lives in the installed ``rlft.trainer`` package."""

import sys

if __name__ == "__main__":
    from rlft.trainer.cli import main

    sys.exit(main())
