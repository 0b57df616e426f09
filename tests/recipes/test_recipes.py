"""Every named recipe runs end to end on a tiny real slice, exports, and reloads."""

import json

import numpy as np
import pytest
import tensorflow as tf

import recipes
from recipes.data import DatasetInfo
from recipes.errors import ConfigError, UnknownNameError

TINY = {"epochs": 2, "batch_size": 64, "train_limit": 512, "test_limit": 256}
# A forecast splits one short series in time order, so it takes no example limits.
TINY_FOR_TASK = {"forecast": {"train_limit": None, "test_limit": None},
                 # the region baseline classifies every window of every test image: fewer, coarser windows
                 "detection": {"task_options.baseline_epochs": 1, "task_options.baseline_window_step": 0.5}}
# Recipes at a high learning rate whose loss, averaged over the few steps of a tiny epoch at batch 64,
# could rise from the first epoch to the second (cifar10_resnet20: 3 steps an epoch on the synthetic
# CIFAR-10, 2.12 -> 2.64 in one CI run; fashion_mnist_speedrun: 8 steps, warm-up peaking between the
# two epochs, 4.46 -> 4.84). At batch 16 both fell in all of 12 runs, by 0.88 or more.
TINY_FOR_RECIPE = {"cifar10_resnet20": {"batch_size": 16}, "fashion_mnist_speedrun": {"batch_size": 16}}
# A GAN has no single loss; its discriminator's is the one that must fall from the start.
TRAINING_LOSS = {"gan": "discriminator_loss"}
# An actor-critic's loss grows with the returns its critic learns to predict: its episode return must rise.
RISING = {"reinforcement": "episode_return"}
NO_TEST_LOSS = ("gan", "reinforcement")  # no model.evaluate on a test split to give one
FASHION = DatasetInfo("fashion_mnist", (28, 28, 1), 10, tuple("0123456789"), "pixels", 255.0, "test", 1, 1, 1)


@pytest.fixture(params=recipes.names())
def recipe_name(request):
    return request.param


@pytest.fixture(scope="module")
def tiny_feature_classifier(tmp_path_factory):
    """An untrained small classifier, so a GAN recipe's Fréchet distance does not train the full one."""
    path = tmp_path_factory.mktemp("classifier") / "classifier.keras"
    recipes.classifier_for(FASHION, "mnist_cnn", filters=(4, 4), dense_units=16).save(path)
    return path


def tiny_overrides(recipe, tiny_feature_classifier) -> dict:
    overrides = {**TINY, **TINY_FOR_TASK.get(recipe.task, {}), **TINY_FOR_RECIPE.get(recipe.name, {})}
    if recipe.task == "gan":
        overrides["task_options.feature_classifier"] = str(tiny_feature_classifier)
    return overrides


@pytest.mark.e2e
def test_recipe_runs_learns_exports_and_reloads(recipe_name, data_dir_for, tiny_feature_classifier, tmp_path):
    recipe = recipes.get(recipe_name)
    data_dir = data_dir_for(recipe.dataset)
    result = recipes.run(recipe_name, data_dir=data_dir, export_dir=tmp_path / "saved_models",
                         work_dir=tmp_path / "runs", verbose=0, **tiny_overrides(recipe, tiny_feature_classifier))

    if recipe.task in RISING:
        rising = result.history[RISING[recipe.task]]
        assert rising[-1] > rising[0], rising
    else:
        losses = result.history[TRAINING_LOSS.get(recipe.task, "loss")]
        assert losses[-1] < losses[0], losses
    assert set(result.test_metrics) >= set(recipe.expected) | ({"loss"} if recipe.task not in NO_TEST_LOSS else set())
    assert result.export_path == tmp_path / "saved_models" / recipe_name / "1"

    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    metadata = json.loads((result.export_path / "metadata.json").read_text())
    assert metadata["name"] == recipe_name
    assert metadata["recipe"]["architecture"] == recipe.architecture
    assert metadata["recipe"]["epochs"] == TINY["epochs"]
    assert metadata["dataset"]["name"] == recipe.dataset
    assert metadata["test_metrics"] == pytest.approx(result.test_metrics)
    exported = getattr(result.model, metadata["part"]) if "part" in metadata else result.model  # decoder, generator
    assert metadata["parameters"] == exported.count_params()
    assert metadata["inputs"] == {name: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}
                                  for name, spec in serve.structured_input_signature[1].items()}
    assert set(metadata["outputs"]) == set(serve.structured_outputs)
    assert {"tensorflow", "keras", "python"} <= set(metadata["versions"])
    assert (result.run_dir / "result.json").exists()
    if recipe.task == "classification":  # other tasks' exports are checked in their own test files
        (input_name, spec), = serve.structured_input_signature[1].items()
        x_test, _ = recipes.data.load(recipe.dataset, data_dir=data_dir, test_limit=32).arrays["test"]
        served = serve(**{input_name: tf.constant(x_test.astype("float32"))})["probabilities"].numpy()
        np.testing.assert_allclose(served, result.model.predict(x_test.astype("float32"), verbose=0),
                                   rtol=1e-4, atol=1e-5)
        assert all(path.exists() and path.suffix == ".png" for path in result.plots) and result.plots


@pytest.mark.e2e
def test_serving_signature_takes_raw_pixels(fashion_mnist_dir, tmp_path):
    """Scaling is inside the graph: 0-255 pixels in, the same answer as the in-memory model."""
    result = recipes.run("fashion_mnist_linear", export_dir=tmp_path, work_dir=tmp_path, verbose=0,
                         epochs=1, train_limit=256, test_limit=64)
    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["pixels"]
    assert list(serve.structured_outputs) == ["probabilities"]
    layer_names = [layer.name for layer in result.model.layers]
    assert "rescale" in layer_names and not any("augment" in n for n in layer_names)


def test_versions_increment_and_ignore_temporary_folders(tmp_path):
    import architectures
    from recipes.saved_models import export, versions

    model = architectures.build("linear", num_classes=3)
    (tmp_path / "demo" / ".tmp-export-leftover").mkdir(parents=True)
    (tmp_path / "demo" / "notes").mkdir()
    first = export(model, "demo", export_dir=tmp_path)
    second = export(model, "demo", export_dir=tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert versions(tmp_path / "demo") == [1, 2]
    assert not [p for p in (tmp_path / "demo").iterdir() if p.name.startswith(".tmp-export-") and p.name != ".tmp-export-leftover"]
    with pytest.raises(ConfigError, match="letters, digits"):
        export(model, "../escape", export_dir=tmp_path)


@pytest.mark.e2e
def test_overrides_reach_the_run(fashion_mnist_dir, tmp_path):
    result = recipes.run("fashion_mnist_mlp", export=False, work_dir=tmp_path, verbose=0, epochs=1,
                         train_limit=256, test_limit=64, optimizer="nesterov",
                         architecture_kwargs={"hidden_units": (16,)})
    assert result.export_path is None
    assert result.model.get_layer("mlp").get_layer("hidden1_dense").units == 16
    assert result.model.optimizer.nesterov is True


def test_unknown_recipe_and_setting():
    with pytest.raises(UnknownNameError, match="Did you mean: fashion_mnist_cnn"):
        recipes.get("fashion_mnist_cnnn")
    with pytest.raises(ConfigError, match="Did you mean epochs"):
        recipes.with_overrides(recipes.get("digits_mlp"), {"epoch": 3})
    with pytest.raises(ConfigError, match="expected key=value"):
        recipes.catalog.parse_assignment("epochs")


def test_dotted_overrides_merge_into_mappings():
    recipe = recipes.with_overrides(recipes.get("fashion_mnist_mlp"),
                                    {"architecture_kwargs.dropout": 0.5, "callbacks.tensorboard": None})
    assert recipe.architecture_kwargs["dropout"] == 0.5
    assert recipe.architecture_kwargs["hidden_units"] == (256, 256)
    assert recipe.callbacks["tensorboard"] is None
    assert recipes.get("fashion_mnist_mlp").architecture_kwargs["dropout"] == 0.2


def test_public_functions_stay_functions_after_every_submodule_is_imported():
    import importlib
    import inspect
    import pkgutil

    for module in pkgutil.walk_packages(recipes.__path__, "recipes."):
        if module.name != "recipes.tuning.__main__":
            importlib.import_module(module.name)
    for name in ("run", "export", "compile_and_fit", "classifier_for", "load_exported", "tune", "fine_tune"):
        assert callable(getattr(recipes, name)) and not inspect.ismodule(getattr(recipes, name)), name
    assert recipes.data.load is not None and recipes.saved_models.versions is not None


def test_task_options_are_typed_with_their_defaults_in_one_place():
    from recipes.tasks.options import SegmentationOptions, TextClassificationOptions

    recipe = recipes.get("shapes_unet")
    assert isinstance(recipe.task_options, SegmentationOptions)
    changed = recipes.with_overrides(recipe, {"task_options.size": 32})
    assert changed.task_options == SegmentationOptions(size=32, num_train=4000, num_test=500, max_shapes=3)
    replaced = recipes.with_overrides(recipe, {"task_options": {"num_test": 10}})
    assert replaced.task_options == SegmentationOptions(num_test=10)  # the rest are the task's defaults
    assert recipes.get("mr_sentiment_lstm").task_options == TextClassificationOptions()
    with pytest.raises(ConfigError, match=r"unknown option 'sequence_lenght' for task 'text_classification'. "
                                          r"Did you mean 'sequence_length'\? Valid options: max_tokens, sequence_length"):
        recipes.with_overrides(recipes.get("mr_sentiment_lstm"), {"task_options.sequence_lenght": 32})
    with pytest.raises(ConfigError, match="unknown option 'upscale' for task 'classification'. Valid options: "
                                          "label_smoothing, test_time_flip, test_time_shift, whitening_init"):
        recipes.with_overrides(recipes.get("fashion_mnist_cnn"), {"task_options": {"upscale": 2}})
    with pytest.raises(ConfigError, match="unknown option 'upscale' for task 'vae'.*It takes no options"):
        recipes.with_overrides(recipes.get("fashion_mnist_vae"), {"task_options": {"upscale": 2}})
    with pytest.raises(ConfigError, match="task 'segmentation' takes SegmentationOptions, not TextClassificationOptions"):
        recipes.with_overrides(recipe, {"task_options": TextClassificationOptions()})


def test_every_task_module_registers_its_task_and_the_registry_finds_them_all():
    import pkgutil

    from recipes import tasks

    modules = {m.name for m in pkgutil.iter_modules(tasks.__path__) if not m.name.startswith("_")} - {"options"}
    registered = {type(tasks.get(name)).__module__.rsplit(".", 1)[-1] for name in tasks.names()}
    assert registered == modules
    assert {recipe.task for recipe in map(recipes.get, recipes.names())} <= set(tasks.names())
    with pytest.raises(UnknownNameError, match="unknown task 'forcast'. Did you mean forecast"):
        tasks.get("forcast")


def test_one_default_callback_set_for_recipes_and_compile_and_fit():
    import inspect

    import callbacks
    from recipes.training import compile_and_fit

    assert set(callbacks.DEFAULT) <= set(callbacks.FACTORIES)
    assert recipes.Recipe(name="x", dataset="digits", architecture="mlp", description="", expected={}).callbacks \
        == callbacks.DEFAULT
    assert inspect.signature(compile_and_fit).parameters["callbacks"].default is None  # None: callbacks.DEFAULT
