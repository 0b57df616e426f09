"""Issue 17, items 12 and 13: every command ends a user error with one line on stderr and exit
status 2, an unexpected failure with one line and status 1, and never with a traceback unless
KERAS_RECIPES_DEBUG=1. The settings' failures come before any data loads or training starts."""

import os
import socket
import subprocess
import sys

import pytest

from recipes import cli
from recipes.cli import main


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("keras-recipes: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny exported classifier, for the commands that need a model that exists."""
    import architectures
    import recipes

    base = tmp_path_factory.mktemp("cli_errors")
    return recipes.export(architectures.build("linear", input_shape=(4, 4, 1), num_classes=3), "tiny",
                          export_dir=base)


NOWHERE = "/nonexistent/keras-recipes-test"

BAD_INPUTS = [
    (["run", "fashion_mnist_mlp", "--epochs", "0"], "epochs must be a whole number of at least 1; got 0"),
    (["run", "fashion_mnist_mlp", "--batch-size", "-4"], "batch_size must be a whole number of at least 1; got -4"),
    (["run", "fashion_mnist_mlp", "--set", "learning_rate=-1"], "learning_rate must be a number above 0; got -1"),
    (["run", "fashion_mnist_mlp", "--set", "epochs=abc"], "epochs must be a whole number of at least 1; got 'abc'"),
    (["run", "fashion_mnist_mlp", "--set", "architecture_kwargs.dropout=1.5"],
     "architecture_kwargs.dropout must be a number of at least 0 and below 1 for mlp; got 1.5"),
    (["run", "fashion_mnist_mlp", "--set", "architecture_kwargs.dropuot=0.1"],
     "unknown setting 'architecture_kwargs.dropuot'"),
    (["run", "fashion_mnist_mlpp"], "unknown recipe 'fashion_mnist_mlpp'"),
    (["run", "fashion_mnist_mlp", "--set", "epoch=3"], "unknown recipe setting 'epoch'"),
    (["tune", "fashion_mnist_mlp", "--set", "batch_size=0"], "batch_size must be a whole number of at least 1; got 0"),
    (["predict", NOWHERE, "x.png"], f"{NOWHERE} is not an exported model"),
    (["predict", "{exported}", f"{NOWHERE}.png"], f"{NOWHERE}.png: no such file"),
    (["evaluate", NOWHERE, "--data", "fashion_mnist"], f"{NOWHERE} is not an exported model"),
    (["serve", NOWHERE, "--port", "99999"], "port must be a whole number from 1 to 65535"),
    (["serve", NOWHERE, "--rest_api_port", "8601", "--port", "8600", "--grpc-port", "8700"],
     "--port 8600 with --rest_api_port is TF Serving's gRPC port, but --grpc-port says 8700"),
    (["serve", NOWHERE, "--rest_api_port", "8601", "--port", "8601"],
     "--rest_api_port and the gRPC port are both 8601; they must differ"),
    (["serve", NOWHERE, "--grpc_channel_arguments", "grpc.max_connection_age_ms"],
     "--grpc_channel_arguments: 'grpc.max_connection_age_ms' is not key=value"),
    (["serve", NOWHERE, "--rest_api_timeout_in_ms", "-1"], "--rest_api_timeout_in_ms must be 0 (no limit) or more"),
    (["serve", NOWHERE, "--grpc_socket_path", "/tmp/keras-recipes-test.sock", "--workers", "2"],
     "--grpc_socket_path serves gRPC from one process: a Unix socket cannot be shared by 2 workers"),
    pytest.param(["export", NOWHERE], f"{NOWHERE} holds no unfinished run",
                 marks=pytest.mark.skipif(not hasattr(cli, "cmd_export"), reason="no `keras-recipes export` here")),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS,
                         ids=[" ".join((case.values[0] if hasattr(case, "values") else case[0])[:4]) for case in BAD_INPUTS])
def test_bad_input_is_one_line_and_status_2(args, message, exported, tmp_path, capsys):
    args = [arg.replace("{exported}", str(exported)) for arg in args]
    if args[0] in ("run", "tune"):  # so that no data would be found, nor anything written, if the check came late
        args += ["--data-dir", str(tmp_path / "nowhere")] + (["--work-dir", str(tmp_path)] if args[0] == "run" else
                                                              ["--directory", str(tmp_path)])
    assert main(args) == 2
    assert message in _one_error_line(capsys.readouterr().err)


def test_an_unexpected_failure_is_one_line_and_status_1_with_the_traceback_on_request(monkeypatch, capsys):
    import recipes.cli

    def broken(args):
        raise RuntimeError("the disk\nmelted")

    monkeypatch.setattr(recipes.cli, "cmd_list", broken)
    monkeypatch.delenv("KERAS_RECIPES_DEBUG", raising=False)
    assert main(["list"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line == ("keras-recipes: error: list failed unexpectedly (RuntimeError: the disk melted); "
                    "set KERAS_RECIPES_DEBUG=1 for the traceback")
    monkeypatch.setenv("KERAS_RECIPES_DEBUG", "1")
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: the disk" in err and err.strip().endswith("for the traceback")


def test_an_interrupt_is_status_130_without_a_traceback(monkeypatch, capsys):
    import recipes.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipes.cli, "cmd_list", interrupted)
    assert main(["list"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def _cli(*args):
    env = {key: value for key, value in os.environ.items() if key != "KERAS_RECIPES_DEBUG"}
    return subprocess.run([sys.executable, "-m", "recipes.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.e2e
def test_serve_on_a_port_in_use_is_one_line_and_status_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli("serve", str(tmp_path), "--port", str(port))
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert line == (f"keras-recipes: error: port {port} on 127.0.0.1 is in use (by another server?); "
                    f"choose another with --port N")


@pytest.mark.e2e
def test_a_bad_setting_ends_the_process_with_one_line(tmp_path):
    done = _cli("run", "fashion_mnist_mlp", "--set", "learning_rate=-1", "--work-dir", str(tmp_path))
    assert done.returncode == 2
    assert _one_error_line(done.stderr) == "keras-recipes: error: learning_rate must be a number above 0; got -1"
    assert not list(tmp_path.iterdir())  # nothing ran


@pytest.mark.parametrize("flags, ports", [
    ([], (8501, None)),
    (["--port", "9000"], (9000, None)),  # ours: --port alone is the REST port
    (["--port", "9000", "--grpc-port", "9001"], (9000, 9001)),
    (["--rest_api_port", "9000"], (9000, None)),
    (["--port", "9001", "--rest_api_port", "9000"], (9000, 9001)),  # TF Serving's: --port is gRPC
    (["--port=9001", "--rest_api_port=9000", "--grpc-port=9001"], (9000, 9001)),
    (["--port=0", "--rest_api_port=9000"], (9000, None)),  # TF Serving's --port=0: no gRPC port
])
def test_serve_reads_port_flags_as_ours_or_as_tf_servings(flags, ports):
    assert cli.serve_ports(cli.build_parser().parse_args(["serve", *flags])) == ports
