"""What TF Serving users configure: --model_config_file (version policies, labels, reloads),
--model_name/--model_base_path, --batching_parameters_file and --monitoring_config_file, over TF
Serving's own test fixtures (/work/shared/tfserving-testdata)."""

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recipes.errors import ConfigError
from recipes.serve.codec import RequestError
from recipes.serve.config import (
    PROMETHEUS_PATH,
    All,
    BatchingParameters,
    Latest,
    ModelConfig,
    MonitoringConfig,
    PrometheusConfig,
    Specific,
    parse_batching_parameters,
    parse_channel_arguments,
    parse_model_config,
    parse_monitoring_config,
    read_batching_parameters_file,
    read_model_config_file,
    read_monitoring_config_file,
)
from recipes.serve.loading import LoadError, ServedVersion, load_version
from recipes.serve.repository import ModelRepository

from harness import TFSERVING_TESTDATA

TESTDATA = TFSERVING_TESTDATA
TWO_VERSIONS = TESTDATA / "saved_model_half_plus_two_2_versions"  # 00000123 and 00000124



class FakeLoader:
    """Loads nothing: a ServedVersion without signatures, and a record of what was asked."""

    def __init__(self, fail=()):
        self.calls: list[tuple[str, int]] = []
        self.fail = set(fail)
        self.on_load = None

    def __call__(self, name, version, path):
        self.calls.append((name, version))
        if self.on_load:
            self.on_load(name, version)
        if (name, version) in self.fail:
            raise LoadError(f"version {version} is broken")
        return ServedVersion(name, version, Path(path), {}, {})


def _copy(source: Path, target: Path) -> Path:
    """A writable copy (the fixtures are read-only)."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)
    return target


def _add_version(model_dir: Path, version: int) -> None:
    shutil.copytree(model_dir / "00000124", model_dir / str(version), copy_function=shutil.copyfile)
    os.chmod(model_dir / str(version), 0o755)


def _config(*models: str) -> str:
    return "model_config_list {\n" + "".join(f"  config {{ {model} }}\n" for model in models) + "}\n"


def _model(name: str, base_path, extra: str = "") -> str:
    return f'name: "{name}" base_path: "{base_path}" model_platform: "tensorflow" {extra}'


def _versions(repository: ModelRepository, name: str) -> dict[str, str]:
    return {entry["version"]: entry["state"] for entry in repository.status(name)}


# --- --model_config_file -------------------------------------------------------------------------

def test_tf_servings_good_model_config_parses_with_its_paths_substituted(tmp_path):
    text = (TESTDATA / "good_model_config.txt").read_text()
    text = text.replace("${TEST_HALF_PLUS_TWO_DIR}", str(TESTDATA / "saved_model_half_plus_two_cpu"))
    text = text.replace("${TEST_HALF_PLUS_THREE_DIR}", "saved_model_half_plus_three")  # relative to the file
    (tmp_path / "models.config").write_text(text)
    two, three = read_model_config_file(tmp_path / "models.config")
    assert two == ModelConfig("half_plus_two", TESTDATA / "saved_model_half_plus_two_cpu", "tensorflow", Latest(1), {})
    assert three.name == "half_plus_three" and three.base_path == tmp_path / "saved_model_half_plus_three"


def test_tf_servings_bad_model_config_is_refused_naming_the_file_and_the_line():
    with pytest.raises(ConfigError) as refused:
        read_model_config_file(TESTDATA / "bad_model_config.txt")
    message = str(refused.value)
    assert "bad_model_config.txt" in message and "\n" not in message
    assert "line 1, column 1" in message and 'no field named "improperly"' in message
    # the words TF Serving's own test (testBadModelConfig) looks for in its stderr
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in message
    assert "ModelServerConfig" in message and "model_config_list" in message  # what the file should look like


def test_a_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_model_config_file(tmp_path / "absent.config")


@pytest.mark.parametrize("text, message", [
    (_config(_model("a", "/m/a"), _model("a", "/m/b")), "Illegal to list model a multiple times in config list"),
    (_config('base_path: "/m/a" model_platform: "tensorflow"'), "has no name"),
    (_config('name: "a" model_platform: "tensorflow"'), "model a has no base_path"),
    (_config('name: "a" base_path: "/m/a" model_platform: "pytorch"'), "Model a requests unsupported platform pytorch"),
    (_config('name: "a" base_path: "/m/a"'), "Illegal setting neither ModelServerConfig::model_type"),
    (_config('name: "a" base_path: "/m/a" model_type: TENSORFLOW model_platform: "tensorflow"'),
     "Illegal setting both ModelServerConfig::model_type"),
    (_config(_model("a", "gs://bucket/a")), "is a URI"),
    (_config(_model("a", "${MODEL_DIR}")), "unexpanded"),
    (_config(_model("a b", "/m/a")), "cannot be addressed"),
    (_config(_model("a", "/m/a", 'version_labels { key: "" value: 1 }')), "version label ''"),
    ('custom_model_config { type_url: "x" }', "custom_model_config is not supported"),
    ("model_config_list { config { name: 'a' base_path: '/m' model_version_policy { newest {} } } }",
     ('1:79: Message type "tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy" '
      'has no field named "newest" (line 1, column 79)')),
])
def test_invalid_model_configs_are_refused_with_what_to_do(text, message):
    with pytest.raises(ConfigError, match="^models.config: |^Invalid protobuf file: 'models.config'") as refused:
        parse_model_config(text, source="models.config", root="/configs")
    assert message in str(refused.value)


def test_version_policies_and_labels_parse():
    models = parse_model_config(_config(
        _model("latest2", "/m/a", "model_version_policy { latest { num_versions: 2 } }"),
        _model("all", "/m/b", "model_version_policy { all {} }"),
        _model("specific", "m/c", "model_version_policy { specific { versions: 123 versions: 124 } } "
                                  'version_labels { key: "stable" value: 123 } version_labels { key: "canary" value: 124 }'),
        _model("zero", "/m/d", "model_version_policy { latest { num_versions: 0 } }"),
        _model("default", "/m/e"),
    ), root="/configs")
    assert [m.model_version_policy for m in models] == [Latest(2), All(), Specific((123, 124)), Latest(1), Latest(1)]
    assert models[2].version_labels == {"stable": 123, "canary": 124}
    assert models[2].base_path == Path("/configs/m/c")
    assert models[3].model_version_policy.select([1, 2, 3]) == {3}


def test_deprecated_model_type_tensorflow_means_the_tensorflow_platform():
    [model] = parse_model_config(_config('name: "a" base_path: "/m/a" model_type: TENSORFLOW'))
    assert model.model_platform == "tensorflow"


# --- version policies over TF Serving's two-version fixture -------------------------------------

@pytest.mark.parametrize("policy, served", [
    ("", [125]),
    ("model_version_policy { latest { num_versions: 2 } }", [125, 124]),
    ("model_version_policy { all {} }", [125, 124, 123]),
    ("model_version_policy { specific { versions: 123 versions: 125 versions: 999 } }", [125, 123]),
])
def test_version_policies_serve_several_versions_at_once(tmp_path, policy, served):
    base = _copy(TWO_VERSIONS, tmp_path / "half_plus_two")
    _add_version(base, 125)
    (tmp_path / "models.config").write_text(_config(_model("half_plus_two", "half_plus_two", policy)))
    loader = FakeLoader()
    repository = ModelRepository.from_config_file(tmp_path / "models.config", poll_seconds=0, loader=loader)
    repository.start()
    assert _versions(repository, "half_plus_two") == dict.fromkeys(map(str, served), "AVAILABLE")
    assert [version for _, version in loader.calls] == served  # the newest first
    assert repository.get("half_plus_two").version == served[0]
    for version in served:
        assert repository.get("half_plus_two", version).version == version
    with pytest.raises(RequestError) as missing:
        repository.get("half_plus_two", 7)
    assert missing.value.status == 404 and missing.value.message == "Servable not found for request: Specific(half_plus_two, 7)"


@pytest.mark.slow  # TensorFlow's first import and two TF1 sessions
def test_real_versions_load_from_tf_servings_layout_and_predict():
    repository = ModelRepository(models=[ModelConfig("half_plus_two", TWO_VERSIONS, model_version_policy=All())],
                                 poll_seconds=0)
    repository.start()
    assert repository.names() == ["half_plus_two"]
    assert _versions(repository, "half_plus_two") == {"124": "AVAILABLE", "123": "AVAILABLE"}
    for version in (123, 124):
        served = repository.get("half_plus_two", version)
        assert served.path.name == f"00000{version}"
        outputs = served.signature("serving_default").run({"x": np.array([[1.0], [2.0]], np.float32)})
        np.testing.assert_allclose(outputs["y"], [[2.5], [3.0]])


def test_single_model_form_serves_the_newest_version_as_default():
    repository = ModelRepository.single_model(TWO_VERSIONS, poll_seconds=0, loader=FakeLoader())
    repository.start()
    assert repository.names() == ["default"] and repository.get("default").version == 124
    named = ModelRepository.single_model(TWO_VERSIONS, "half", poll_seconds=0, loader=FakeLoader())
    named.start()
    assert named.get("half").version == 124


def test_a_version_that_fails_to_load_reports_why_without_server_paths_and_the_old_one_keeps_serving(tmp_path):
    base = _copy(TWO_VERSIONS, tmp_path / "half_plus_two")
    calls = []

    def counting_loader(name, version, path):
        calls.append(version)
        return load_version(name, version, path)

    repository = ModelRepository(models=[ModelConfig("half_plus_two", base)], poll_seconds=0, loader=counting_loader)
    repository.start()
    assert repository.get("half_plus_two").version == 124
    (base / "125").mkdir()
    (base / "125" / "saved_model.pb").write_bytes(b"\x00 not a proto")
    repository.refresh()
    [broken] = [entry for entry in repository.status("half_plus_two") if entry["version"] == "125"]
    assert broken["state"] == "END" and broken["status"]["error_code"] == "UNKNOWN"
    assert "saved_model.pb is not a SavedModel" in broken["status"]["error_message"]
    assert str(tmp_path) not in broken["status"]["error_message"]
    assert repository.get("half_plus_two").version == 124  # availability is preserved
    repository.refresh()
    assert calls == [124, 125]  # not retried while unchanged


def test_a_policy_change_on_reload_loads_and_unloads_versions(tmp_path):
    base = _copy(TWO_VERSIONS, tmp_path / "m")
    loader = FakeLoader()
    repository = ModelRepository(models=[ModelConfig("m", base)], poll_seconds=0, loader=loader)
    repository.start()
    assert _versions(repository, "m") == {"124": "AVAILABLE"}
    changes = repository.reload([ModelConfig("m", base, model_version_policy=All())])
    assert changes == [changes[0]] and "m version 123 loaded" in changes[0]
    assert _versions(repository, "m") == {"124": "AVAILABLE", "123": "AVAILABLE"}
    assert repository.reload([ModelConfig("m", base, model_version_policy=Specific((123,)))]) == [
        "m version 124 unloaded (outside its version policy)"]
    assert _versions(repository, "m") == {"124": "END", "123": "AVAILABLE"}
    assert repository.get("m").version == 123


def test_the_folder_of_models_layout_still_serves_the_newest_version_only(tmp_path):
    for version in (1, 2):
        (tmp_path / "m" / str(version)).mkdir(parents=True)
        (tmp_path / "m" / str(version) / "saved_model.pb").write_bytes(b"")
    repository = ModelRepository(tmp_path, poll_seconds=0, loader=FakeLoader())
    repository.start()
    assert _versions(repository, "m") == {"2": "AVAILABLE"}
    (tmp_path / "m" / "3").mkdir()
    (tmp_path / "m" / "3" / "saved_model.pb").write_bytes(b"")
    [change] = repository.refresh()
    assert change.startswith("m version 3 loaded in ") and change.endswith(", replacing version 2")
    assert _versions(repository, "m") == {"3": "AVAILABLE", "2": "END"}
    shutil.rmtree(tmp_path / "m")
    assert repository.refresh() == ["m version 3 unloaded (its folder is gone)"]
    assert repository.names() == []


def test_a_missing_base_path_unloads_nothing_as_in_tf_serving(tmp_path, caplog):
    base = _copy(TWO_VERSIONS, tmp_path / "m")
    repository = ModelRepository(models=[ModelConfig("m", base)], poll_seconds=0, loader=FakeLoader())
    repository.start()
    shutil.rmtree(base)
    with caplog.at_level(logging.WARNING, logger="keras_recipes.serve"):
        assert repository.refresh() == []
        repository.refresh()
    assert repository.get("m").version == 124
    assert [r.getMessage() for r in caplog.records if r.name == "keras_recipes.serve"] == [
        f"Could not find base path {base} for servable m"]


# --- labels --------------------------------------------------------------------------------------

LABELS = 'model_version_policy { all {} } version_labels { key: "stable" value: 123 } ' \
         'version_labels { key: "canary" value: 124 }'


def test_labels_name_versions_and_unknown_labels_are_400(tmp_path):
    (tmp_path / "models.config").write_text(_config(_model("half", TWO_VERSIONS, LABELS)))
    repository = ModelRepository.from_config_file(tmp_path / "models.config", poll_seconds=0, loader=FakeLoader())
    repository.start()
    assert repository.get("half", label="stable").version == 123
    assert repository.get("half", label="canary").version == 124
    with pytest.raises(RequestError) as unknown:
        repository.get("half", label="beta")
    assert (unknown.value.status, unknown.value.message) == (400, "Unrecognized servable version label: beta")
    with pytest.raises(RequestError) as both:
        repository.get("half", 123, label="stable")
    assert (both.value.status, both.value.message) == (
        400, "Both model version (123) and model version label (stable) cannot be supplied.")
    with pytest.raises(RequestError, match="cannot be supplied"):
        repository.status("half", 123, label="stable")
    # TF Serving's GetModelStatus ignores the label and lists every version
    assert [e["version"] for e in repository.status("half", label="stable")] == ["124", "123"]


def test_a_label_on_a_version_that_is_not_available_refuses_to_start_unless_allowed(tmp_path):
    labels = 'version_labels { key: "stable" value: 123 }'  # the default policy serves 124 only
    (tmp_path / "models.config").write_text(_config(_model("half", TWO_VERSIONS, labels)))
    repository = ModelRepository.from_config_file(tmp_path / "models.config", poll_seconds=0, loader=FakeLoader())
    with pytest.raises(ConfigError, match="Request to assign label to version 123 of model half, which is not "
                                          "currently available for inference; .*allow_version_labels_for_unavailable"):
        repository.start()
    allowed = ModelRepository.from_config_file(tmp_path / "models.config", poll_seconds=0, loader=FakeLoader(),
                                               allow_version_labels_for_unavailable_models=True)
    allowed.start()
    with pytest.raises(RequestError) as unavailable:
        allowed.get("half", label="stable")
    assert (unavailable.value.status, unavailable.value.message) == (
        404, "Servable not found for request: Specific(half, 123)")


def test_labels_change_on_config_reload_and_a_label_moved_to_an_unloaded_version_is_refused(tmp_path, caplog):
    config = tmp_path / "models.config"
    config.write_text(_config(_model("half", TWO_VERSIONS, LABELS)))
    repository = ModelRepository.from_config_file(config, poll_seconds=0, loader=FakeLoader())
    repository.start()
    config.write_text(_config(_model("half", TWO_VERSIONS, LABELS.replace("value: 123", "value: 124"))))
    assert repository.reload_config() == []  # no versions changed
    assert repository.get("half", label="stable").version == 124
    config.write_text(_config(_model("half", TWO_VERSIONS, LABELS.replace("123", "7"))))
    with caplog.at_level(logging.ERROR, logger="keras_recipes.serve"):
        repository.reload_config()
    assert repository.get("half", label="stable").version == 124  # the previous labels are kept
    assert "Request to assign label to version 7 of model half" in caplog.text
    with pytest.raises(ConfigError, match="version 7 of model half"):
        repository.reload(read_model_config_file(config))


# --- config reloads ------------------------------------------------------------------------------

def test_config_reload_adds_and_removes_models(tmp_path):
    config = tmp_path / "models.config"
    config.write_text(_config(_model("two", TWO_VERSIONS)))
    repository = ModelRepository.from_config_file(config, poll_seconds=0, loader=FakeLoader())
    repository.start()
    assert repository.names() == ["two"]
    config.write_text(_config(_model("two", TWO_VERSIONS), _model("three", TESTDATA / "saved_model_half_plus_three")))
    assert [change.split(" loaded")[0] for change in repository.reload_config()] == ["three version 123"]
    assert repository.names() == ["three", "two"]
    config.write_text(_config(_model("three", TESTDATA / "saved_model_half_plus_three")))
    assert repository.reload_config() == ["two version 124 unloaded (its model is no longer in the model config)"]
    assert repository.names() == ["three"]
    assert _versions(repository, "two") == {"124": "END"}
    with pytest.raises(RequestError, match=r"Servable not found for request: Latest\(two\)"):
        repository.get("two")


def test_a_malformed_config_on_reload_keeps_the_old_config_and_logs_one_line(tmp_path, caplog):
    config = tmp_path / "models.config"
    config.write_text(_config(_model("two", TWO_VERSIONS)))
    repository = ModelRepository.from_config_file(config, poll_seconds=0, loader=FakeLoader())
    repository.start()
    config.write_text("model_config_list { config { name: 'three' ")
    with caplog.at_level(logging.ERROR, logger="keras_recipes.serve"):
        assert repository.reload_config() == []
        assert repository.reload_config() == []  # the same error is not logged again
    [record] = [r for r in caplog.records if r.name == "keras_recipes.serve"]
    assert str(config) in record.getMessage() and "\n" not in record.getMessage()
    assert "keeping the model config read before" in record.getMessage()
    assert repository.names() == ["two"] and repository.get("two").version == 124


def test_the_poller_rereads_the_config_file_and_the_version_folders(tmp_path):
    base = _copy(TWO_VERSIONS, tmp_path / "two")
    config = tmp_path / "models.config"
    config.write_text(_config(_model("two", base)))
    repository = ModelRepository.from_config_file(config, poll_seconds=0.05, config_poll_seconds=0.05,
                                                  loader=FakeLoader())
    repository.start()
    try:
        config.write_text(_config(_model("two", base), _model("three", TESTDATA / "saved_model_half_plus_three")))
        _add_version(base, 130)
        deadline = time.monotonic() + 30
        while repository.names() != ["three", "two"] or repository.get("two").version != 130:
            assert time.monotonic() < deadline, "the poller never picked up the new config and version"
            time.sleep(0.02)
    finally:
        repository.stop()


def test_config_poll_seconds_zero_never_rereads_the_file(tmp_path):
    config = tmp_path / "models.config"
    config.write_text(_config(_model("two", TWO_VERSIONS)))
    repository = ModelRepository.from_config_file(config, poll_seconds=0, config_poll_seconds=0, loader=FakeLoader())
    repository.start()
    assert repository._thread is None  # nothing to poll
    repository.stop()


# --- warmup --------------------------------------------------------------------------------------

def test_warmup_runs_before_a_version_is_available_and_a_failing_one_keeps_it_out(tmp_path):
    base = _copy(TWO_VERSIONS, tmp_path / "m")
    seen = []

    def warmup(served):
        state = {e["version"]: e["state"] for e in repository.status("m")}[str(served.version)]
        try:
            repository.get("m", served.version)
            reachable = True
        except RequestError:
            reachable = False
        seen.append((served.version, state, reachable))
        if served.version == 125:
            raise RuntimeError("warmup request failed")

    repository = ModelRepository(models=[ModelConfig("m", base)], poll_seconds=0, loader=FakeLoader(), warmup=warmup)
    repository.start()
    assert seen == [(124, "LOADING", False)]
    assert _versions(repository, "m") == {"124": "AVAILABLE"}
    _add_version(base, 125)
    assert repository.refresh() == []
    assert seen[-1] == (125, "LOADING", False)
    assert repository.status("m")[0] == {"version": "125", "state": "END", "status": {
        "error_code": "UNKNOWN", "error_message": "warmup of version 125 failed: RuntimeError"}}
    assert repository.get("m").version == 124  # the warmed-up version keeps serving


def test_versions_waiting_to_load_are_in_start_state(tmp_path):
    loader = FakeLoader()
    states = []
    loader.on_load = lambda name, version: states.append(_versions(repository, "m"))
    repository = ModelRepository(models=[ModelConfig("m", TWO_VERSIONS, model_version_policy=All())],
                                 poll_seconds=0, loader=loader)
    repository.start()
    assert states == [{"124": "LOADING", "123": "START"}, {"124": "AVAILABLE", "123": "LOADING"}]


def test_requests_during_a_slow_load_keep_being_served_by_the_old_version(tmp_path):
    base = _copy(TWO_VERSIONS, tmp_path / "m")
    shutil.rmtree(base / "00000124")
    loader, release = FakeLoader(), threading.Event()
    repository = ModelRepository(models=[ModelConfig("m", base)], poll_seconds=0, loader=loader)
    repository.start()
    shutil.copytree(base / "00000123", base / "124", copy_function=shutil.copyfile)
    loader.on_load = lambda name, version: release.wait(30)
    loading = threading.Thread(target=repository.refresh)
    loading.start()
    try:
        deadline = time.monotonic() + 30
        while _versions(repository, "m").get("124") != "LOADING":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert repository.get("m").version == 123  # loading happens outside the lock
    finally:
        release.set()
        loading.join(30)
    assert repository.get("m").version == 124 and _versions(repository, "m") == {"124": "AVAILABLE", "123": "END"}


# --- --batching_parameters_file ------------------------------------------------------------------

def test_tf_servings_batching_config_parses():
    parameters = read_batching_parameters_file(TESTDATA / "batching_config.txt")
    assert (parameters.max_batch_size, parameters.batch_timeout_micros, parameters.max_enqueued_batches,
            parameters.num_batch_threads) == (128, 0, 1000000, 8)
    assert parameters.allowed_batch_sizes == () and parameters.pad_variable_length_inputs is False


def test_batching_defaults_are_tf_servings():
    parameters = parse_batching_parameters("")
    assert (parameters.max_batch_size, parameters.batch_timeout_micros, parameters.max_enqueued_batches) == (1000, 0, 10)
    assert parameters.num_batch_threads == (os.cpu_count() or 1) and parameters.thread_pool_name == "batch_threads"
    full = parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 4 "
                                     "allowed_batch_sizes: 8 pad_variable_length_inputs: true "
                                     'thread_pool_name { value: "pool" }')
    assert full.allowed_batch_sizes == (2, 4, 8) and full.pad_variable_length_inputs and full.thread_pool_name == "pool"


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 4",
     "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 4; expected 8"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2 allowed_batch_sizes: 8",
     "allowed_batch_sizes entries must be monotonically increasing"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 4 allowed_batch_sizes: 8",
     "allowed_batch_sizes entries must be monotonically increasing"),
    ("allowed_batch_sizes: 1000", None),
    ("max_batch_size { value: 0 }", "max_batch_size must be at least 1"),
    ("num_batch_threads { value: 0 }", "num_batch_threads must be at least 1"),
    ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be >= 0"),
    ("max_batch_size: 8", "line 1, column 17"),
    ("max_batch_siz { value: 8 }", 'has no field named "max_batch_siz"'),
])
def test_batching_parameters_are_validated_as_tf_serving_does(tmp_path, text, message):
    (tmp_path / "batching.config").write_text(text)
    if message is None:
        assert read_batching_parameters_file(tmp_path / "batching.config").allowed_batch_sizes == (1000,)
        return
    with pytest.raises(ConfigError) as refused:
        read_batching_parameters_file(tmp_path / "batching.config")
    assert message in str(refused.value) and "batching.config" in str(refused.value)


def test_batching_parameters_validate_when_built_directly():
    with pytest.raises(ConfigError, match="must match max_batch_size"):
        BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4,))


# --- --monitoring_config_file --------------------------------------------------------------------

def test_tf_servings_monitoring_config_parses():
    assert read_monitoring_config_file(TESTDATA / "monitoring_config.txt") == MonitoringConfig(
        PrometheusConfig(True, "/monitoring/prometheus/metrics"))


@pytest.mark.parametrize("text, expected", [
    ("", MonitoringConfig(PrometheusConfig(False, PROMETHEUS_PATH))),
    ("prometheus_config { enable: true }", MonitoringConfig(PrometheusConfig(True, PROMETHEUS_PATH))),
    ('prometheus_config: { enable: true, path: "/metrics" }', MonitoringConfig(PrometheusConfig(True, "/metrics"))),
    ("# a comment\nprometheus_config {\n  enable: false\n}\n", MonitoringConfig(PrometheusConfig(False))),
])
def test_monitoring_config_defaults(text, expected):
    assert parse_monitoring_config(text) == expected


@pytest.mark.parametrize("text, message", [
    ("prometheus_config { enable: yes }", "line 1, column 29"),
    ("prometheus_config { enable: true path: \"metrics\" }", "is not a URL path"),
    ("prometheus { enable: true }", 'has no field named "prometheus"'),
])
def test_malformed_monitoring_configs_are_refused(tmp_path, text, message):
    (tmp_path / "monitoring.config").write_text(text)
    with pytest.raises(ConfigError) as refused:
        read_monitoring_config_file(tmp_path / "monitoring.config")
    assert message in str(refused.value) and "monitoring.config" in str(refused.value)


# --- --grpc_channel_arguments ------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", []),
    ("grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
     [("grpc.max_connection_age_ms", 2000), ("grpc.lb_policy_name", "grpclb")]),
    ("grpc.so_reuseaddr=1, grpc.x=-7", [("grpc.so_reuseaddr", 1), ("grpc.x", -7)]),
    ("a=2147483648,b=1_000,c=", [("a", "2147483648"), ("b", "1_000"), ("c", "")]),  # not int32: a string
])
def test_grpc_channel_arguments_parse_as_tf_serving_parses_them(text, expected):
    assert parse_channel_arguments(text) == expected


@pytest.mark.parametrize("text, item", [("grpc.max_connection_age_ms", "grpc.max_connection_age_ms"), ("=3", "=3"),
                                        ("a=1,,b", "b")])
def test_a_malformed_grpc_channel_argument_is_refused_with_the_form(text, item):
    with pytest.raises(ConfigError, match=f"'{item}' is not key=value; write them as grpc.max_connection_age_ms=2000"):
        parse_channel_arguments(text)
