"""One process of a search: ``python -m recipes.tuning '<tune arguments as JSON>'``, started by
``trials_per_process`` and ``launch_distributed``."""

import json
import logging
import os
import sys

from recipes.logs import DEBUG_ENV, quiet_tensorflow
from recipes.tuning.search import tune


def _main(arguments: str) -> int:
    """Run ``tune(**arguments)`` in this process, logging under its keras-tuner ID."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    logging.basicConfig(level=logging.INFO, format=f"[{tuner_id}] %(message)s")
    if not os.environ.get(DEBUG_ENV):
        quiet_tensorflow()
    found = tune(**json.loads(arguments))
    if found.export_path:
        print(f"[{tuner_id}] exported: {found.export_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
