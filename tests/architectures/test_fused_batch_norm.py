"""``FusedBatchNormalization`` computes what Keras's ``BatchNormalization`` computes: outputs,
gradients and moving statistics, in training and inference, in float32 and bfloat16, and it is
what ``norm="batch"`` builds."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.layers import FusedBatchNormalization


def twin_layers(shape, **options):
    """A Keras ``BatchNormalization`` and a fused one with the same (non-default) weights."""
    stock, fused = keras.layers.BatchNormalization(**options), FusedBatchNormalization(**options)
    stock.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in stock.get_weights()]
    stock.set_weights(weights)
    fused.set_weights(weights)
    return stock, fused


def forward_and_gradients(layer, x, training):
    return loss_gradients(lambda inputs: layer(inputs, training=training), x, layer.trainable_weights)


def loss_gradients(forward, x, weights):
    """The outputs, and the gradients of a fixed random projection of them w.r.t. ``x`` and ``weights``."""
    projection = tf.constant(np.random.default_rng(2).normal(size=x.shape), x.dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = forward(x)
        loss = tf.reduce_sum(tf.cast(outputs, x.dtype) * projection)
    return outputs, tape.gradient(loss, [x] + list(weights))


def batch_norm_in_float64(layer, x):
    """Training-mode batch norm by its definition, in float64: outputs and gradients (x, gamma, beta)."""
    axes = list(range(len(x.shape) - 1))
    x = tf.cast(x, "float64")
    weights = [tf.Variable(tf.cast(w, "float64")) for w in layer.trainable_weights]
    gamma = weights[0] if layer.scale else 1.0
    beta = weights[-1] if layer.center else 0.0

    def forward(inputs):
        mean, variance = tf.nn.moments(inputs, axes)
        return (inputs - mean) / tf.sqrt(variance + layer.epsilon) * gamma + beta

    return loss_gradients(forward, x, weights)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(8, 5, 5, 6), (16, 6)])
@pytest.mark.parametrize("options", [{"momentum": 0.9}, {"center": False, "scale": False, "epsilon": 1e-5}])
def test_fused_batch_norm_computes_keras_batch_norm(policy, shape, options):
    keras.mixed_precision.set_global_policy(policy)
    try:
        stock, fused = twin_layers(shape, **options)
        x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
        tolerance = 1e-5 if policy == "float32" else 2e-2
        # Training: against the definition, computed in float64.
        outputs, gradients = forward_and_gradients(fused, x, training=True)
        assert outputs.dtype == keras.mixed_precision.global_policy().compute_dtype
        exact_outputs, exact_gradients = batch_norm_in_float64(fused, x)
        np.testing.assert_allclose(np.float64(outputs), exact_outputs, atol=tolerance * 10)
        for gradient, exact in zip(gradients, exact_gradients):
            scale = float(np.abs(exact).max())
            np.testing.assert_allclose(np.float64(gradient) / scale, exact / scale,
                                       atol=1e-4 if policy == "float32" else 5e-2)
        # The moving mean and (biased) variance move as Keras moves them.
        stock(x, training=True)
        for expected, got in zip(stock.non_trainable_weights, fused.non_trainable_weights):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5)
        assert not np.allclose(fused.moving_mean.numpy(), twin_layers(shape, **options)[1].moving_mean.numpy())
        # Inference: Keras's own layer, on the moving statistics.
        np.testing.assert_allclose(np.float32(fused(x, training=False)), np.float32(stock(x, training=False)),
                                   atol=tolerance * 10, rtol=tolerance)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_inputs_it_cannot_fuse_go_to_keras_batch_norm():
    stock, fused = twin_layers((4, 3, 5))
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 3, 5)).astype("float32"))
    np.testing.assert_allclose(fused(x, training=True), stock(x, training=True), atol=1e-6)
    assert not fused._fusable(x, None)
    mask = tf.constant([[True, True, False]] * 4)
    np.testing.assert_allclose(fused(x, training=True, mask=mask), stock(x, training=True, mask=mask), atol=1e-6)


def test_norm_batch_builds_the_fused_layer_and_a_keras_file_loads_it_back(tmp_path):
    model = architectures.build("mnist_cnn", filters=(4, 8), dense_units=16)
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and all(type(layer) is FusedBatchNormalization for layer in batch_norms)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert type(loaded.get_layer(batch_norms[0].name)) is FusedBatchNormalization
