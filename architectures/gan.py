"""DCGAN (Radford et al. 2015): a generator and a discriminator trained against each other.

Following the paper's guidelines: strided (transposed) convolutions instead of pooling, batch
norm in both networks except the generator's output and the discriminator's input, ReLU in the
generator with a tanh output, LeakyReLU(0.2) in the discriminator. Images are in [-1, 1].
"""

import keras
import tensorflow as tf
from keras import layers, ops

from architectures.blocks import documents_norm, normalization
from architectures.layers import FusedBatchNormalization
from architectures.registry import register, register_search_space, require_integer_at_least


def dcgan_generator(latent_dim: int, output_shape, *, filters=(128, 64), name="generator") -> keras.Model:
    """noise -> Dense -> (h/4, w/4, filters[0]) -> one stride-2 transposed conv per entry of
    ``filters`` (the last one to the image's channels, tanh)."""
    height, width, channels = output_shape
    factor = 2 ** len(filters)
    if height % factor or width % factor:
        raise ValueError(f"dcgan with {len(filters)} upsampling steps needs height and width divisible by "
                         f"{factor}, got {height}x{width}; pad or resize the images, or pass fewer filters")
    inputs = keras.Input((latent_dim,), name="noise")
    x = layers.Dense((height // factor) * (width // factor) * filters[0], use_bias=False, name="project")(inputs)
    x = FusedBatchNormalization(name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((height // factor, width // factor, filters[0]), name="reshape")(x)
    for index, size in enumerate(filters[1:], start=1):
        x = layers.Conv2DTranspose(size, 4, strides=2, padding="same", use_bias=False, name=f"up{index}_deconv")(x)
        x = FusedBatchNormalization(name=f"up{index}_bn")(x)
        x = layers.ReLU(name=f"up{index}_relu")(x)
    outputs = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                     name="image")(x)
    return keras.Model(inputs, outputs, name=name)


def dcgan_discriminator(input_shape, *, filters=(64, 128), norm="batch", name="discriminator") -> keras.Model:
    """image -> stride-2 conv + LeakyReLU per entry of ``filters`` (``norm`` after every conv but
    the first; batch norm as DCGAN, layer norm as WGAN-GP advises) -> one logit: real (> 0) or
    generated."""
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for index, size in enumerate(filters, start=1):
        normalized = index > 1 and norm is not None
        x = layers.Conv2D(size, 4, strides=2, padding="same", use_bias=not normalized, name=f"down{index}_conv")(x)
        if normalized:
            x = normalization(x, norm, name=f"down{index}")
        x = layers.LeakyReLU(0.2, name=f"down{index}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return keras.Model(inputs, layers.Dense(1, name="logit")(x), name=name)


@keras.saving.register_keras_serializable(package="keras_recipes")
class GAN(keras.Model):
    """A generator and a discriminator with one optimizer each. ``train_step`` takes a batch of
    real images (in [-1, 1]), updates the discriminator on real vs generated, then the generator
    to make the discriminator call its samples real (the non-saturating loss). Calling the model
    generates images from noise."""

    def __init__(self, generator, discriminator, latent_dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, *, optimizer="adam", **kwargs):
        """One optimizer per network; either one not given is a fresh copy of ``optimizer``.
        ``loss`` and ``metrics`` are not used: the losses are the GAN's own."""
        super().compile()
        template = keras.optimizers.get(optimizer)
        fresh = lambda: template.__class__.from_config(template.get_config())  # noqa: E731
        self.generator_optimizer = keras.optimizers.get(generator_optimizer) if generator_optimizer else fresh()
        self.discriminator_optimizer = (keras.optimizers.get(discriminator_optimizer) if discriminator_optimizer
                                        else fresh())
        # built now, not at the first step, so that BackupAndRestore and load_weights find their state
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {"generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
                "discriminator_optimizer": keras.optimizers.serialize(self.discriminator_optimizer)}

    def compile_from_config(self, config):
        self.compile(**{key: keras.optimizers.deserialize(value) for key, value in config.items()})

    @property
    def metrics(self):
        return [self.discriminator_loss_tracker, self.generator_loss_tracker]

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def sample_noise(self, count):
        return keras.random.normal((count, self.latent_dim), seed=self.seed_generator)

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        batch = ops.shape(real)[0]
        fake = self.generator(self.sample_noise(batch), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            discriminator_loss = (self.bce(ops.ones_like(real_logits), real_logits)
                                  + self.bce(ops.zeros_like(fake_logits), fake_logits))
        weights = self.discriminator.trainable_weights
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(discriminator_loss, weights), weights))

        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(self.sample_noise(batch), training=True), training=True)
            generator_loss = self.bce(ops.ones_like(fake_logits), fake_logits)
        weights = self.generator.trainable_weights
        self.generator_optimizer.apply_gradients(zip(tape.gradient(generator_loss, weights), weights))

        self.discriminator_loss_tracker.update_state(discriminator_loss)
        self.generator_loss_tracker.update_state(generator_loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(self.generator(self.sample_noise(ops.shape(real)[0])))
        self.discriminator_loss_tracker.update_state(
            self.bce(ops.ones_like(real_logits), real_logits) + self.bce(ops.zeros_like(fake_logits), fake_logits))
        self.generator_loss_tracker.update_state(self.bce(ops.ones_like(fake_logits), fake_logits))
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "seed": self.seed,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("generator", "discriminator"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@register("dcgan", family="gan", paper="Radford et al. 2015, arXiv:1511.06434", inputs="latent", outputs="image")
@documents_norm
def dcgan(input_shape=(28, 28, 1), *, latent_dim=64, filters=(128, 64), norm="batch", seed=None,
          name="dcgan") -> GAN:
    """DCGAN for ``input_shape`` images: noise of ``latent_dim`` -> generator -> image in
    [-1, 1]; the discriminator mirrors the generator's widths. A ``GAN`` with its own
    ``train_step``; compile it with ``generator_optimizer`` and ``discriminator_optimizer``.
    ``norm`` is the discriminator's; the generator keeps DCGAN's batch norm."""
    require_integer_at_least("dcgan", "latent_dim", latent_dim, 1, "64 is the recipes' default")
    generator = dcgan_generator(latent_dim, input_shape, filters=filters)
    discriminator = dcgan_discriminator(input_shape, filters=tuple(reversed(filters)), norm=norm)
    model = GAN(generator, discriminator, latent_dim, seed=seed, name=name)
    model(ops.zeros((1, latent_dim)))
    return model


@register_search_space("gan")
def dcgan_search_space(hp) -> dict:
    width = hp.Choice("filters", [32, 64, 128], default=64)
    return {"latent_dim": hp.Choice("latent_dim", [32, 64, 128], default=64), "filters": (2 * width, width)}
