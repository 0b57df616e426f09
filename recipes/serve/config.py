"""What TF Serving users configure, read from the same files: ``--model_config_file``,
``--batching_parameters_file``, ``--monitoring_config_file`` and ``--ssl_config_file`` (text protos).

The model config is parsed with TF Serving's own ``ModelServerConfig`` proto (from
``tensorflow-serving-api``). The batching, monitoring and SSL protos are not in that package, so
their messages are declared here, field for field as in TF Serving's ``session_bundle_config.proto``,
``monitoring_config.proto`` and ``ssl_config.proto``, and parsed with the same text-format parser.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path

from recipes.errors import ConfigError

log = logging.getLogger("keras_recipes.serve")

TENSORFLOW_PLATFORM = "tensorflow"
DEFAULT_MODEL_NAME = "default"  # TF Serving's --model_name default
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_EXAMPLE = ('model_config_list { config { name: "NAME" base_path: "/models/NAME" '
            'model_platform: "tensorflow" } }')


def valid_model_name(name: str) -> bool:
    return bool(MODEL_NAME.match(name)) and ".." not in name


# --- version policies ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Latest:
    """Serve the ``num_versions`` highest versions on disk (TF Serving's default, with 1)."""

    num_versions: int = 1

    def select(self, on_disk: Iterable[int]) -> set[int]:
        return set(sorted(on_disk, reverse=True)[: max(self.num_versions, 1)])


@dataclass(frozen=True)
class All:
    """Serve every version on disk."""

    def select(self, on_disk: Iterable[int]) -> set[int]:
        return set(on_disk)


@dataclass(frozen=True)
class Specific:
    """Serve exactly these versions, those of them that are on disk."""

    versions: tuple[int, ...]

    def select(self, on_disk: Iterable[int]) -> set[int]:
        return set(on_disk) & set(self.versions)


VersionPolicy = Latest | All | Specific


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ``model_config_list``: ``base_path`` holds the version folders directly."""

    name: str
    base_path: Path
    model_platform: str = TENSORFLOW_PLATFORM
    model_version_policy: VersionPolicy = Latest()
    version_labels: dict[str, int] = field(default_factory=dict, hash=False)


def single_model_config(base_path, name: str = DEFAULT_MODEL_NAME) -> ModelConfig:
    """TF Serving's ``--model_name NAME --model_base_path PATH`` (its BuildSingleModelConfig)."""
    config = ModelConfig(name, Path(os.path.abspath(base_path)))
    validate_models([config], source="--model_name/--model_base_path")
    return config


def validate_models(models: Iterable[ModelConfig], *, source: str) -> tuple[ModelConfig, ...]:
    """Refuse what TF Serving refuses in a config list; ``source`` names the file in messages."""
    models = tuple(models)
    seen = set()
    for model in models:
        if not model.name:
            raise ConfigError(f"{source}: a model config has no name; give each config a name: \"...\"")
        if not valid_model_name(model.name):
            raise ConfigError(f"{source}: model name {model.name!r} cannot be addressed in a request URL; "
                              "use letters, digits, '_', '.' or '-' (starting with a letter or digit, at most 128)")
        if model.name in seen:
            raise ConfigError(f"{source}: Illegal to list model {model.name} multiple times in config list; "
                              "keep one config per name")
        seen.add(model.name)
        if model.model_platform != TENSORFLOW_PLATFORM:
            raise ConfigError(f"{source}: Model {model.name} requests unsupported platform {model.model_platform}; "
                              f"this server serves SavedModels only: set model_platform: \"{TENSORFLOW_PLATFORM}\"")
        policy = model.model_version_policy
        if isinstance(policy, Latest) and policy.num_versions < 1:
            raise ConfigError(f"{source}: model {model.name}: latest num_versions must be at least 1")
        if isinstance(policy, Specific) and any(version < 0 for version in policy.versions):
            raise ConfigError(f"{source}: model {model.name}: specific versions must be non-negative version numbers")
        for label, version in model.version_labels.items():
            if not label or "/" in label or ":" in label:
                raise ConfigError(f"{source}: model {model.name}: version label {label!r} cannot be addressed in a "
                                  "request URL; use a non-empty label without '/' or ':'")
            if version < 0:
                raise ConfigError(f"{source}: model {model.name}: label {label} maps to version {version}; "
                                  "map it to a version number (>= 0)")
    return models


# --- text protos ---------------------------------------------------------------------------------

def _read(path, what: str, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path}: no such file; pass the path of a {what} text proto") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{flag} {path}: cannot be read as text ({type(error).__name__}: {error}); "
                          f"pass a UTF-8 {what} text proto") from None


def _parse(text: str, message, source: str, example: str):
    from google.protobuf import text_format

    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as error:
        reason = re.sub(r"^\d+:\d+ : ", "", str(error)).strip().rstrip(".")
        # TF Serving's words, as protobuf's C++ parser logs them: "Error parsing text-format NAME: 1:12: ..."
        where = f"{error.GetLine()}:{error.GetColumn()}: " if error.GetLine() else ""
        line = f" (line {error.GetLine()}, column {error.GetColumn()})" if error.GetLine() else ""
        raise ConfigError(f"Invalid protobuf file: '{source}': Error parsing text-format "
                          f"{message.DESCRIPTOR.full_name}: {where}{reason}{line}; fix that line (the file should "
                          f"look like: {example})") from None


def _base_path(model, root: Path | None, source: str) -> Path:
    text = model.base_path
    if not text:
        raise ConfigError(f"{source}: model {model.name} has no base_path; set base_path to the folder that holds "
                          "its version folders (base_path/1/saved_model.pb, ...)")
    if "${" in text:
        raise ConfigError(f"{source}: model {model.name}: base_path {text!r} has an unexpanded ${{...}} placeholder; "
                          "the config file is not expanded, write the folder itself")
    if "://" in text:
        raise ConfigError(f"{source}: model {model.name}: base_path {text!r} is a URI; this server reads local "
                          "folders only: copy the model to a local folder and give its path")
    path = Path(text)
    if not path.is_absolute():
        if root is None:
            raise ConfigError(f"{source}: Expected model {model.name} to have an absolute path or URI; got "
                              f"base_path()={text}")
        path = root / path
    return Path(os.path.normpath(path))


def _platform(model, source: str) -> str:
    """TF Serving's GetPlatform: the deprecated ``model_type`` or ``model_platform``, not both."""
    from tensorflow_serving.config import model_server_config_pb2

    if model.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
        if model.model_platform:
            raise ConfigError(f"{source}: Illegal setting both ModelServerConfig::model_type (deprecated) and "
                              f"ModelServerConfig::model_platform, model name is {model.name}; "
                              "remove model_type")
        if model.model_type != model_server_config_pb2.TENSORFLOW:
            raise ConfigError(f"{source}: ModelServerConfig::model_type choice {model.model_type} not supported.; "
                              f"set model_platform: \"{TENSORFLOW_PLATFORM}\" instead")
        return TENSORFLOW_PLATFORM
    if not model.model_platform:
        raise ConfigError(f"{source}: Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                          f"ModelServerConfig::model_platform, model name is {model.name}; "
                          f"add model_platform: \"{TENSORFLOW_PLATFORM}\"")
    return model.model_platform


def _policy(model, source: str) -> VersionPolicy:
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return All()
    if choice == "specific":
        if not policy.specific.versions:
            log.warning("%s: No specific versions requested for servable %s.", source, model.name)
        return Specific(tuple(policy.specific.versions))
    return Latest(max(policy.latest.num_versions, 1))  # unset or 0 means 1, as in TF Serving


def parse_model_config(text: str, *, source: str = "<model config>", root=None) -> tuple[ModelConfig, ...]:
    """A ``ModelServerConfig`` text proto as model configs; relative base paths join ``root``."""
    from tensorflow_serving.config import model_server_config_pb2

    proto = _parse(text, model_server_config_pb2.ModelServerConfig(), source, _EXAMPLE)
    if proto.WhichOneof("config") == "custom_model_config":
        raise ConfigError(f"{source}: custom_model_config is not supported (TF Serving: \"ModelServer does not yet "
                          "support custom model config.\"); list the models in model_config_list")
    root = Path(root) if root is not None else None
    models = []
    for model in proto.model_config_list.config:
        validate_models([ModelConfig(model.name, Path())], source=source)  # the name first: messages use it
        models.append(ModelConfig(model.name, _base_path(model, root, source), _platform(model, source),
                                  _policy(model, source), dict(model.version_labels)))
    return validate_models(models, source=source)


def read_model_config_file(path) -> tuple[ModelConfig, ...]:
    """``--model_config_file``: base paths relative to the file's folder are resolved against it."""
    text = _read(path, "ModelServerConfig", "--model_config_file")
    return parse_model_config(text, source=str(path), root=Path(os.path.abspath(path)).parent)


@cache
def _extra_messages():
    """BatchingParameters, MonitoringConfig and SSLConfig, as TF Serving declares them, in a private pool."""
    from google.protobuf import (
        descriptor_pb2,
        descriptor_pool,
        message_factory,
        wrappers_pb2,
    )

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(name="keras_recipes/tensorflow_serving_extra.proto",
                                              package="tensorflow.serving", syntax="proto3",
                                              dependency=["google/protobuf/wrappers.proto"])
    F = descriptor_pb2.FieldDescriptorProto
    optional, repeated = F.LABEL_OPTIONAL, F.LABEL_REPEATED

    def add(message_name, fields):
        message = file.message_type.add(name=message_name)
        for name, number, kind, type_name, label in fields:
            message.field.add(name=name, number=number, type=kind, type_name=type_name, label=label)

    int64, string, boolean = ".google.protobuf.Int64Value", ".google.protobuf.StringValue", ".google.protobuf.BoolValue"
    add("BatchingParameters", [
        ("max_batch_size", 1, F.TYPE_MESSAGE, int64, optional),
        ("batch_timeout_micros", 2, F.TYPE_MESSAGE, int64, optional),
        ("max_enqueued_batches", 3, F.TYPE_MESSAGE, int64, optional),
        ("num_batch_threads", 4, F.TYPE_MESSAGE, int64, optional),
        ("thread_pool_name", 5, F.TYPE_MESSAGE, string, optional),
        ("allowed_batch_sizes", 6, F.TYPE_INT64, None, repeated),
        ("pad_variable_length_inputs", 7, F.TYPE_BOOL, None, optional),
        ("enable_large_batch_splitting", 8, F.TYPE_MESSAGE, boolean, optional),
        ("max_execution_batch_size", 9, F.TYPE_MESSAGE, int64, optional),
    ])
    add("PrometheusConfig", [("enable", 1, F.TYPE_BOOL, None, optional), ("path", 2, F.TYPE_STRING, None, optional)])
    add("MonitoringConfig", [("prometheus_config", 1, F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig", optional)])
    add("SSLConfig", [("server_key", 1, F.TYPE_STRING, None, optional), ("server_cert", 2, F.TYPE_STRING, None, optional),
                      ("custom_ca", 3, F.TYPE_STRING, None, optional), ("client_verify", 4, F.TYPE_BOOL, None, optional)])
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
            for name in ("BatchingParameters", "MonitoringConfig", "SSLConfig")}


# --- batching ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchingParameters:
    """``--batching_parameters_file``; unset fields take TF Serving's (SharedBatchScheduler's) defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None

    def __post_init__(self):
        self.validate()

    def validate(self, source: str = "batching parameters") -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{source}: {name} must be at least 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ConfigError(f"{source}: batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = self.allowed_batch_sizes
        if sizes:
            if sizes[0] < 1 or any(later <= earlier for earlier, later in pairwise(sizes)):
                raise ConfigError(f"{source}: allowed_batch_sizes entries must be monotonically increasing "
                                  f"(and positive), got {list(sizes)}")
            expected = self.max_batch_size
            if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
                expected = self.max_execution_batch_size
            if sizes[-1] != expected:
                raise ConfigError(f"{source}: Last entry in allowed_batch_sizes must match max_batch_size; last "
                                  f"entry was {sizes[-1]}; expected {expected}")
        if self.max_execution_batch_size is not None and self.max_execution_batch_size > self.max_batch_size:
            raise ConfigError(f"{source}: max_execution_batch_size ({self.max_execution_batch_size}) must not exceed "
                              f"max_batch_size ({self.max_batch_size})")


def parse_batching_parameters(text: str, *, source: str = "<batching parameters>") -> BatchingParameters:
    proto = _parse(text, _extra_messages()["BatchingParameters"](), source,
                   "max_batch_size { value: 32 } batch_timeout_micros { value: 1000 } num_batch_threads { value: 4 }")
    values = {name: getattr(proto, name).value
              for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
                           "thread_pool_name", "enable_large_batch_splitting", "max_execution_batch_size")
              if proto.HasField(name)}
    try:
        return BatchingParameters(**values, allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
                                  pad_variable_length_inputs=proto.pad_variable_length_inputs)
    except ConfigError as error:
        raise ConfigError(str(error).replace("batching parameters:", f"{source}:", 1)) from None


def read_batching_parameters_file(path) -> BatchingParameters:
    return parse_batching_parameters(_read(path, "BatchingParameters", "--batching_parameters_file"), source=str(path))


# --- monitoring ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrometheusConfig:
    enable: bool = False
    path: str = PROMETHEUS_PATH


@dataclass(frozen=True)
class MonitoringConfig:
    """``--monitoring_config_file``: whether and where to expose Prometheus metrics."""

    prometheus_config: PrometheusConfig = PrometheusConfig()


def parse_monitoring_config(text: str, *, source: str = "<monitoring config>") -> MonitoringConfig:
    proto = _parse(text, _extra_messages()["MonitoringConfig"](), source,
                   'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    path = proto.prometheus_config.path or PROMETHEUS_PATH
    if not path.startswith("/") or any(character.isspace() or character in "?#" for character in path):
        raise ConfigError(f"{source}: prometheus_config path {path!r} is not a URL path; write one that starts "
                          f"with '/', such as \"{PROMETHEUS_PATH}\"")
    return MonitoringConfig(PrometheusConfig(proto.prometheus_config.enable, path))


def read_monitoring_config_file(path) -> MonitoringConfig:
    return parse_monitoring_config(_read(path, "MonitoringConfig", "--monitoring_config_file"), source=str(path))


# --- TLS for gRPC --------------------------------------------------------------------------------

_SSL_EXAMPLE = ('server_key: "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n" '
                'server_cert: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"')


@dataclass(frozen=True)
class SslConfig:
    """``--ssl_config_file``: TF Serving's SSLConfig, which holds the PEM texts themselves, not paths.
    gRPC serves TLS with ``server_key`` and ``server_cert``; with ``client_verify``, a client must
    present a certificate that ``custom_ca`` signed."""

    server_key: str = field(repr=False)  # a private key: kept out of logs and tracebacks
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False


def parse_ssl_config(text: str, *, source: str = "<SSL config>") -> SslConfig:
    proto = _parse(text, _extra_messages()["SSLConfig"](), source, _SSL_EXAMPLE)
    ssl_config = SslConfig(proto.server_key, proto.server_cert, proto.custom_ca, proto.client_verify)
    _check_tls_material(ssl_config, source)
    return ssl_config


def read_ssl_config_file(path) -> SslConfig:
    return parse_ssl_config(_read(path, "SSLConfig", "--ssl_config_file"), source=str(path))


def _check_tls_material(ssl_config: SslConfig, source: str) -> None:
    """The key, certificates and their pairing, read with OpenSSL as gRPC will read them: gRPC itself
    only fails to bind the port ("Failed to bind"), without saying which field is wrong."""
    import ssl
    import tempfile

    for name in ("server_key", "server_cert"):
        if not getattr(ssl_config, name).strip():
            raise ConfigError(f"{source}: SSLConfig has no {name}; set it to the PEM text itself (not a file "
                              f"path), as in: {_SSL_EXAMPLE}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_certificates(context, ssl_config.server_cert, f"{source}: server_cert")
    if ssl_config.custom_ca:
        _load_certificates(context, ssl_config.custom_ca, f"{source}: custom_ca")
    elif ssl_config.client_verify:
        raise ConfigError(f"{source}: client_verify: true needs custom_ca, the PEM certificate of the authority "
                          "that signs the clients' certificates")

    def refuse_encrypted_key():
        raise ConfigError(f"{source}: server_key is encrypted; gRPC takes an unencrypted key (decrypt it with "
                          "`openssl pkey -in KEY.pem -out PLAIN.pem`)")

    with tempfile.TemporaryDirectory(prefix="keras-recipes-tls-") as folder:  # ssl reads a key pair only from files
        key_path, cert_path = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
        Path(key_path).write_text(ssl_config.server_key, encoding="utf-8")
        Path(cert_path).write_text(ssl_config.server_cert, encoding="utf-8")
        try:
            context.load_cert_chain(cert_path, key_path, password=refuse_encrypted_key)
        except ssl.SSLError as error:
            if error.reason == "KEY_VALUES_MISMATCH":
                raise ConfigError(f"{source}: server_key is not the private key of server_cert; give the key "
                                  "that the certificate was issued for") from None
            raise ConfigError(f"{source}: server_key is not a PEM private key (\"-----BEGIN PRIVATE KEY-----\\n"
                              "...\"); SSLConfig holds the key's text itself, not a file path") from None


def _load_certificates(context, pem: str, what: str) -> None:
    import ssl

    try:
        context.load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise ConfigError(f"{what} is not a PEM certificate (\"-----BEGIN CERTIFICATE-----\\n...\"); SSLConfig "
                          "holds the certificate's text itself, not a file path") from None


def parse_channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """TF Serving's ``--grpc_channel_arguments``: ``key=value`` pairs separated by commas, each
    value passed as an int where it reads as a 32-bit one, else as a string (``main.cc``)."""
    arguments = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--grpc_channel_arguments: {item!r} is not key=value; write them as "
                              "grpc.max_connection_age_ms=2000,grpc.keepalive_time_ms=10000")
        is_int32 = re.fullmatch(r"[+-]?[0-9]{1,10}", value) is not None and -2**31 <= int(value) < 2**31
        arguments.append((key, int(value) if is_int32 else value))
    return arguments
