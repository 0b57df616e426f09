"""Run TensorFlow Serving's own integration tests against `keras-recipes serve`.

    python benchmarks/tf_serving_own_tests.py --serving PATH [--testdata DIR] [--legacy-keras]
        [--output benchmarks/results/tf_serving_own_tests.json] [-- TEST_NAME ...]

``PATH`` is a tensorflow/serving checkout, or its bare git directory (as ``git clone --bare``
leaves it). Its ``tensorflow_serving/model_servers/tensorflow_model_server_test.py`` starts
``$TEST_SRCDIR/tf_serving/tensorflow_serving/model_servers/tensorflow_model_server`` with TF
Serving's flags (``--port``, ``--rest_api_port``, ``--grpc_socket_path``, ...) and talks to it
over gRPC and REST with the official clients. This script lays out that folder with a
``tensorflow_model_server`` that runs ``keras-recipes serve``, the test models of ``--testdata``
(default: tests/fixtures/tfserving_testdata, a copy of TF Serving's), and runs the file unchanged.

``--legacy-keras`` sets ``TF_USE_LEGACY_KERAS=1`` (needs ``pip install tf_keras``): the tests that
build Keras models expect Keras 2's SavedModel signatures (an input named ``x``), which Keras 3
does not write, with TF Serving as with this server. Needs ``pip install portpicker``.
Not run in CI (it needs the tensorflow/serving sources); about 8 minutes on 2 cores.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_FILES = {"model_servers/tensorflow_model_server_test.py": "tensorflow_model_server_test.py",
              "model_servers/test_util/tensorflow_model_server_test_base.py": "test_util/tensorflow_model_server_test_base.py"}
RUNNER = """import os, sys
import tensorflow_serving
tensorflow_serving.__path__.append({package!r})
import tensorflow.compat.v1 as tf
from tensorflow_serving.model_servers import tensorflow_model_server_test as tests
from absl.testing import absltest
tf.enable_eager_execution()
absltest.main(module=tests)
"""


def read_source(serving: Path, relative: str) -> str:
    path = serving / "tensorflow_serving" / relative
    if path.is_file():
        return path.read_text()
    done = subprocess.run(["git", f"--git-dir={serving}", "show", f"HEAD:tensorflow_serving/{relative}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"--serving {serving}: neither a tensorflow/serving checkout nor its git directory "
                 f"(no tensorflow_serving/{relative}: {done.stderr.strip()})")
    return done.stdout


def lay_out(work: Path, serving: Path, testdata: Path) -> Path:
    package = work / "package"
    for relative, target in TEST_FILES.items():
        (package / "model_servers" / target).parent.mkdir(parents=True, exist_ok=True)
        (package / "model_servers" / target).write_text(read_source(serving, relative))
    for folder in (package / "model_servers", package / "model_servers" / "test_util"):
        (folder / "__init__.py").touch()
    source = work / "srcdir" / "tf_serving" / "tensorflow_serving"
    shutil.copytree(testdata, source / "servables" / "tensorflow" / "testdata")
    server = source / "model_servers" / "tensorflow_model_server"
    server.parent.mkdir(parents=True)
    server.write_text(f"#!/bin/sh\nexec {sys.executable} -m recipes.cli serve \"$@\"\n")
    server.chmod(server.stat().st_mode | stat.S_IEXEC)
    (work / "run.py").write_text(RUNNER.format(package=str(package)))
    return work / "run.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serving", type=Path, required=True, help="tensorflow/serving checkout or git directory")
    parser.add_argument("--testdata", type=Path, default=ROOT / "tests" / "fixtures" / "tfserving_testdata")
    parser.add_argument("--legacy-keras", action="store_true", help="TF_USE_LEGACY_KERAS=1 (needs tf_keras)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "tf_serving_own_tests.json")
    parser.add_argument("--log", type=Path, help="also write the tests' whole output (the servers' logs too) here")
    parser.add_argument("tests", nargs="*", help="e.g. TensorflowModelServerTest.testPredictREST (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tfs-own-tests-") as folder:
        runner = lay_out(Path(folder), args.serving.resolve(), args.testdata.resolve())
        environment = {**os.environ, "TEST_SRCDIR": str(Path(folder) / "srcdir"),
                       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if args.legacy_keras:
            environment["TF_USE_LEGACY_KERAS"] = "1"
        done = subprocess.run([sys.executable, str(runner), *args.tests], cwd=folder, env=environment,
                              capture_output=True, text=True)
    log = done.stdout + done.stderr
    if args.log is not None:
        args.log.write_text(log)
    outcomes = {}
    for outcome, name in re.findall(r"^\[\s*(OK|FAILED)\s*\] \S*?(\w+)$", log, flags=re.MULTILINE):
        outcomes[name] = outcome.lower().replace("ok", "passed")
    reasons = {}
    for name, text in re.findall(r"^(?:ERROR|FAIL): (\w+) .*?\n-{20,}\n(.*?)(?=\n={20,}|\Z)", log,
                                 flags=re.MULTILINE | re.DOTALL):
        raised = re.findall(r"^(?:\w+\.)*\w*(?:Error|Exception|Failure)\b.*$", text, flags=re.MULTILINE)
        reasons[name] = (raised[-1] if raised else text.strip().splitlines()[-1])[:300]
    result = {"date": datetime.date.today().isoformat(),
              "command": "python benchmarks/tf_serving_own_tests.py " + " ".join(sys.argv[1:]),
              "passed": sorted(name for name, outcome in outcomes.items() if outcome == "passed"),
              "failed": {name: reasons.get(name, "") for name, outcome in outcomes.items() if outcome == "failed"}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(result['passed'])} passed, {len(result['failed'])} failed (written to {args.output})")
    for name, reason in result["failed"].items():
        print(f"  {name}: {reason}")
    if not outcomes:
        print(log[-3000:])


if __name__ == "__main__":
    main()
