"""Unsupervised, generative and dense-prediction recipes: autoencoders against PCA, the VAE, the
DCGAN, ESPCN super-resolution against bicubic, and a U-Net segmenting generated shapes."""

from callbacks.defaults import without
from recipes.catalog._recipe import Recipe, register_recipe
from recipes.tasks.options import SegmentationOptions

# Image-to-image training: no accuracy to report, cosine decay over all epochs, the task draws its own pictures.
IMAGE_TO_IMAGE = {"metrics": (), "schedule": "cosine", "callbacks": without("early_stopping"), "plots": ()}

# name -> (kind, options, description, measured test MSE); PCA with 32 components: 0.0145
for name, kind, extra, description, measured in (
    ("fashion_mnist_autoencoder", "conv", {}, "Convolutional autoencoder with a 32-number code", 0.0075),
    ("fashion_mnist_dense_autoencoder", "dense", {"hidden_units": (256,)},
     "Dense autoencoder (784-256-32-256-784)", 0.0098),
):
    register_recipe(Recipe(
        name=name,
        dataset="fashion_mnist",
        architecture="autoencoder",
        task="reconstruction",
        description=f"{description} on Fashion-MNIST, against PCA with the same code size.",
        expected={"reconstruction_mse": measured, "pca_mse": 0.0145},
        architecture_kwargs={"kind": kind, "code_size": 32, **extra},
        loss="mse",
        epochs=15,
        **IMAGE_TO_IMAGE,
    ))

register_recipe(Recipe(
    name="fashion_mnist_vae",
    dataset="fashion_mnist",
    architecture="vae",
    task="vae",
    description="Convolutional VAE with a 2-D latent on Fashion-MNIST: ELBO terms, prior samples, latent map.",
    # Measured 269.2 nats per image (reconstruction 261.9 + KL 7.2); the mean training image scores 385.0.
    expected={"negative_elbo": 270.0, "mean_image_cross_entropy": 385.0},
    architecture_kwargs={"latent_dim": 2, "beta": 1.0},
    loss=None,
    epochs=15,
    **IMAGE_TO_IMAGE,
))

register_recipe(Recipe(
    name="fashion_mnist_dcgan",
    dataset="fashion_mnist",
    architecture="dcgan",
    task="gan",
    description="DCGAN on Fashion-MNIST; Fréchet distance on fashion_mnist_cnn features vs real and untrained.",
    # Fréchet distances measured on fashion_mnist_cnn's penultimate features, 5,000 images each:
    # real training vs real test images (the floor) and an untrained generator (the ceiling).
    expected={"frechet_distance": 12.3, "frechet_floor": 0.23, "frechet_ceiling": 78.0},
    architecture_kwargs={"latent_dim": 64, "filters": (128, 64)},
    optimizer="adam",
    optimizer_options={"beta_1": 0.5},  # the DCGAN paper's setting
    learning_rate=2e-4,
    loss=None,
    metrics=(),
    epochs=5,
    # A GAN has no validation loss to stop on or keep the best of; its two optimizers are its own.
    callbacks={"terminate_on_nan": {}, "backup": {}, "csv_log": {}, "training_curves": {},
               "generated_samples": {"every": 1}},
    plots=(),
))

register_recipe(Recipe(
    name="fashion_mnist_espcn",
    dataset="fashion_mnist",
    architecture="espcn",
    task="super_resolution",
    description="ESPCN x2 (14x14 -> 28x28) on Fashion-MNIST, against bicubic upscaling (PSNR, SSIM).",
    expected={"psnr": 22.7, "ssim": 0.81, "bicubic_psnr": 19.3, "bicubic_ssim": 0.73},
    architecture_kwargs={"filters": (64, 32)},
    loss="mse",
    epochs=20,
    **IMAGE_TO_IMAGE,
))

register_recipe(Recipe(
    name="shapes_unet",
    dataset="shapes",
    architecture="unet",
    task="segmentation",
    description="Small U-Net segmenting circles, squares and triangles on textured backgrounds (generated).",
    expected={"mean_iou": 0.90, "background_only_mean_iou": 0.227},
    architecture_kwargs={"filters": (16, 32, 64)},
    task_options=SegmentationOptions(size=64, num_train=4000, num_test=500, max_shapes=3),
    learning_rate=3e-3,
    schedule="cosine",
    batch_size=32,
    epochs=8,
    callbacks=without("early_stopping"),
    plots=(),
))
