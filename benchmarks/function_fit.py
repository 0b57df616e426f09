"""Universal approximation, measured: the max error of a one-hidden-layer ReLU network on sin,
|x| and a step, for 4, 16, 64 and 256 hidden units, next to the piecewise-linear interpolant
through as many + 1 evenly spaced points (a function that width can represent exactly).

    python benchmarks/function_fit.py

Each fit is ``recipes.run("function_fit_<f>")`` with only ``hidden_units`` changed. Writes
benchmarks/results/function_fit.json and benchmarks/results/function_fit.png. Not run in CI.
"""

import datetime
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

import numpy as np  # noqa: E402

import recipes  # noqa: E402
from recipes.data.synthetic import FUNCTIONS  # noqa: E402
from recipes.tasks import function_fit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WIDTHS = (4, 16, 64, 256)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4 * len(WIDTHS), 3.2 * len(FUNCTIONS)), dpi=90)
    grid = figure.subplots(len(FUNCTIONS), len(WIDTHS), squeeze=False)
    rows = []
    for row, name in enumerate(FUNCTIONS):
        for column, width in enumerate(WIDTHS):
            started = time.perf_counter()
            result = recipes.run(f"function_fit_{name}", architecture_kwargs={"hidden_units": width},
                                 export=False, work_dir="benchmarks/runs", verbose=0)
            function, interval = FUNCTIONS[name]
            x = np.linspace(*interval, 2001, dtype="float32")[:, None]
            fits = {"network": result.model.predict(x, verbose=0)[:, 0],
                    f"interpolant, {width + 1} points":
                        function_fit.interpolation_baseline(function, interval, width + 1, x)[:, 0]}
            function_fit.plot_fits(x[:, 0], function(x)[:, 0], fits, None, axes=grid[row, column],
                                   title=f"{name}, {width} units: max error {result.test_metrics['max_error']:.3f}")
            rows.append({"function": name, "hidden_units": width, **result.test_metrics,
                         "seconds": round(time.perf_counter() - started, 1)})
            print(rows[-1], flush=True)
    figure.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(RESULTS / "function_fit.png")
    (RESULTS / "function_fit.json").write_text(json.dumps(
        {"rows": rows, "date": datetime.date.today().isoformat(), "machine": describe(),
         "command": "python benchmarks/function_fit.py"}, indent=2) + "\n")
    print("\n| function | hidden units | max error | interpolant's max error |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['function']} | {r['hidden_units']} | {r['max_error']:.4f} | {r['interpolation_max_error']:.4f} |")


if __name__ == "__main__":
    main()
