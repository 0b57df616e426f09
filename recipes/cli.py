"""``keras-recipes``: list, run, tune, serve, evaluate and predict from the command line.

``list`` and ``--help`` never import TensorFlow; the other commands import it only after
setting ``TF_ENABLE_ONEDNN_OPTS=1`` (unless you set it), which roughly doubles CPU speed, and
without its start-up notices unless ``--verbose`` (``recipes.logs``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

import recipes
from architectures.registry import UnknownArchitectureError, static_entries
from recipes import catalog
from recipes.errors import RecipeError
from recipes.logs import DEBUG_ENV, quiet_tensorflow
from recipes.serve.tf_serving_flags import INERT_FLAGS, apply_tensorflow_threads, check_inert_flags
from recipes.tables import format_table
from recipes.training.distribute import STRATEGIES
from recipes.training.precision import PRECISIONS


def cmd_list(args) -> int:
    recipe_rows = []
    for name in catalog.names(args.pattern):
        recipe = catalog.get(name)
        documented = ", ".join(f"{k} {v:.1%}".replace(".0%", "%") if k == "accuracy" else f"{k} {v}"
                               for k, v in recipe.expected.items())
        recipe_rows.append((name, recipe.dataset, recipe.architecture, documented, recipe.description))
    print("Recipes (keras-recipes run NAME)\n")
    print(format_table(recipe_rows, ("name", "dataset", "architecture", "documented", "description")))
    import fnmatch

    arch_rows = [(e.name, e.family, f"{e.inputs} -> {e.outputs}", e.paper) for e in static_entries() if fnmatch.fnmatchcase(e.name, args.pattern)]
    print("\nArchitectures (architectures.build(NAME, ...))\n")
    print(format_table(arch_rows, ("name", "family", "takes -> gives", "reference")))
    return 0


def parse_image_size(text: str) -> tuple[int, int]:
    """``"32x48"`` -> (32, 48): height x width in pixels."""
    height, sep, width = text.lower().partition("x")
    if not sep or not height.strip().isdigit() or not width.strip().isdigit() or not int(height) or not int(width):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH in pixels, e.g. 32x32; got {text!r}")
    return int(height), int(width)


def user_data_options(args) -> dict:
    """``recipes.run``'s own-data keywords from ``--data``, ``--image-size``, ``--color-mode`` and
    ``--skip-bad-images``."""
    if args.data is None:
        unused = [flag for flag, value in (("--image-size", args.image_size), ("--color-mode", args.color_mode),
                                           ("--target", args.target)) if value is not None]
        unused += ["--skip-bad-images"] if args.skip_bad_images else []
        if unused:
            raise RecipeError(f"{', '.join(unused)} apply to your own data; give it with --data PATH")
        return {}
    return {"data": args.data, "target": args.target, "image_size": args.image_size, "color_mode": args.color_mode,
            "bad_files": "skip" if args.skip_bad_images else "stop"}


def without_workers_flag(argv: list[str]) -> list[str]:
    """``argv`` without ``--workers N`` (or ``--workers=N``): what each launched worker runs."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--workers":
            skip = True
        elif not item.startswith("--workers="):
            kept.append(item)
    return kept


def cmd_run(args) -> int:
    overrides = dict(catalog.parse_assignment(item) for item in args.set)
    for option in ("epochs", "batch_size", "seed", "precision"):
        if getattr(args, option) is not None:
            overrides[option] = getattr(args, option)
    recipe = catalog.with_overrides(catalog.get(args.name), overrides)
    if args.workers is not None:
        if args.distribute not in (None, "multi_worker"):
            raise RecipeError(f"--workers starts multi_worker processes; it does not combine with --distribute "
                              f"{args.distribute}")
        from pathlib import Path

        from recipes.training.distribute import launch_workers

        argv = [*without_workers_flag(args.argv), *(["--distribute", "multi_worker"] if not args.distribute else [])]
        return launch_workers(argv, workers=args.workers, log_dir=Path(args.work_dir) / recipe.name / "workers")
    result = recipes.run(recipe, data_dir=args.data_dir, export_dir=args.export_dir, export=not args.no_export,
                         export_name=args.export_name, work_dir=args.work_dir, deterministic=args.deterministic,
                         distribute=args.distribute, verbose=1 if sys.stdout.isatty() else 2,
                         **user_data_options(args))
    if result.run_dir is None:  # a non-chief worker of a multi-worker run: the chief reports
        return 0
    tested = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    print(f"\n{recipe.name}: " + (f"test {tested}" if tested else "no test split, so nothing was tested")
          + f" (documented: {', '.join(f'{k} {v}' for k, v in recipe.expected.items())}"
          + (f", on {recipe.dataset})" if args.data else ")"))
    print(f"trained {result.timings['epochs_run']} epochs in {result.timings['fit_seconds']:.0f} s; "
          f"run folder {result.run_dir}")
    for plot in result.plots:
        print(f"plot: {plot}")
    print(f"exported: {result.export_path}" if result.export_path else "not exported (--no-export)")
    return 0


def cmd_export(args) -> int:
    result = recipes.finish(args.run_dir)
    print(f"exported: {result.export_path}")
    return 0


def cmd_tune(args) -> int:
    overrides = dict(catalog.parse_assignment(item) for item in args.set)
    if args.precision is not None:
        overrides["precision"] = args.precision
    options = dict(tuner=args.tuner, max_trials=args.max_trials, max_epochs=args.max_epochs,
                   objective=args.objective, directory=args.directory, overwrite=args.overwrite,
                   fixed=dict(catalog.parse_assignment(item) for item in args.fix),
                   max_model_size=args.max_model_size, trials_per_process=args.trials_per_process,
                   export=not args.no_export, export_dir=args.export_dir, export_name=args.export_as,
                   seed=args.seed, data_dir=args.data_dir, distribute=args.distribute,
                   **user_data_options(args), **overrides)
    catalog.with_overrides(catalog.get(args.name), overrides)  # fail fast on a bad name or setting
    from recipes import tuning

    if args.workers:
        status = tuning.launch_distributed(args.name, workers=args.workers, host=args.oracle_host,
                                           port=args.oracle_port, **options)
        print(f"chief exited with status {status}; trials and the best model are under "
              f"{args.directory}/{args.name}")
        return status
    found = tuning.tune(args.name, **options)
    print(f"\n{args.name}: {len(found.trials)} trials ({len(found.failed)} failed), ranked by {found.objective}\n")
    print(found.table())
    if found.result is not None:
        print(f"\nbest trial {found.best_trial_id} retrained on train + validation: test "
              + ", ".join(f"{k} {v:.4f}" for k, v in found.test_metrics.items()))
    print(f"exported: {found.export_path}" if found.export_path else "not exported (--no-export)")
    return 0


# TF Serving's boolean flags as it writes them, --flag=true or --flag=false: the flag that means
# true here, and the one that means false (None: leaving the flag out).
TF_SERVING_BOOLEANS = {"--enable_batching": ("--batching", None), "--batching": ("--batching", None),
                       "--enable_grpc_healthcheck_service": ("--enable_grpc_healthcheck_service", None),
                       "--enable_profiler": ("--enable_profiler", "--no_profiler"),
                       "--enable_serialization_as_tensor_content": ("--enable_serialization_as_tensor_content", None),
                       "--use_alts_credentials": ("--use_alts_credentials", None),
                       "--enable_model_warmup": ("--enable_model_warmup", "--no_model_warmup"),
                       "--prefer_tflite_model": ("--prefer_tflite_model", None),
                       "--rest_api_enable_cors_support": ("--rest_api_enable_cors_support", None)}
TF_SERVING_BOOLEANS.update({f"--{flag.name}": (f"--{flag.name}", f"--no_{flag.name}")
                            for flag in INERT_FLAGS if flag.kind is bool})


class _Parser(argparse.ArgumentParser):
    """Reads ``--flag=true|false|1|0`` for TF Serving's boolean flags, which argparse's
    ``store_true`` refuses, without letting a bare ``--batching`` swallow the word after it."""

    def parse_known_args(self, args=None, namespace=None):
        rewritten = []
        for token in sys.argv[1:] if args is None else args:
            flag, sep, value = token.partition("=")
            if not sep or flag not in TF_SERVING_BOOLEANS:
                rewritten.append(token)
                continue
            truth = value.strip().lower()
            if truth not in ("true", "1", "false", "0"):
                self.error(f"argument {flag}: expected true or false, got {value!r}")
            chosen = TF_SERVING_BOOLEANS[flag][0 if truth in ("true", "1") else 1]
            rewritten += [chosen] if chosen else []
        return super().parse_known_args(rewritten, namespace)


def serve_ports(args) -> tuple[int, int | None]:
    """(REST port, gRPC port or None) from --port, --rest_api_port and --grpc-port: --port is the
    REST port, unless --rest_api_port names that, when it is TF Serving's --port, the gRPC one."""
    if args.rest_api_port is None:
        return (8501 if args.port is None else args.port), args.grpc_port
    if args.port is None or args.port == args.grpc_port:
        grpc_port = args.grpc_port
    elif args.grpc_port is not None:
        raise RecipeError(f"--port {args.port} with --rest_api_port is TF Serving's gRPC port, but --grpc-port "
                          f"says {args.grpc_port}; give one of them")
    else:
        grpc_port = args.port or None  # TF Serving's --port=0: no gRPC port
    if grpc_port == args.rest_api_port:
        raise RecipeError(f"--rest_api_port and the gRPC port are both {grpc_port}; they must differ")
    return args.rest_api_port, grpc_port


def cmd_serve(args) -> int:
    from recipes.serve.config import parse_channel_arguments
    from recipes.serve.server import AddressInUseError, check_port, options_from_flags, resolve_workers, run_server

    if args.rest_api_timeout_in_ms < 0:
        raise RecipeError(f"--rest_api_timeout_in_ms must be 0 (no limit) or more. Received: {args.rest_api_timeout_in_ms}")
    if args.version:
        print(server_version())
        return 0
    args.port, args.grpc_port = serve_ports(args)
    for note in check_inert_flags(vars(args)):
        logging.getLogger("keras_recipes.serve").info(note)
    threads = apply_tensorflow_threads(args.tensorflow_session_parallelism, args.tensorflow_intra_op_parallelism,
                                       args.tensorflow_inter_op_parallelism)
    if threads:
        logging.getLogger("keras_recipes.serve").info(
            "TensorFlow threads: %s", ", ".join(f"{name}={value}" for name, value in threads.items()))
    args.workers = resolve_workers(args.workers, args.grpc_socket_path)
    for port in (args.port, args.grpc_port):
        if port is not None:
            check_port(args.host, port)  # before the models folder or config file is read
    options = options_from_flags(
        base_path=args.base_path, model_name=args.model_name, model_base_path=args.model_base_path,
        model_config_file=args.model_config_file, config_poll_seconds=args.model_config_file_poll_wait_seconds,
        poll_seconds=args.poll_seconds, batching=args.batching, batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file, metrics=not args.no_metrics,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        enable_model_warmup=args.enable_model_warmup, prefer_tflite_model=args.prefer_tflite_model,
        saved_model_tags=args.saved_model_tags, cors=args.rest_api_enable_cors_support,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        max_batch_size=args.max_batch_size, batch_timeout_ms=args.batch_timeout_ms, batch_threads=args.batch_threads,
        ssl_config_file=args.ssl_config_file, use_alts_credentials=args.use_alts_credentials,
        grpc_health_check=args.enable_grpc_healthcheck_service, grpc_profiler=args.enable_profiler,
        grpc_tensor_content=args.enable_serialization_as_tensor_content,
        max_body_bytes=args.max_body_bytes, access_log=args.access_log, grpc_socket_path=args.grpc_socket_path,
        grpc_channel_arguments=parse_channel_arguments(args.grpc_channel_arguments),
        rest_timeout_ms=args.rest_api_timeout_in_ms)
    try:
        run_server(host=args.host, port=args.port, grpc_port=args.grpc_port, workers=args.workers, **options)
    except AddressInUseError as error:
        if error.port == args.grpc_port:
            flag = "--port" if args.rest_api_port is not None else "--grpc-port"
        else:
            flag = "--rest_api_port" if args.rest_api_port is not None else "--port"
        raise RecipeError(f"port {error.port} on {error.host} is in use (by another server?); "
                          f"choose another with {flag} N") from None
    return 0


def server_version() -> str:
    """What ``serve --version`` prints, as TF Serving's ``--version``: this server's and TensorFlow's versions."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return f"keras-recipes serve (TF Serving's APIs): {installed('keras-recipes')}\nTensorFlow Library: {installed('tensorflow')}"


def cmd_evaluate(args) -> int:
    from recipes.inference import evaluate_exported

    metrics = evaluate_exported(args.model, args.data, data_dir=args.data_dir)
    shown = ", ".join(f"{key} {metrics[key]:.4f}" for key in ("accuracy", "loss", "mae") if key in metrics)
    print(f"{args.model} on {args.data} {metrics['split']} ({metrics['examples']} examples): {shown}")
    return 0


def cmd_predict(args) -> int:
    from recipes.inference import predict_files

    for row in predict_files(args.model, args.files, top=args.top):
        if "value" in row:
            print(f"{row['input']}: {', '.join(f'{v:.6g}' for v in row['value'])}")
        else:
            print(f"{row['input']}: {', '.join(f'{name} {p:.1%}' for name, p in row['top'])}")
    return 0


def add_accept_modified_argument(command) -> None:
    command.add_argument("--accept-modified-data", action="store_true",
                         help="use dataset files that claim to be a published release (name and size) although "
                              "their SHA-256 differs; without it that is an error")


def add_user_data_arguments(command) -> None:
    command.add_argument("--data", metavar="PATH", help="train on your own data instead of the recipe's dataset: "
                                                         "a folder of class subfolders of images, 'tfds:NAME', a "
                                                         "registered dataset, or a CSV file (tabular recipes; with "
                                                         "--target)")
    command.add_argument("--target", metavar="COLUMN", help="the CSV file's column to predict")
    command.add_argument("--image-size", type=parse_image_size, metavar="HxW",
                         help="resize your images to this (default: the recipe's input size)")
    command.add_argument("--color-mode", choices=("grayscale", "rgb", "rgba"),
                         help="convert your images to this (default: the recipe's channels)")
    command.add_argument("--skip-bad-images", action="store_true",
                         help="leave unreadable image files out, naming each, instead of stopping")


def _inert_help(flag) -> str:
    return f"refused when set: {flag.reason}" if flag.refused_when_set else f"no effect: {flag.reason}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keras-recipes", allow_abbrev=False,
        description="Train, evaluate, export and use classic Keras architectures.",
        epilog=f"Errors print one line; set {DEBUG_ENV}=1 for the full traceback.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help=f"show TensorFlow's own start-up and progress logs (also: {DEBUG_ENV}=1)")

    listing = commands.add_parser("list", allow_abbrev=False, parents=[common], help="show recipes and architectures")
    listing.add_argument("pattern", nargs="?", default="*", help="wildcard filter, e.g. 'fashion*'")
    listing.set_defaults(handler=cmd_list)

    run = commands.add_parser("run", allow_abbrev=False, parents=[common], help="train, evaluate and export a named recipe")
    run.add_argument("name", help="recipe name (see `keras-recipes list`)")
    run.add_argument("--epochs", type=int)
    run.add_argument("--batch-size", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe setting, e.g. --set learning_rate=3e-4 "
                          "--set architecture_kwargs.dropout=0.3 (repeatable)")
    add_user_data_arguments(run)
    run.add_argument("--data-dir", help="folder holding the recipe's own dataset files")
    add_accept_modified_argument(run)
    run.add_argument("--deterministic", action="store_true",
                     help="deterministic TensorFlow ops: the same command gives the same metrics (slower)")
    run.add_argument("--export-name", help="export under this name (default: the recipe's; with --data, "
                                           "RECIPE_DATANAME)")
    run.add_argument("--export-dir", default="saved_models", help="export root (default: saved_models)")
    run.add_argument("--no-export", action="store_true", help="train and evaluate only")
    run.add_argument("--work-dir", default="runs", help="checkpoints, logs and plots (default: runs)")
    run.add_argument("--precision", choices=PRECISIONS,
                     help="Keras dtype policy to train in (default: the recipe's, float32; auto: from the hardware)")
    run.add_argument("--distribute", choices=STRATEGIES,
                     help="tf.distribute strategy: mirrored (this machine's devices) or multi_worker (the cluster "
                          "in TF_CONFIG); the batch size is per replica, see README")
    run.add_argument("--workers", type=int, metavar="N",
                     help="start N multi_worker processes on 127.0.0.1 (worker 0, the chief, reports and exports)")
    run.set_defaults(handler=cmd_run)

    tune = commands.add_parser("tune", allow_abbrev=False, parents=[common], help="keras-tuner search over a recipe's architecture and training settings")
    tune.add_argument("name", help="recipe name (see `keras-recipes list`)")
    tune.add_argument("--tuner", default="hyperband", choices=("hyperband", "random", "bayesian", "grid"))
    tune.add_argument("--max-trials", type=int, help="trials to run (default 10; hyperband: its full schedule)")
    tune.add_argument("--max-epochs", type=int, default=10, help="epochs per trial at most (default 10)")
    tune.add_argument("--objective", help="metric to optimise (default val_accuracy, else val_loss)")
    tune.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                      help="pin a hyperparameter, e.g. --fix batch_size=64 (repeatable)")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a recipe setting, as in `run` (repeatable)")
    tune.add_argument("--max-model-size", type=int, help="fail trials with more parameters than this")
    tune.add_argument("--trials-per-process", type=int,
                      help="run trials in fresh processes of this many each, so memory stays bounded")
    tune.add_argument("--directory", default="tuning", help="where searches live (default: tuning)")
    tune.add_argument("--overwrite", action="store_true", help="start over instead of continuing the search")
    tune.add_argument("--workers", type=int, default=0,
                      help="run a chief plus this many worker processes on this machine")
    tune.add_argument("--oracle-host", default="127.0.0.1", help="address of the chief's oracle (with --workers)")
    tune.add_argument("--oracle-port", type=int, help="port of the chief's oracle (default: a free one)")
    add_user_data_arguments(tune)
    tune.add_argument("--data-dir", help="folder holding the recipe's own dataset files")
    add_accept_modified_argument(tune)
    tune.add_argument("--export-dir", default="saved_models", help="export root (default: saved_models)")
    tune.add_argument("--no-export", action="store_true", help="search and retrain only")
    tune.add_argument("--export-as", metavar="NAME",
                      help="export the winner under this name (default: <recipe>_tuned, so the served <recipe> stays)")
    tune.add_argument("--seed", type=int, help="the search's seed: the tuner's draws and every trial (default: the recipe's)")
    tune.add_argument("--distribute", choices=STRATEGIES,
                      help="every trial's keras-tuner distribution_strategy (its batch size is then the global batch)")
    tune.add_argument("--precision", choices=PRECISIONS, help="Keras dtype policy the trials train in")
    tune.set_defaults(handler=cmd_tune)

    export = commands.add_parser("export", allow_abbrev=False, parents=[common],
                                 help="finish a run that stopped after training (a failed export): evaluate and export")
    export.add_argument("run_dir", help="the run folder the failed run named, runs/NAME/HASH")
    export.set_defaults(handler=cmd_export)

    serve = commands.add_parser(
        "serve", allow_abbrev=False, parents=[common], help="serve exported models over TF Serving's REST and gRPC APIs",
        description="Serve exported models as TF Serving does. TF Serving's flag spellings work too. One "
                    "clash: TF Serving's --port is its gRPC port, while --port alone is the REST port here "
                    "(gRPC is --grpc-port). Given with --rest_api_port, --port is read as TF Serving reads "
                    "it, the gRPC port, so TF Serving's own command lines run unchanged.")
    serve.add_argument("base_path", nargs="?", default=None,
                       help="folder of NAME/VERSION exports (default: saved_models)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=None,
                       help="REST port (default 8501, TF Serving's REST port); with --rest_api_port, the gRPC "
                            "port as in TF Serving (0: no gRPC port)")
    serve.add_argument("--rest_api_port", type=int, default=None, help="REST port, TF Serving's spelling")
    serve.add_argument("--grpc-port", type=int, default=None,
                       help="also serve TF Serving's gRPC API on this port (TF Serving's is 8500)")
    serve.add_argument("--grpc_socket_path", metavar="PATH",
                       help="also serve gRPC on this Unix socket, as TF Serving's flag")
    serve.add_argument("--grpc_channel_arguments", default="", metavar="KEY=VALUE,...",
                       help="gRPC server arguments, as TF Serving's flag (grpc.max_connection_age_ms=2000,...)")
    serve.add_argument("--enable_grpc_healthcheck_service", action="store_true",
                       help="serve gRPC's standard health service, grpc.health.v1.Health, on the gRPC port "
                            "(TF Serving's flag)")
    serve.add_argument("--enable_profiler", action="store_true", default=True,
                       help="serve TensorFlow's ProfilerService on the gRPC port (the default, as TF Serving; "
                            "--enable_profiler=false leaves it off)")
    serve.add_argument("--no_profiler", dest="enable_profiler", action="store_false", help=argparse.SUPPRESS)
    serve.add_argument("--enable_serialization_as_tensor_content", action="store_true",
                       help="gRPC Predict answers carry their tensors in tensor_content, not float_val and the "
                            "like (TF Serving's flag)")
    serve.add_argument("--ssl_config_file", metavar="FILE",
                       help="serve gRPC over TLS, with TF Serving's SSLConfig (text proto: server_key, server_cert, "
                            "custom_ca, client_verify); REST stays plain HTTP, as TF Serving's")
    serve.add_argument("--use_alts_credentials", action="store_true",
                       help="TF Serving's ALTS, for Google Cloud only: not supported here; use --ssl_config_file")
    serve.add_argument("--rest_api_timeout_in_ms", type=int, default=30_000, metavar="MS",
                       help="answer 504 to a REST predict, classify or regress not done in this time "
                            "(default 30000, as TF Serving; 0: no limit)")
    serve.add_argument("--model_name", "--model-name", dest="model_name", help="with --model_base_path: the model's name (default: default)")
    serve.add_argument("--model_base_path", "--model-base-path", dest="model_base_path",
                       help="serve one model whose version folders are in this folder, as TF Serving")
    serve.add_argument("--model_config_file", "--model-config-file", dest="model_config_file",
                       help="TF Serving's model config (text proto: model_config_list, version policies, labels)")
    serve.add_argument("--model_config_file_poll_wait_seconds", "--model-config-file-poll-wait-seconds",
                       dest="model_config_file_poll_wait_seconds", type=float, default=0.0,
                       help="re-read --model_config_file this often (default 0: never)")
    serve.add_argument("--allow_version_labels_for_unavailable_models", action="store_true",
                       help="as TF Serving's flag: a label may name a version that is not loaded yet")
    serve.add_argument("--batching", "--enable_batching", dest="batching", action="store_true",
                       help="merge concurrent requests into batches (TF Serving's --enable_batching[=true])")
    serve.add_argument("--enable_model_warmup", action="store_true", default=True,
                       help="replay each version's assets.extra/tf_serving_warmup_requests before serving it "
                            "(the default, as TF Serving; --enable_model_warmup=false or --no_model_warmup skips it)")
    serve.add_argument("--no_model_warmup", dest="enable_model_warmup", action="store_false", help=argparse.SUPPRESS)
    serve.add_argument("--num_request_iterations_for_warmup", type=int, default=0, metavar="N",
                       help="run each warmup request N times (TF Serving's flag; used if above 0, else once)")
    serve.add_argument("--prefer_tflite_model", action="store_true",
                       help="serve a version folder's model.tflite, where it has one, instead of its SavedModel "
                            "(TF Serving's flag)")
    serve.add_argument("--saved_model_tags", default="serve", metavar="TAG,...",
                       help="load the SavedModel meta graph with exactly these tags (TF Serving's flag; default serve)")
    serve.add_argument("--rest_api_enable_cors_support", action="store_true",
                       help="CORS headers on every REST answer (Access-Control-Allow-Origin: *), as TF Serving's flag")
    for scope, meaning in (("session", "intra- and inter-op threads"), ("intra_op", "threads within one op"),
                           ("inter_op", "ops run at once")):
        serve.add_argument(f"--tensorflow_{scope}_parallelism", type=int, default=0, metavar="N",
                           help=f"TensorFlow's {meaning}, as TF Serving's flag (default 0: TensorFlow picks)")
    serve.add_argument("--version", action="store_true",
                       help="print the server's and TensorFlow's versions and exit (TF Serving's flag)")
    inert = serve.add_argument_group(
        "TF Serving flags for its C++ runtime", "accepted so that TF Serving's command lines run unchanged; each "
        "one given is logged with why it has no effect here, and those that would change answers are refused")
    for flag in INERT_FLAGS:
        if flag.kind is bool:
            inert.add_argument(f"--{flag.name}", action="store_const", const=True, default=None, help=_inert_help(flag))
            inert.add_argument(f"--no_{flag.name}", dest=flag.name, action="store_const", const=False,
                               help=argparse.SUPPRESS)
        else:
            inert.add_argument(f"--{flag.name}", type=flag.kind, default=None, metavar="VALUE", help=_inert_help(flag))
    serve.add_argument("--batching_parameters_file", "--batching-parameters-file", dest="batching_parameters_file",
                       help="TF Serving's batching parameters (text proto); turns batching on")
    serve.add_argument("--max-batch-size", type=int, default=32, help="rows per merged batch (default 32)")
    serve.add_argument("--batch-timeout-ms", type=float, default=5.0,
                       help="longest wait for a batch to fill (default 5 ms)")
    serve.add_argument("--batch-threads", type=int, default=1,
                       help="batches run at once, as TF Serving's num_batch_threads (default 1; "
                            "more may pay for a heavy model on a machine with cores to spare)")
    serve.add_argument("--poll-seconds", "--file_system_poll_wait_seconds", dest="poll_seconds", type=float, default=2.0,
                       help="how often to look for new versions (default 2; 0 turns it off)")
    serve.add_argument("--max-body-bytes", type=int, default=32 * 2**20, help="largest request body (default 32 MiB)")
    serve.add_argument("--monitoring_config_file", "--monitoring-config-file", dest="monitoring_config_file",
                       help="TF Serving's monitoring config (prometheus_config { enable, path })")
    serve.add_argument("--no-metrics", action="store_true",
                       help="no Prometheus metrics (default: on, at /monitoring/prometheus/metrics)")
    serve.add_argument("--workers", type=int, default=None,
                       help="server processes sharing the ports, each with its own models and batching "
                            "(default: $WEB_CONCURRENCY, else 1)")
    serve.add_argument("--access-log", metavar="PATH", help="one line per request to this file ('-': standard output)")
    serve.set_defaults(handler=cmd_serve)

    evaluate = commands.add_parser("evaluate", allow_abbrev=False, parents=[common], help="evaluate an exported model on a test split")
    evaluate.add_argument("model", help="saved_models/NAME/VERSION (or saved_models/NAME for the newest)")
    evaluate.add_argument("--data", required=True, help="a dataset name (its test split), e.g. fashion_mnist; a "
                                                        "folder of class subfolders of images (its test/ split, or "
                                                        "all); 'tfds:NAME'; or, for a table model, a CSV file")
    evaluate.add_argument("--data-dir")
    add_accept_modified_argument(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", allow_abbrev=False, parents=[common],
                                  help="classify PNG/JPEG images or .npy arrays, or the rows of CSV files")
    predict.add_argument("model", help="saved_models/NAME/VERSION (or saved_models/NAME for the newest)")
    predict.add_argument("files", nargs="+")
    predict.add_argument("--top", type=int, default=3, help="classes to show per input (default 3)")
    predict.set_defaults(handler=cmd_predict)
    return parser


# Errors a user can fix: a bad setting, name, path or input. They end the command with one line
# and exit status 2; anything else is a failure of ours (status 1), its traceback shown with
# KERAS_RECIPES_DEBUG=1.
USER_ERRORS = (RecipeError, UnknownArchitectureError, ValueError, TypeError, FileNotFoundError, NotADirectoryError,
               IsADirectoryError, PermissionError)


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with spaces (a message that ends a command is one line)."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _report(message: str, status: int) -> int:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exc()
    print(f"keras-recipes: error: {one_line(message)}", file=sys.stderr)
    return status


def main(argv=None) -> int:
    """Run the command line; returns the exit status: 0, 2 for a usage or user error (one line on
    stderr), 1 for an unexpected failure (one line; the traceback with KERAS_RECIPES_DEBUG=1),
    130 when interrupted."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        printing_only = args.command == "list" or getattr(args, "version", False)  # serve --version
        if not printing_only and not (args.verbose or os.environ.get(DEBUG_ENV)):
            quiet_tensorflow()
        if getattr(args, "accept_modified_data", False):  # an environment variable reaches tuning's worker processes
            from recipes.data.checksums import ACCEPT_MODIFIED_ENV

            os.environ[ACCEPT_MODIFIED_ENV] = "1"
        return args.handler(args)
    except KeyboardInterrupt:
        print("keras-recipes: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `keras-recipes list | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
        return 0
    except USER_ERRORS as error:
        return _report(str(error) or type(error).__name__, 2)
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        reason = one_line(str(error))
        reason = f"{type(error).__name__}: {reason[:300]}{'...' if len(reason) > 300 else ''}" if reason \
            else type(error).__name__
        return _report(f"{args.command} failed unexpectedly ({reason}); set {DEBUG_ENV}=1 for the traceback", 1)


if __name__ == "__main__":
    sys.exit(main())
