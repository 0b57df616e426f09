"""The single-shot detector against the region-based baseline on generated Fashion-MNIST canvases:
mAP@0.5, mAP@[.5:.95] and milliseconds per image of both, measured in one run.

    python benchmarks/detection.py [--epochs 12] [--num-train 3000] [--num-test 200]

One ``recipes.run("fashion_mnist_detection", ...)`` (no export): it trains the SSD-style detector,
then its evaluation trains the baseline's window classifier on patches of the same training
images and measures both on the same fixed test set (its own seed, Fashion-MNIST's test items):
COCO-style mAP (``recipes.tasks._average_precision``, at most 100 detections per image and class)
and wall milliseconds per image in batches of 8 after a warm-up batch, decoding and NMS included.
Writes benchmarks/results/detection.json and the picture of test images with both detectors'
boxes, benchmarks/results/detection.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

RECIPE = "fashion_mnist_detection"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="the recipe's own when not given")
    parser.add_argument("--num-train", type=int, default=None)
    parser.add_argument("--num-test", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "detection.json")
    args = parser.parse_args()

    import recipes
    from machine import describe

    options = {key: value for key, value in (("num_train", args.num_train), ("num_test", args.num_test))
               if value is not None}
    overrides = {"seed": args.seed, **({"epochs": args.epochs} if args.epochs else {}),
                 **({"task_options": options} if options else {})}
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work_dir:
        result = recipes.run(RECIPE, export=False, work_dir=work_dir, verbose=2, **overrides)
        picture = next(path for path in result.plots if path.name == "detections.png")
        shutil.copy(picture, args.output.with_suffix(".png"))
    seconds = time.perf_counter() - started
    metrics, used = result.test_metrics, result.recipe
    row = {"map_50": "map_50", "map_50_95": "map_50_95", "map_75": "map_75", "ms_per_image": "ms_per_image"}
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "command": "python benchmarks/detection.py " + " ".join(sys.argv[1:]),
        "recipe": RECIPE,
        "settings": {"epochs": used.epochs, "batch_size": used.batch_size, "seed": used.seed,
                     "task_options": vars(used.task_options), "architecture": used.architecture,
                     "architecture_kwargs": used.architecture_kwargs},
        "data": {"train_images": result.timings.get("train_images"), "test_images": used.task_options.num_test},
        "detectors": {
            "single_shot": {**{key: metrics[name] for key, name in row.items()},
                            "train_seconds": result.timings["fit_seconds"],
                            "parameters": result.model.count_params()},
            "region_based": {**{key: metrics[f"baseline_{name}"] for key, name in row.items()},
                             "train_seconds": metrics["baseline_train_seconds"],
                             "windows_per_image": metrics["baseline_windows"]},
        },
        "speedup": metrics["baseline_ms_per_image"] / metrics["ms_per_image"],
        "total_seconds": seconds,
    }
    report["data"]["train_images"] = used.task_options.num_train - int(round(used.task_options.num_train
                                                                             * used.validation_split))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report["detectors"], indent=2), f"\nspeed-up {report['speedup']:.0f}x; wrote {args.output}")


if __name__ == "__main__":
    main()
