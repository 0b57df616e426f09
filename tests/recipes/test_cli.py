import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.cli import main


def _cli(*args, **env):
    import os

    return subprocess.run([sys.executable, "-m", "recipes.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_list_shows_tables_without_importing_tensorflow():
    code = ("import sys; from recipes.cli import main; main(['list']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for name in recipes.names():
        assert name in done.stdout
    assert "mnist_cnn" in done.stdout and "Architectures" in done.stdout


@pytest.mark.parametrize("command, shown", [("run", "--set KEY=VALUE"), ("tune", "--fix NAME=VALUE")])
def test_help_does_not_import_tensorflow(command, shown):
    code = (f"import sys\nfrom recipes.cli import main\ntry: main(['{command}', '--help'])\n"
            "except SystemExit: pass\nassert 'tensorflow' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown in done.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "fashion_mnist_cnnn"], "unknown recipe 'fashion_mnist_cnnn'. Did you mean: fashion_mnist_cnn"),
    (["run", "digits_mlp", "--set", "nonsense"], "bad --set 'nonsense': expected key=value"),
    (["run", "digits_mlp", "--set", "epoch=3"], "unknown recipe setting 'epoch'"),
])
def test_usage_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"keras-recipes: error: {err.split('error: ', 1)[1]}" and message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_missing_data_is_an_error_not_a_traceback(tmp_path):
    done = _cli("run", "mnist_linear", "--data-dir", str(tmp_path / "nowhere"), "--work-dir", str(tmp_path),
                KERAS_HOME=str(tmp_path))
    assert done.returncode == 2
    ours = done.stderr[done.stderr.index("keras-recipes: error:"):]
    assert ours.startswith("keras-recipes: error: MNIST was not found. Searched:")
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fashion_mnist_dir):
    base = tmp_path_factory.mktemp("cli")
    assert main(["run", "fashion_mnist_linear", "--epochs", "1", "--set", "train_limit=1024",
                 "--export-dir", str(base / "saved_models"), "--work-dir", str(base / "runs")]) == 0
    return base / "saved_models" / "fashion_mnist_linear" / "1"


@pytest.mark.e2e
def test_run_prints_metrics_and_export_path(exported):
    assert (exported / "saved_model.pb").exists() and (exported / "metadata.json").exists()


@pytest.mark.e2e
def test_evaluate_matches_the_exported_metrics(exported, capsys):
    assert main(["evaluate", str(exported), "--data", "fashion_mnist"]) == 0
    out = capsys.readouterr().out
    assert "on fashion_mnist test (10000 examples): accuracy 0." in out


@pytest.mark.e2e
def test_predict_png_and_npy_prints_class_names(exported, tmp_path, capsys):
    raw = recipes.data.load_arrays("fashion_mnist")
    png = tmp_path / "boot.png"
    png.write_bytes(tf.io.encode_png(raw.x_test[0]).numpy())
    rgb = tmp_path / "rgb.png"
    rgb.write_bytes(tf.io.encode_png(np.repeat(raw.x_test[1], 3, axis=-1)).numpy())
    batch = tmp_path / "batch.npy"
    np.save(batch, raw.x_test[:3, ..., 0])
    assert main(["predict", str(exported.parent), str(png), str(rgb), str(batch), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"{png}: ") and "%" in lines[0]
    assert any(name in lines[0] for name in raw.class_names)
    assert lines[2].startswith(f"{batch}[0]: ")
    assert lines[0].split(": ")[1] == lines[2].split(": ")[1]  # the same image, as PNG and as array


@pytest.mark.e2e
def test_commands_are_quiet_unless_verbose(exported, tmp_path):
    """TensorFlow's C++ start-up notices (oneDNN, CUDA probing) stay off the terminal by default."""
    example = tmp_path / "one.npy"
    np.save(example, np.zeros((28, 28, 1)))
    quiet = _cli("predict", str(exported), str(example))
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert quiet.stdout.startswith(f"{example}: ")
    loud = _cli("predict", str(exported), str(example), "--verbose", TF_CPP_MIN_LOG_LEVEL="0")
    assert loud.returncode == 0 and "oneDNN" in loud.stderr


@pytest.mark.e2e
def test_predict_wrong_shape_and_bad_file(exported, tmp_path, capsys):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((32, 32, 3)))
    assert main(["predict", str(exported), str(wrong)]) == 2
    assert "has shape (32, 32, 3), but the model takes one example of shape (28, 28, 1)" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert main(["predict", str(exported), str(broken)]) == 2
    assert "not a valid image file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), str(wrong)]) == 2
    assert "is not an exported model" in capsys.readouterr().err
