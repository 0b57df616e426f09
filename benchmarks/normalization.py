"""Normalization against batch size: `mnist_cnn` on Fashion-MNIST under each `norm=`, trained at
batch sizes 128, 16 and 2 for the same number of epochs, in one run.

    python benchmarks/normalization.py [--train 4000] [--epochs 5] [--seeds 0]

Wu & He 2018 (Group Normalization, arXiv:1803.08494, figure 1) found that batch norm's error grows
as the batch shrinks, because its statistics come from the batch, while group norm, which
normalizes each example on its own, stays the same. This measures whether that holds here.

The setting follows theirs: SGD with momentum 0.9 and the linear scaling rule (learning rate
0.1 x batch / 128), so every batch size takes the same total step size per epoch; the same first
`--train` training images (the rest of the training set is not used) and the whole 10,000-image
test set; `steps_per_execution=16` so that batch 2's per-step Python overhead does not dominate.
The network is `mnist_cnn` with filters (16, 32) and 64 dense units: the norm follows both
convolutions and the hidden Dense layer (on that vector "layer", "instance" and "group" are all
layer norm).
Writes benchmarks/results/normalization.json and a plot, normalization.png.
"""

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

from machine import describe

HERE = Path(__file__).resolve().parent
NORMS = ("batch", "batch_renorm", "layer", "instance", "group", None)
BATCH_SIZES = (128, 16, 2)
ARCHITECTURE_KWARGS = {"filters": (16, 32), "dense_units": 64}
BASE_LEARNING_RATE, BASE_BATCH = 0.1, 128


def train_once(norm, batch_size: int, seed: int, x_train, y_train, x_test, y_test, epochs: int) -> dict:
    import keras

    import architectures

    keras.utils.set_random_seed(seed)
    model = architectures.build("mnist_cnn", norm=norm, **ARCHITECTURE_KWARGS)
    model.compile(optimizer=keras.optimizers.SGD(BASE_LEARNING_RATE * batch_size / BASE_BATCH, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=16)
    started = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - started
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    return {"norm": norm, "batch_size": batch_size, "seed": seed, "test_accuracy": round(float(accuracy), 4),
            "test_loss": round(float(loss), 4), "train_loss": round(float(history.history["loss"][-1]), 4),
            "fit_seconds": round(seconds, 1)}


def verdict(mean_accuracy: dict) -> dict:
    """Did batch norm lose more than group norm between the largest and the smallest batch?"""
    large, small = max(BATCH_SIZES), min(BATCH_SIZES)
    drop = {norm: round(mean_accuracy[(norm, large)] - mean_accuracy[(norm, small)], 4) for norm in NORMS}
    held = drop["batch"] > drop["group"] + 0.005 and mean_accuracy[("group", small)] > mean_accuracy[("batch", small)]
    return {"accuracy_drop_from_batch_128_to_2": {str(norm): value for norm, value in drop.items()},
            "held": held,
            "rule": "held if batch norm's drop exceeds group norm's by more than 0.5 points and group norm "
                    "beats batch norm at batch 2"}


def plot(mean_accuracy: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(6, 4), dpi=110)
    for norm in NORMS:
        axes.plot(BATCH_SIZES, [100 * mean_accuracy[(norm, b)] for b in BATCH_SIZES], marker="o", label=str(norm))
    axes.set_xscale("log", base=2)
    axes.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    axes.invert_xaxis()
    axes.set_xlabel("batch size (examples per batch)")
    axes.set_ylabel("Fashion-MNIST test accuracy (%)")
    axes.set_title("mnist_cnn under each norm= (same epochs, linear lr scaling)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(title="norm", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--train", type=int, default=4000, help="training images (the first N)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    from recipes.data import load_arrays

    raw = load_arrays("fashion_mnist")
    x_train = (raw.x_train[:args.train] / 255.0).astype("float32")
    y_train = raw.y_train[:args.train]
    x_test, y_test = (raw.x_test / 255.0).astype("float32"), raw.y_test

    rows = []
    started = time.perf_counter()
    for batch_size in BATCH_SIZES:
        for norm in NORMS:
            for seed in args.seeds:
                row = train_once(norm, batch_size, seed, x_train, y_train, x_test, y_test, args.epochs)
                rows.append(row)
                print(f"batch {batch_size:>3}  norm {str(norm):<12} seed {seed}: "
                      f"{100 * row['test_accuracy']:.2f}%  ({row['fit_seconds']:.0f} s)", flush=True)
    mean_accuracy = {(norm, b): statistics.mean(r["test_accuracy"] for r in rows
                                                if r["norm"] == norm and r["batch_size"] == b)
                     for norm in NORMS for b in BATCH_SIZES}
    result = {
        "date": datetime.date.today().isoformat(), "machine": describe(),
        "command": "python benchmarks/normalization.py " + " ".join(
            [f"--train {args.train}", f"--epochs {args.epochs}", "--seeds", *map(str, args.seeds)]),
        "network": {"architecture": "mnist_cnn", **ARCHITECTURE_KWARGS},
        "setting": {"train_images": args.train, "test_images": len(y_test), "epochs": args.epochs,
                    "optimizer": "SGD momentum 0.9", "learning_rate": f"{BASE_LEARNING_RATE} x batch / {BASE_BATCH}",
                    "steps_per_execution": 16},
        "rows": rows,
        "mean_test_accuracy": {str(norm): {str(b): round(mean_accuracy[(norm, b)], 4) for b in BATCH_SIZES}
                               for norm in NORMS},
        "wu_he_2018": verdict(mean_accuracy),
        "total_seconds": round(time.perf_counter() - started),
    }
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "normalization.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(mean_accuracy, results / "normalization.png")
    print(json.dumps(result["mean_test_accuracy"], indent=2))
    print("Wu & He 2018 held here:", result["wu_he_2018"]["held"], result["wu_he_2018"]["accuracy_drop_from_batch_128_to_2"])


if __name__ == "__main__":
    main()
