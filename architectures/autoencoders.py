"""Autoencoders: an encoder to a small code and a decoder back to the image, dense or
convolutional, optionally denoising; and the variational autoencoder, whose encoder gives a
Gaussian over the code and whose loss adds a beta-weighted KL term to the reconstruction error.

Images are expected in [0, 1]; reconstructions come out of a sigmoid. The encoder and decoder
are nested models named ``encoder`` and ``decoder``, so each can be exported on its own.
"""

import math

import keras
import tensorflow as tf
from keras import layers, ops

from architectures.registry import register, register_search_space, require_integer_at_least


def _check_divisible(name: str, input_shape, levels: int) -> None:
    factor = 2**levels
    height, width = input_shape[:2]
    if height % factor or width % factor:
        raise ValueError(f"{name} with {levels} strided convolutions needs height and width divisible by "
                         f"{factor}, got {height}x{width}; pad or resize the images, or pass fewer filters")


def conv_encoder(input_shape, outputs: dict, *, filters=(32, 64), hidden_units=0, name="encoder") -> keras.Model:
    """Strided 3x3 conv-ReLU per entry of ``filters`` -> flatten -> (Dense ReLU) -> one linear
    Dense head per ``outputs`` item (name -> size): one tensor, or a dict for several heads."""
    _check_divisible(name, input_shape, len(filters))
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs
    for index, size in enumerate(filters, start=1):
        x = layers.Conv2D(size, 3, strides=2, padding="same", activation="relu", name=f"conv{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    heads = {head: layers.Dense(size, name=head)(x) for head, size in outputs.items()}
    return keras.Model(inputs, next(iter(heads.values())) if len(heads) == 1 else heads, name=name)


def conv_decoder(code_size: int, output_shape, *, filters=(32, 64), name="decoder") -> keras.Model:
    """The mirror of ``conv_encoder``: Dense -> reshape -> strided transposed convolutions ->
    3x3 sigmoid convolution to the image's channels."""
    height, width, channels = output_shape
    factor = 2 ** len(filters)
    inputs = keras.Input((code_size,), name="code")
    x = layers.Dense((height // factor) * (width // factor) * filters[-1], activation="relu", name="expand")(inputs)
    x = layers.Reshape((height // factor, width // factor, filters[-1]), name="reshape")(x)
    for index, size in reversed(list(enumerate(filters, start=1))):
        x = layers.Conv2DTranspose(size, 3, strides=2, padding="same", activation="relu", name=f"deconv{index}")(x)
    outputs = layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model(inputs, outputs, name=name)


def dense_encoder(input_shape, code_size: int, *, hidden_units=(256,), name="encoder") -> keras.Model:
    inputs = keras.Input(input_shape, name="pixels")
    x = layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden{index}")(x)
    return keras.Model(inputs, layers.Dense(code_size, name="code")(x), name=name)


def dense_decoder(code_size: int, output_shape, *, hidden_units=(256,), name="decoder") -> keras.Model:
    inputs = keras.Input((code_size,), name="code")
    x = inputs
    for index, units in reversed(list(enumerate(hidden_units, start=1))):
        x = layers.Dense(units, activation="relu", name=f"hidden{index}")(x)
    x = layers.Dense(math.prod(output_shape), activation="sigmoid", name="pixels")(x)
    return keras.Model(inputs, layers.Reshape(output_shape, name="image")(x), name=name)


@register("autoencoder", family="autoencoder",
          paper="Hinton & Salakhutdinov 2006, Science 313(5786); Vincent et al. 2008 (denoising)", outputs="image")
def autoencoder(input_shape=(28, 28, 1), *, code_size=32, kind="conv", filters=(32, 64), hidden_units=(256,),
                noise_stddev=0.0, name="autoencoder") -> keras.Model:
    """Image in [0, 1] -> ``code_size`` numbers -> reconstruction. ``kind``: ``conv`` (strided
    convolutions, needs sizes divisible by 2 ** len(filters)) or ``dense``. ``noise_stddev`` > 0
    makes it denoising: Gaussian noise corrupts the input during training only."""
    require_integer_at_least("autoencoder", "code_size", code_size, 1, "32 numbers per image is the recipes' default")
    if kind == "conv":
        encoder = conv_encoder(input_shape, {"code": code_size}, filters=filters)
        decoder = conv_decoder(code_size, input_shape, filters=filters)
    elif kind == "dense":
        encoder = dense_encoder(input_shape, code_size, hidden_units=hidden_units)
        decoder = dense_decoder(code_size, input_shape, hidden_units=hidden_units)
    else:
        raise ValueError(f"autoencoder: kind must be 'conv' or 'dense', got {kind!r}")
    inputs = keras.Input(input_shape, name="inputs")
    x = layers.GaussianNoise(noise_stddev, name="corruption")(inputs) if noise_stddev else inputs
    return keras.Model(inputs, decoder(encoder(x)), name=name)


@keras.saving.register_keras_serializable(package="keras_recipes")
class VariationalAutoencoder(keras.Model):
    """Kingma & Welling's VAE with a ``beta`` weight on the KL term (Higgins et al. 2017).

    ``encoder``: image -> {"z_mean", "z_log_var"}; ``decoder``: z -> image in [0, 1]. Training
    samples z = mean + exp(log_var / 2) * noise; calling the model decodes the mean. Losses are
    per image, summed over pixels (Bernoulli cross-entropy) and latent dimensions (KL), so
    ``reconstruction_loss + kl_loss`` is the negative ELBO in nats when ``beta`` is 1.
    """

    def __init__(self, encoder, decoder, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = beta
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training)["z_mean"], training=training)

    def losses_for(self, images, training=False) -> dict:
        posterior = self.encoder(images, training=training)
        z_mean, z_log_var = posterior["z_mean"], posterior["z_log_var"]
        noise = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * noise
        reconstruction = self.decoder(z, training=training)
        pixels = ops.reshape(images, (ops.shape(images)[0], -1))
        reconstructed = ops.reshape(reconstruction, (ops.shape(images)[0], -1))
        reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(
            ops.expand_dims(pixels, -1), ops.expand_dims(reconstructed, -1)), axis=1))
        kl_loss = ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        return {"loss": reconstruction_loss + self.beta * kl_loss,
                "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def _track(self, losses: dict) -> dict:
        self.loss_tracker.update_state(losses["loss"])
        self.reconstruction_tracker.update_state(losses["reconstruction_loss"])
        self.kl_tracker.update_state(losses["kl_loss"])
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            losses = self.losses_for(images, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._track(losses)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        return self._track(self.losses_for(images))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@register("vae", family="vae", paper="Kingma & Welling 2013, arXiv:1312.6114; Higgins et al. 2017 (beta-VAE)",
          outputs="image")
def vae(input_shape=(28, 28, 1), *, latent_dim=2, beta=1.0, filters=(32, 64), hidden_units=16, seed=None,
        name="vae") -> VariationalAutoencoder:
    """Convolutional VAE: ``conv_encoder`` to z_mean and z_log_var of ``latent_dim``, mirrored
    decoder; a ``VariationalAutoencoder`` with its own ``train_step``."""
    require_integer_at_least("vae", "latent_dim", latent_dim, 1, "2 gives a latent map you can plot")
    encoder = conv_encoder(input_shape, {"z_mean": latent_dim, "z_log_var": latent_dim},
                           filters=filters, hidden_units=hidden_units)
    decoder = conv_decoder(latent_dim, input_shape, filters=filters)
    model = VariationalAutoencoder(encoder, decoder, beta=beta, seed=seed, name=name)
    model(keras.ops.zeros((1, *input_shape)))
    return model


@register_search_space("autoencoder")
def autoencoder_search_space(hp) -> dict:
    return {"code_size": hp.Choice("code_size", [8, 16, 32, 64], default=32),
            "filters": (hp.Choice("filters", [16, 32, 64], default=32),) * 2,
            "noise_stddev": hp.Choice("noise_stddev", [0.0, 0.1, 0.2], default=0.0)}


@register_search_space("vae")
def vae_search_space(hp) -> dict:
    return {"latent_dim": hp.Choice("latent_dim", [2, 8, 16, 32], default=2),
            "beta": hp.Choice("beta", [0.5, 1.0, 2.0, 4.0], default=1.0),
            "hidden_units": hp.Choice("hidden_units", [16, 64, 128], default=16)}
