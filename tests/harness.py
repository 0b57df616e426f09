"""The checks every registered builder passes, after KerasHub's ``run_backbone_test`` and
``run_model_saving_test``; registry-wide tests call them with small inputs.

    from harness import run_builder_test, run_saving_test

(``tests/`` is on ``sys.path`` because pytest puts the directory of ``tests/conftest.py`` there.)
"""

import http.client
import shutil
import socket
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.models.functional import Functional  # what keras.Model(inputs, outputs) returns; not exported

import architectures

# TF Serving's own test models, configs and expected metadata, copied unchanged from
# tensorflow/serving (Apache 2.0): see its README.md.
TFSERVING_TESTDATA = Path(__file__).resolve().parent / "fixtures" / "tfserving_testdata"


def tfserving_models(folder: Path, models: dict[str, str]) -> Path:
    """``folder`` holding TF Serving's test models (``{served name: testdata folder}``) as models to serve."""
    if not TFSERVING_TESTDATA.is_dir():
        pytest.fail(f"TF Serving's test models are missing: {TFSERVING_TESTDATA}")
    for name, source in models.items():
        shutil.copytree(TFSERVING_TESTDATA / source, folder / name)
    return folder

RTOL, ATOL = 1e-5, 1e-6
# 50 layers and more: building, tracing and saving one takes 5-30 s on 2 cores, so their
# registry-wide tests are marked slow; shallower relatives run the same code in the fast tier.
DEEP_BUILDERS = frozenset({"resnet50", "resnet101", "resnet110", "resnet152", "se_resnet50", "googlenet"})


def slow_if_deep(names) -> list:
    """``names`` for ``pytest.mark.parametrize``, the deep builders marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in DEEP_BUILDERS else n for n in names]


def outputs_of(model, input_data):
    """An eager call, as numpy: ``predict`` would trace a new function per model, slow for deep ones."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(input_data, training=False))


def shapes_of(structure):
    return keras.tree.map_structure(lambda array: tuple(array.shape), structure)


def functional_parts(model) -> list[keras.Model]:
    """The model itself if it is functional; for a model with its own ``train_step`` (the VAE, the
    GAN), the functional models inside it."""
    if _is_functional(model):
        return [model]
    return [layer for layer in model.layers if _is_functional(layer)]


def _is_functional(model) -> bool:
    return isinstance(model, Functional) and not isinstance(model, keras.Sequential)


def assert_all_close(actual, expected, *, rtol=RTOL, atol=ATOL):
    assert keras.tree.flatten(shapes_of(actual)) == keras.tree.flatten(shapes_of(expected))
    for got, want in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def run_builder_test(name, kwargs, input_data, expected_output_shape) -> keras.Model:
    """Build ``name`` with ``kwargs`` through the registry and check the model: un-compiled,
    functional (or made of functional parts), outputs of ``expected_output_shape`` (a tuple, or
    the structure of the outputs with tuples as leaves) that agree with the shape it declares and
    are finite, and a ``get_config`` round trip that, with the same weights, computes the same.
    Returns the model for further checks."""
    model = architectures.build(name, **kwargs)
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential), type(model)
    parts = functional_parts(model)
    assert parts, f"{name}: neither a functional model nor made of functional models"
    assert getattr(model, "optimizer", None) is None and not model.compiled, f"{name} comes compiled"

    output = outputs_of(model, input_data)
    assert shapes_of(output) == expected_output_shape, (shapes_of(output), expected_output_shape)
    if _is_functional(model):
        for array, declared in zip(keras.tree.flatten(output), model.outputs):
            assert len(declared.shape) == array.ndim and all(
                d is None or d == a for d, a in zip(declared.shape[1:], array.shape[1:])), (declared.shape, array.shape)
    for array in keras.tree.flatten(output):
        assert np.all(np.isfinite(array)), f"{name} gives non-finite outputs"

    clone = type(model).from_config(model.get_config())
    outputs_of(clone, input_data)  # builds a model with its own train_step, so it has weights to set
    clone.set_weights(model.get_weights())
    assert_all_close(outputs_of(clone, input_data), output)
    return model


def run_saving_test(model, input_data, tmp_path, *, export_atol=ATOL) -> None:
    """A ``.keras`` save and load gives the same class and the same outputs; so does the SavedModel
    export's ``serving_default`` signature, for the model or each of its functional parts (a
    part other than the model gets random inputs of its own input shape)."""
    from recipes.saved_models import export

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert_all_close(outputs_of(loaded, input_data), outputs_of(model, input_data))

    for part in functional_parts(model):
        data = input_data if part is model else np.random.default_rng(1).uniform(
            0, 1, (2, *part.input_shape[1:])).astype("float32")
        serve = tf.saved_model.load(str(export(part, part.name, export_dir=tmp_path))).signatures["serving_default"]
        arrays = data if isinstance(data, (list, tuple)) else [data]
        served = serve(**{t.name: tf.constant(a) for t, a in zip(part.inputs, arrays)})
        expected = outputs_of(part, data)
        expected = expected if isinstance(expected, dict) else {"outputs": expected}
        assert set(served) == set(expected)
        for key, value in expected.items():
            # The exported graph goes through TensorFlow's graph optimizer, whose fused kernels round
            # differently (a few float32 ulps): the tolerance scales with the outputs' size.
            scale = max(1.0, float(np.abs(value).max()))
            np.testing.assert_allclose(served[key].numpy(), value, rtol=RTOL, atol=export_atol * scale)


class EpochsStarted(keras.callbacks.Callback):
    """Records the index of every epoch that ``fit`` begins: what a resumed run trains again."""

    def __init__(self):
        super().__init__()
        self.started = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started.append(epoch)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``recipes.serve.create_app(base)`` under uvicorn in a thread on 127.0.0.1, for real HTTP."""

    def __init__(self, base, **options):
        from recipes.serve import create_app

        self.app = create_app(base, poll_seconds=0.2, **options)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        import uvicorn

        from recipes.serve.http_protocol import ServingHttpProtocol

        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    http=ServingHttpProtocol))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def raw(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data
