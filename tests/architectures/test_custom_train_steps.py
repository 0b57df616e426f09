"""The VAE and the GAN train through their own train_step on real Fashion-MNIST images, and keep
working with fit's machinery: evaluate, .keras save/load, BackupAndRestore after a crash."""

import keras
import numpy as np
import pytest

import architectures
from recipes.data import load_arrays


@pytest.fixture(scope="module")
def images(small_mnist_dir):
    raw = load_arrays("mnist", data_dir=small_mnist_dir)
    return (raw.x_train[:512] / 255.0).astype("float32")


class CrashAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.mark.e2e
def test_vae_losses_fall_and_it_saves_and_loads(images, tmp_path):
    keras.utils.set_random_seed(0)
    model = architectures.build("vae", latent_dim=2, beta=1.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = model.evaluate(images, batch_size=128, verbose=0, return_dict=True)
    history = model.fit(images, epochs=4, batch_size=64, verbose=0)
    after = model.evaluate(images, batch_size=128, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after["reconstruction_loss"] < before["reconstruction_loss"]
    np.testing.assert_allclose(after["loss"], after["reconstruction_loss"] + after["kl_loss"], rtol=1e-4)

    model.save(tmp_path / "vae.keras")
    loaded = keras.models.load_model(tmp_path / "vae.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images[:8])),
                               keras.ops.convert_to_numpy(model(images[:8])), atol=1e-6)
    assert loaded.beta == 1.0 and loaded.optimizer is not None


def _gan():
    model = architectures.build("dcgan", latent_dim=16, filters=(32, 16), seed=0)
    model.compile(generator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  discriminator_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    return model


@pytest.mark.e2e
def test_gan_trains_both_networks_and_its_discriminator_loss_falls(images):
    keras.utils.set_random_seed(0)
    model = _gan()
    real = images * 2 - 1
    noise = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    generated_before = keras.ops.convert_to_numpy(model(noise))
    history = model.fit(real, epochs=3, batch_size=64, verbose=0)
    assert set(history.history) == {"discriminator_loss", "generator_loss"}
    assert history.history["discriminator_loss"][-1] < history.history["discriminator_loss"][0]
    assert not np.allclose(keras.ops.convert_to_numpy(model(noise)), generated_before)
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 3 * 8


def _vae():
    model = architectures.build("vae", latent_dim=2, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


@pytest.mark.e2e
@pytest.mark.parametrize("make, optimizer", [(_gan, "generator_optimizer"), (_vae, "optimizer")])
def test_training_resumes_after_a_crash_with_backup_and_restore(images, tmp_path, make, optimizer):
    real = images[:256] * 2 - 1 if make is _gan else images[:256]
    keras.utils.set_random_seed(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        make().fit(real, epochs=3, batch_size=64, verbose=0,
                   callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path)), CrashAfterEpoch(1)])
    resumed = make()
    history = resumed.fit(real, epochs=3, batch_size=64, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path))])
    assert len(next(iter(history.history.values()))) == 1  # only the third epoch was left
    assert int(getattr(resumed, optimizer).iterations) == 3 * 4


@pytest.mark.e2e
def test_gan_saves_and_loads_with_its_two_optimizers(images, tmp_path):
    model = _gan()
    model.fit(images[:128] * 2 - 1, epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.models.load_model(tmp_path / "gan.keras")
    noise = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(noise)),
                               keras.ops.convert_to_numpy(model(noise)), atol=1e-6)
    assert loaded.generator_optimizer.learning_rate.numpy() == pytest.approx(2e-4)
    assert loaded.discriminator_optimizer.get_config()["beta_1"] == pytest.approx(0.5)
