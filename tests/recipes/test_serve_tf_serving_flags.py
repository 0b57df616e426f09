"""TF Serving's own flags on `keras-recipes serve`: --saved_model_tags, the TensorFlow threading
flags, --rest_api_enable_cors_support and --version do what they do in TF Serving; the flags for
its C++ runtime are accepted and logged, and those that would change answers are refused."""

import http.client
import shutil
import subprocess
import sys

import numpy as np
import pytest

from harness import TFSERVING_TESTDATA, Server
from recipes.cli import build_parser, main
from recipes.errors import RecipeError
from recipes.serve.loading import LoadError, load_version
from recipes.serve.server import options_from_flags
from recipes.serve.tf_serving_flags import (INERT_FLAGS, INTER_OP_ENV, INTRA_OP_ENV, check_inert_flags,
                                            tensorflow_thread_environment)

HALF_PLUS_TWO = TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"


def parse_serve(*flags: str):
    return build_parser().parse_args(["serve", "models", *flags])


@pytest.mark.parametrize("flag", [flag for flag in INERT_FLAGS if not flag.refused_when_set], ids=lambda f: f.name)
def test_every_runtime_flag_is_accepted_and_named_in_the_log(flag):
    value = {bool: "true", int: "4", float: "0.5", str: "x"}[flag.kind]
    args = parse_serve(f"--{flag.name}={value}")
    notes = check_inert_flags(vars(args))
    assert len(notes) == 1 and notes[0].startswith(f"--{flag.name}=") and "no effect" in notes[0]


def test_tf_servings_boolean_spellings_of_runtime_flags():
    assert parse_serve("--flush_filesystem_caches").flush_filesystem_caches is True
    assert parse_serve("--flush_filesystem_caches=false").flush_filesystem_caches is False
    assert parse_serve("--flush_filesystem_caches=1").flush_filesystem_caches is True
    assert parse_serve().flush_filesystem_caches is None
    assert check_inert_flags(vars(parse_serve())) == []


@pytest.mark.parametrize("flags", [["--platform_config_file=platform.txt"], ["--mixed_precision=bfloat16"],
                                   ["--tensorflow_session_config_file=session.txt"],
                                   ["--thread_pool_factory_config_file=pools.txt"],
                                   ["--enable_per_model_batching_parameters=true"]])
def test_flags_that_would_change_answers_are_refused_by_name(flags):
    name = flags[0].split("=")[0]
    with pytest.raises(RecipeError, match=f"TF Serving's {name} is not supported"):
        check_inert_flags(vars(parse_serve(*flags)))


def test_refusable_flags_left_at_tf_servings_defaults_pass():
    args = parse_serve("--enable_per_model_batching_parameters=false", "--mixed_precision=")
    assert len(check_inert_flags(vars(args))) == 2


@pytest.mark.parametrize("session, intra, inter, expected", [
    (0, 0, 0, {}),
    (2, 0, 0, {INTRA_OP_ENV: "2", INTER_OP_ENV: "2"}),
    (0, 1, 0, {INTRA_OP_ENV: "1"}),
    (4, 1, 3, None),  # all three: refused, as in TF Serving
    (4, 0, 3, {INTER_OP_ENV: "3"}),  # the specific flags win over the session one
])
def test_threading_flags_are_read_as_tf_serving_reads_them(session, intra, inter, expected):
    if expected is None:
        with pytest.raises(RecipeError, match="You cannot configure all"):
            tensorflow_thread_environment(session, intra, inter)
    else:
        assert tensorflow_thread_environment(session, intra, inter) == expected


def test_a_negative_thread_count_names_its_flag():
    with pytest.raises(RecipeError, match="--tensorflow_intra_op_parallelism must be 0"):
        tensorflow_thread_environment(0, -1, 0)


def test_version_prints_both_versions_without_loading_tensorflow():
    done = subprocess.run([sys.executable, "-c", "import sys\nfrom recipes.cli import main\nrc = main(['serve', '--version'])\n"
                           "print('tensorflow' in sys.modules, rc)"], capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("keras-recipes serve") and lines[1].startswith("TensorFlow Library: 2.")
    assert lines[-1] == "False 0"


def test_version_ends_the_command(capsys):
    assert main(["serve", "--version", "--model_base_path", "/nonexistent"]) == 0
    assert "TensorFlow Library" in capsys.readouterr().out


# --- --saved_model_tags ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def custom_tagged(tmp_path_factory):
    """A TF1 SavedModel whose only meta graph is tagged {custom, cpu}: y = 3x."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("tagged") / "tripler"
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        y = tf.multiply(x, 3.0, name="y")
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(folder / "1"))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(session, ["custom", "cpu"],
                                                 signature_def_map={"serving_default": signature})
            builder.save()
    return folder


def test_a_meta_graph_is_loaded_by_exactly_its_tags(custom_tagged):
    served = load_version("tripler", 1, custom_tagged / "1", tags=("cpu", "custom"))
    assert served.signatures["serving_default"].run({"x": np.float32([1, 2])})["y"].tolist() == [3.0, 6.0]
    with pytest.raises(LoadError, match=r"matching supplied tags: \{ custom \}.*\{ custom cpu \}"):
        load_version("tripler", 1, custom_tagged / "1", tags=("custom",))  # a subset is not a match


def test_the_default_tag_set_is_serve_alone(custom_tagged):
    with pytest.raises(LoadError, match=r"\{ serve \}.*--saved_model_tags"):
        load_version("tripler", 1, custom_tagged / "1")
    assert load_version("half_plus_two", 123, HALF_PLUS_TWO / "00000123").signatures


def test_the_flag_reaches_the_servers_loader(custom_tagged):
    repository = options_from_flags(model_base_path=custom_tagged, model_name="tripler",
                                    saved_model_tags="custom, cpu", poll_seconds=0)["repository"]
    repository.start()
    try:
        served = repository.get("tripler")
    finally:
        repository.stop()
    assert served.signatures["serving_default"].run({"x": np.float32([2])})["y"].tolist() == [6.0]
    with pytest.raises(RecipeError, match="names no tag"):
        options_from_flags(model_base_path=custom_tagged, saved_model_tags=" , ")


# --- --rest_api_enable_cors_support ----------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("cors_models")
    shutil.copytree(HALF_PLUS_TWO, base / "half_plus_two")
    return base


def _answer(server, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, {name.lower(): value for name, value in response.getheaders()}


@pytest.mark.e2e
def test_cors_headers_on_every_rest_answer_when_enabled(models):
    with Server(models, cors=True) as server:
        answers = [_answer(server, "POST", "/v1/models/half_plus_two:predict", b'{"instances": [1.0]}'),
                   _answer(server, "GET", "/v1/models/missing"),
                   _answer(server, "OPTIONS", "/v1/models/half_plus_two:predict", headers={"Origin": "http://a.example"})]
    assert [status for status, _ in answers] == [200, 404, 200]
    for _, headers in answers:
        assert headers["access-control-allow-origin"] == "*"
        assert headers["access-control-allow-methods"] == "POST, GET"
        assert headers["access-control-allow-headers"] == "Content-Type"


@pytest.mark.e2e
def test_no_cors_headers_by_default(models):
    with Server(models) as server:
        status, headers = _answer(server, "POST", "/v1/models/half_plus_two:predict", b'{"instances": [1.0]}')
    assert status == 200 and "access-control-allow-origin" not in headers


def test_the_cors_flag_takes_tf_servings_boolean_spellings():
    args = parse_serve("--rest_api_enable_cors_support=true")
    assert args.rest_api_enable_cors_support is True
    assert parse_serve("--rest_api_enable_cors_support=false").rest_api_enable_cors_support is False
