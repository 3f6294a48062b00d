"""rlft: reinforcement-learning fine-tuning of LLM agents on decision-making tasks."""

import os as _os

__version__ = "0.1.0"

# Development hook: RLFT_CORE_DIR names a build directory whose _core extension should be
# imported instead of the installed one (scripts/dev_build.sh prints how to use it).
if _os.environ.get("RLFT_CORE_DIR"):
    __path__.insert(0, _os.environ["RLFT_CORE_DIR"])  # type: ignore[name-defined]
