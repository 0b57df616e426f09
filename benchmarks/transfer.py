"""Does a pretrained backbone help with few labels? Measured in one run:

  1. pretrain the fashion_mnist_cnn network on Fashion-MNIST classes 0-4 (all their labels);
  2. fine-tune it on classes 5-9 with 1% of their training labels (recipes.fine_tune), unfreezing
     the top layers or all of them;
  3. train the same network from scratch on that same 1%.

Both are tested on every test image of classes 5-9. Writes benchmarks/results/transfer.json.

    python benchmarks/transfer.py [--label-fraction 0.01]
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe  # noqa: E402

import keras  # noqa: E402

import recipes  # noqa: E402
from recipes import data  # noqa: E402

UNFREEZE = {"top": ("conv2", "fc"), "all": ("conv1", "conv2", "fc")}


def classes(raw, wanted, name):
    keep_train, keep_test = np.isin(raw.y_train, wanted), np.isin(raw.y_test, wanted)
    offset = min(wanted)
    return data.RawData(raw.x_train[keep_train], raw.y_train[keep_train] - offset, raw.x_test[keep_test],
                        raw.y_test[keep_test] - offset, raw.class_names[offset:offset + len(wanted)],
                        raw.input_name, raw.value_range, f"{raw.source}, classes {wanted[0]}-{wanted[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-fraction", type=float, default=0.01)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    args = parser.parse_args()
    recipe = recipes.get("fashion_mnist_cnn")
    arch = (recipe.architecture, recipe.architecture_kwargs)
    work = HERE / "runs" / "transfer"
    raw = data.load_arrays("fashion_mnist")
    keras.utils.set_random_seed(0)

    source = data.from_arrays("fashion_mnist_0_4", classes(raw, [0, 1, 2, 3, 4], "source"), batch_size=128)
    started = time.perf_counter()
    pretrained = recipes.classifier_for(source.info, arch[0], **arch[1])
    pretraining = recipes.compile_and_fit(pretrained, source, learning_rate=2e-3, schedule="cosine",
                                          epochs=args.pretrain_epochs, run_dir=work / "pretrain", verbose=2)
    pretrain_seconds = time.perf_counter() - started

    target_raw = classes(raw, [5, 6, 7, 8, 9], "target")
    labelled = int(round(len(target_raw.x_train) * args.label_fraction))
    target = data.from_arrays("fashion_mnist_5_9", target_raw, batch_size=32, train_limit=labelled, seed=0)
    patience = {**recipe.callbacks, "early_stopping": {"monitor": "val_loss", "patience": 10}}

    # Each variant starts from the same saved weights: a backbone shares weights with its source.
    pretrained.save(work / "pretrained.keras")
    transfers = {}
    for variant, unfreeze in UNFREEZE.items():
        keras.utils.set_random_seed(0)
        transfers[variant] = recipes.fine_tune(
            work / "pretrained.keras", target, head_epochs=30, fine_tune_epochs=30, unfreeze=unfreeze,
            learning_rate=1e-3, fine_tune_learning_rate=1e-4, callbacks=patience,
            run_dir=work / f"fine_tune_{variant}", verbose=0)
    keras.utils.set_random_seed(0)
    scratch_model = recipes.classifier_for(target.info, arch[0], **arch[1])
    scratch = recipes.compile_and_fit(scratch_model, target, learning_rate=1e-3, epochs=60, callbacks=patience,
                                      run_dir=work / "scratch", verbose=0)

    summary = {
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "command": "python benchmarks/transfer.py",
        "network": f"{arch[0]} {arch[1]}",
        "pretrain": {"classes": "0-4", "train_images": source.info.num_train, "epochs": args.pretrain_epochs,
                     "test_accuracy_on_0_4": pretraining.test_metrics["accuracy"], "seconds": round(pretrain_seconds)},
        "target": {"classes": "5-9", "labelled_images": labelled, "train": target.info.num_train,
                   "validation": target.info.num_validation, "test_images": target.info.num_test},
        "head_only_test_accuracy": transfers["top"].head_only.test_metrics["accuracy"],
        "fine_tuned_test_accuracy": {v: t.test_metrics["accuracy"] for v, t in transfers.items()},
        "unfrozen_in_phase2": {v: t.trainable_in_phase2 for v, t in transfers.items()},
        "scratch_test_accuracy": scratch.test_metrics["accuracy"],
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "transfer.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
