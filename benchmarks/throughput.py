"""Training throughput of the `fashion_mnist_cnn` recipe against the same model trained the plain
Keras way (numpy arrays scaled by hand, `model.fit` defaults: batch 32, TensorFlow's own oneDNN
default), measured in one run. Each variant runs in a fresh process, because oneDNN can only be
switched before TensorFlow is imported.

    python benchmarks/throughput.py [--images 10000] [--rounds 3]

The recipe runs in each precision (`precision=`: float32, mixed_bfloat16, mixed_float16). Reports
images/s, each variant's ratio to the baseline, the CPU's features (AVX-512, BF16, AMX), and the
achieved GFLOP/s against this CPU's FP32 peak (cores x 32 FLOP/cycle: two 256-bit FMA units x
clock) and, for bf16, its BF16 peak (twice that where the CPU has AVX512_BF16, whose VDPBF16PS
does two bf16 multiply-adds per FP32 lane). Writes benchmarks/results/throughput.json.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = "fashion_mnist_cnn"
VARIANTS = {
    "baseline": "plain Keras script, defaults (batch 32, TensorFlow's oneDNN default)",
    "baseline_onednn": "plain Keras script, defaults, TF_ENABLE_ONEDNN_OPTS=1",
    "recipe": f"recipes.run('{RECIPE}'): tf.data pipeline without autotuning, batch 128, oneDNN on, all callbacks",
    "recipe_bf16": f"recipes.run('{RECIPE}', precision='mixed_bfloat16')",
    "recipe_fp16": f"recipes.run('{RECIPE}', precision='mixed_float16')",
    "recipe_auto_256": f"recipes.run('{RECIPE}', precision='auto', batch_size=256)",
}
OVERRIDES_OF = {"recipe": {"precision": "float32"}, "recipe_bf16": {"precision": "mixed_bfloat16"},
                "recipe_fp16": {"precision": "mixed_float16"},
                "recipe_auto_256": {"precision": "auto", "batch_size": 256}}
FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def measure(variant: str, images: int) -> dict:
    """Runs inside the child process."""
    if variant not in OVERRIDES_OF:
        import keras  # noqa: F401  (TensorFlow first, so it keeps its own oneDNN default)

    import recipes
    from recipes.data import load_arrays

    recipe = recipes.get(RECIPE)
    if variant in OVERRIDES_OF:
        result = recipes.run(RECIPE, epochs=1, train_limit=images, validation_split=0.0, export=False,
                             work_dir=HERE / "runs" / "throughput", verbose=0, **OVERRIDES_OF[variant])
        seconds, model = result.timings["fit_seconds"], result.model
        accuracy = result.test_metrics["accuracy"]  # after one epoch on these images, on the whole test set
    else:
        import architectures

        raw = load_arrays(recipe.dataset)
        x = raw.x_train[:images].astype("float32") / 255.0
        y = raw.y_train[:images]
        model = architectures.build(recipe.architecture, **recipe.architecture_kwargs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        started = time.perf_counter()
        model.fit(x, y, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        accuracy = None
    return {"images": images, "seconds": seconds, "images_per_second": images / seconds,
            "test_accuracy": accuracy, "forward_flops_per_image": forward_flops(model)}


def forward_flops(model) -> int:
    """Multiply-adds x 2 of the Conv2D and Dense layers, nested models included."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            kernel_height, kernel_width, channels_in, channels_out = layer.kernel.shape
            total += 2 * height * width * kernel_height * kernel_width * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="variants to measure (default: all; baseline is always measured)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(args.child, args.images)))
        return

    sys.path.insert(0, str(HERE))
    from machine import cpu_clock_ghz, describe

    # This VM's throughput jumps between two levels about 2x apart (shared host), so the variants
    # are interleaved over several rounds and compared by their medians.
    chosen = {variant: VARIANTS[variant] for variant in VARIANTS if variant in {"baseline", "recipe", *args.variants}}
    rounds: dict[str, list[dict]] = {variant: [] for variant in chosen}
    for round_index in range(args.rounds):
        for variant in chosen:
            env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
            env["TF_CPP_MIN_LOG_LEVEL"] = "2"
            if variant != "baseline":
                env["TF_ENABLE_ONEDNN_OPTS"] = "1"
            done = subprocess.run([sys.executable, __file__, "--child", variant, "--images", str(args.images)],
                                  env=env, capture_output=True, text=True, check=True)
            line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
            rounds[variant].append({**json.loads(line[len("RESULT "):]),
                                    "onednn_on": "oneDNN custom operations are on" in done.stderr})
            print(f"round {round_index + 1}: {variant:16s} {rounds[variant][-1]['images_per_second']:8.0f} images/s",
                  flush=True)
    measured = {}
    for variant, description in chosen.items():
        rates = sorted(r["images_per_second"] for r in rounds[variant])
        measured[variant] = {"description": description, "images_per_second": statistics.median(rates),
                             "all_rounds_images_per_second": rates, "images": args.images,
                             "onednn_on": rounds[variant][0]["onednn_on"],
                             "test_accuracies": [r["test_accuracy"] for r in rounds[variant]],
                             "forward_flops_per_image": rounds[variant][0]["forward_flops_per_image"]}
        print(f"{variant:16s} median {measured[variant]['images_per_second']:8.0f} images/s  ({description})")

    sys.path.insert(0, str(HERE.parent))
    from recipes.training.precision import BF16_CPU_FLAGS, cpu_flags

    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0))
    fp32_peak = cores * 32 * cpu_clock_ghz()
    bf16_peak = fp32_peak * (2 if "avx512_bf16" in flags or "amx_bf16" in flags else 1)
    baseline = measured["baseline"]["images_per_second"]
    # A round of the plain script can lose seconds to tf.data's stall at the end of an epoch
    # (the recipe turns that off), so each ratio is also given against the fastest round of
    # either form of the plain script: the conservative ratio.
    fastest_plain = max(rate for variant in ("baseline", "baseline_onednn") if variant in measured
                        for rate in measured[variant]["all_rounds_images_per_second"])
    training_flops = 3 * measured["recipe"]["forward_flops_per_image"]  # forward + 2x backward
    for variant, entry in measured.items():
        entry["ratio_vs_baseline"] = entry["images_per_second"] / baseline
        entry["ratio_vs_fastest_plain_round"] = entry["images_per_second"] / fastest_plain
        entry["achieved_gflops"] = training_flops * entry["images_per_second"] / 1e9
        entry["fraction_of_fp32_peak"] = entry["achieved_gflops"] / fp32_peak
        precision = OVERRIDES_OF.get(variant, {}).get("precision")
        if precision == "mixed_bfloat16" or (precision == "auto" and flags & set(BF16_CPU_FLAGS)):
            entry["fraction_of_bf16_peak"] = entry["achieved_gflops"] / bf16_peak
    summary = {
        "date": datetime.date.today().isoformat(),
        "machine": describe(),
        "cpu_features": {feature: feature in flags for feature in FEATURES},
        "command": f"python benchmarks/throughput.py --images {args.images} --rounds {args.rounds}",
        "variants": measured,
        "ratio_recipe_vs_baseline": measured["recipe"]["ratio_vs_baseline"],
        **({"ratio_onednn_only": measured["baseline_onednn"]["ratio_vs_baseline"]} if "baseline_onednn" in measured
           else {}),
        "training_gflop_per_image": training_flops / 1e9,
        "fp32_peak_gflops": fp32_peak,
        "bf16_peak_gflops": bf16_peak,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "throughput.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nCPU features: {', '.join(f for f in FEATURES if f in flags) or 'none of ' + ', '.join(FEATURES)}")
    for variant, entry in measured.items():
        print(f"{variant:16s} {entry['ratio_vs_baseline']:.2f}x baseline ({entry['ratio_vs_fastest_plain_round']:.2f}x "
              f"the fastest plain-script round), {entry['achieved_gflops']:.1f} GFLOP/s "
              f"({entry['fraction_of_fp32_peak']:.0%} of {fp32_peak:.0f} FP32 peak"
              + (f", {entry['fraction_of_bf16_peak']:.0%} of {bf16_peak:.0f} BF16 peak)" if "fraction_of_bf16_peak"
                 in entry else ")"))


if __name__ == "__main__":
    main()
