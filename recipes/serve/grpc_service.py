"""TF Serving's gRPC API over a ``ModelService``, with the official ``tensorflow-serving-api``
protos, so that ``PredictionServiceStub`` and ``ModelServiceStub`` clients work unchanged.

    PredictionService: Predict, Classify, Regress, GetModelMetadata
    ModelService:      GetModelStatus, HandleReloadConfigRequest (a ModelConfigList, as --model_config_file)
    ProfilerService:   Profile, TensorFlow's, for tf.profiler.experimental.client.trace (profiler_service.py;
                       unless profiler=False, TF Serving's --enable_profiler=false)
    Health:            Check, Watch, gRPC's standard health service (health_service.py; with a
                       HealthService, TF Serving's --enable_grpc_healthcheck_service)

Requests are checked as TF Serving checks them (``predict_util.cc``, ``get_model_metadata_impl.cc``,
``get_model_status_impl.cc``), with its messages and status codes. Input tensors are read as
TensorFlow's ``Tensor::FromProto`` reads them (``tensor_content`` or the typed ``*_val`` fields);
Predict's output tensors are written as TF Serving writes them: in the typed fields (``float_val``
and the like, ``Tensor::AsProtoField``), or, with ``tensor_content=True`` (TF Serving's
``--enable_serialization_as_tensor_content``), in ``tensor_content`` (``AsProtoTensorContent``).
With ``ssl_config`` the server listens with TLS, as TF Serving's ``--ssl_config_file``.

``start_grpc_server`` starts a ``grpc.aio`` server on the running event loop (uvloop included), so
it shares the REST app's loop and batcher.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     inference_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from recipes.serve.codec import DEFAULT_SIGNATURE, RequestError
from recipes.serve.config import SslConfig
from recipes.serve.health_service import HealthService, add_health_service
from recipes.serve.profiler_service import add_profiler_service
from recipes.serve.server import AddressError, bind_sockets
from recipes.serve.service import ModelService, ModelSpec

log = logging.getLogger("keras_recipes.serve")

DEFAULT_GRPC_PORT = 8500
MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving's SetMaxMessageSize(INT_MAX), for receiving and sending
MAX_ERROR_CHARS = 1024  # TF Serving's ToGRPCStatus truncates longer messages
SIGNATURE_DEF = "signature_def"
CLASSIFY_METHOD, REGRESS_METHOD = "tensorflow/serving/classify", "tensorflow/serving/regress"

_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
          413: grpc.StatusCode.RESOURCE_EXHAUSTED, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
          501: grpc.StatusCode.UNIMPLEMENTED, 503: grpc.StatusCode.UNAVAILABLE}
_REF_OFFSET = 100  # DT_FLOAT_REF is DT_FLOAT + 100


class GrpcError(Exception):
    """An answer whose gRPC code has no HTTP status of its own in ``RequestError``."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def status_code(http_status: int) -> grpc.StatusCode:
    return _CODES.get(http_status, grpc.StatusCode.INTERNAL)


async def _answer(context: grpc.aio.ServicerContext, method: str, work: Awaitable, *,
                  service: ModelService | None = None, request=None, api: str = ""):
    """``work``'s response, or its error as a gRPC status: never a traceback (the log has it).
    With ``service``, the request is counted in its metrics."""
    started = time.perf_counter()
    response = None
    try:
        response = await work
        code = grpc.StatusCode.OK
    except RequestError as error:
        code, message = status_code(error.status), error.message
    except GrpcError as error:
        code, message = error.code, error.message
    except Exception as error:
        log.exception("gRPC %s failed", method)
        code, message = grpc.StatusCode.INTERNAL, f"internal server error ({type(error).__name__}); see the server log"
    if service is not None:
        spec = getattr(request, "model_spec", None)
        answered = getattr(response, "model_spec", None)
        version = answered.version.value if answered is not None and answered.HasField("version") else None
        signature = (answered.signature_name if answered is not None else "") or (spec.signature_name if spec else "")
        service.observe(spec.name if spec is not None else "", version, signature, api, "GRPC", code.name,
                        time.perf_counter() - started)
    if code == grpc.StatusCode.OK:
        return response
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + "...TRUNCATED"
    await context.abort(code, message)


def _spec(request) -> ModelSpec:
    if not request.HasField("model_spec"):
        raise RequestError(400, "Missing ModelSpec")
    proto = request.model_spec
    choice = proto.WhichOneof("version_choice")
    return ModelSpec(proto.name, proto.version.value if choice == "version" else None,
                     proto.version_label if choice == "version_label" else None, proto.signature_name)


def _set_model_spec(proto, name: str, version: int, signature_name: str | None = None) -> None:
    proto.name = name
    proto.version.value = version
    if signature_name is not None:
        proto.signature_name = signature_name or DEFAULT_SIGNATURE


def _type_name(dtype: int) -> str:
    """TensorFlow's DataTypeString: DT_FLOAT -> float, DT_HALF -> half, DT_FLOAT_REF -> float_ref."""
    if dtype > _REF_OFFSET:
        return _type_name(dtype - _REF_OFFSET) + "_ref"
    try:
        return types_pb2.DataType.Name(dtype)[3:].lower()
    except ValueError:
        return f"unknown dtype enum ({dtype})"


_PLAIN_DTYPES = {types_pb2.DT_FLOAT: np.dtype("<f4"), types_pb2.DT_DOUBLE: np.dtype("<f8"),
                 types_pb2.DT_INT32: np.dtype("<i4"), types_pb2.DT_INT64: np.dtype("<i8"),
                 types_pb2.DT_UINT8: np.dtype("u1"), types_pb2.DT_INT8: np.dtype("i1")}


def _ndarray(proto, alias: str) -> np.ndarray:
    """A TensorProto as ``Tensor::FromProto`` reads it: missing values repeat the last one, extra
    ones are ignored, and a ``tensor_content`` of the wrong size is refused."""
    shape = [dim.size for dim in proto.tensor_shape.dim]
    if proto.tensor_content and proto.dtype in _PLAIN_DTYPES and all(size >= 0 for size in shape):
        dtype = _PLAIN_DTYPES[proto.dtype]
        if len(proto.tensor_content) == dtype.itemsize * math.prod(shape):  # the common case, without a TF op
            return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape).copy()
    try:
        tensor = tf.io.parse_tensor(proto.SerializeToString(), tf.dtypes.as_dtype(proto.dtype))
        return tensor.numpy()
    except (tf.errors.InvalidArgumentError, TypeError, ValueError):
        raise RequestError(400, f"tensor parsing error: {alias}") from None


_VALUE_FIELDS = {"f": "float_val", "d": "double_val", "i": "int_val", "h": "int_val", "b": "int_val", "B": "int_val",
                 "H": "int_val", "q": "int64_val", "l": "int64_val", "I": "uint32_val", "Q": "uint64_val", "L": "uint64_val",
                 "?": "bool_val", "e": "half_val"}


def _fill_tensor_proto(proto, array: np.ndarray, *, as_tensor_content: bool = False) -> None:
    """``array`` as TF Serving's Predict answers (``Tensor::AsProtoField``): dtype, shape and the
    values in the typed field (``float_val``, ``int64_val``, ...), not ``tensor_content``, so
    that a client that reads ``outputs["y"].float_val`` gets the values here too. With
    ``as_tensor_content``, as ``--enable_serialization_as_tensor_content`` answers instead."""
    array = np.asarray(array)
    if as_tensor_content:
        _fill_tensor_content(proto, array)
        return
    field = _VALUE_FIELDS.get(array.dtype.char)
    if field is None:  # strings, bfloat16, complex: TensorFlow's converter writes their typed fields itself
        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=size) for size in array.shape)
    flat = array.ravel()
    if field == "half_val":
        flat = flat.view(np.uint16)
    getattr(proto, field).extend(flat.tolist())


def _fill_tensor_content(proto, array: np.ndarray) -> None:
    """``array`` as ``Tensor::AsProtoTensorContent`` writes it, for every dtype: numbers as their
    bytes in memory, strings in TensorFlow's string-list encoding (each length as a varint, then
    the strings), which ``tf.io.parse_tensor`` reads and ``tf.make_ndarray`` cannot."""
    if array.dtype.kind not in "OSU":  # not strings (objects, bytes, unicode)
        proto.dtype = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
        proto.tensor_shape.dim.extend(proto.tensor_shape.Dim(size=size) for size in array.shape)
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
        return
    proto.CopyFrom(tf.make_tensor_proto(array))  # the dtype, shape and bytes of each string, as TensorFlow converts them
    strings = list(proto.string_val)
    del proto.string_val[:]
    proto.tensor_content = b"".join([*map(_varint, map(len, strings)), *strings])


def _varint(number: int) -> bytes:
    """``core::PutVarint32``: seven bits a byte, lowest first, the high bit set on all but the last."""
    encoded = bytearray()
    while number >= 0x80:
        encoded.append(number & 0x7F | 0x80)
        number >>= 7
    encoded.append(number)
    return bytes(encoded)


def _input_protos(definition, sent: Mapping) -> dict:
    """The TensorProto for each signature input, as ``VerifyRequestInputsSize`` and
    ``GetInputValues`` pick them: the request's, else the signature's default."""
    expected, given = set(definition.inputs), set(sent)
    if len(given) > len(expected) or (len(given) < len(expected) and not definition.defaults):
        raise RequestError(400, f"input size does not match signature: {len(given)}!={len(expected)} "
                                f"len({{{','.join(sorted(given))}}}) != len({{{','.join(sorted(expected))}}}). "
                                f"Sent extra: {{{','.join(sorted(given - expected))}}}. "
                                f"Missing but required: {{{','.join(sorted(expected - given))}}}.")
    protos = {}
    for alias in sorted(expected):
        if alias in sent:
            protos[alias] = sent[alias]
        elif alias in definition.defaults:
            protos[alias] = definition.defaults[alias]
        else:
            raise RequestError(400, f"Signature input alias: {alias}(feed name: {definition.inputs[alias].name}) "
                                    "not found in request and no default value provided. Inputs expected to be "
                                    f"in the request {{{','.join(sorted(expected))}}}.")
    if given - expected:
        raise RequestError(400, f"Inputs contains invalid name. Used request inputs: "
                                f"{','.join(sorted(given & expected))}, request input: {','.join(sorted(given))}")
    return protos


def _output_aliases(definition, output_filter) -> list[str]:
    aliases: list[str] = []
    for alias in output_filter:
        if alias not in definition.outputs:
            raise RequestError(400, f"output tensor alias not found in signature: {alias} Outputs expected to "
                                    f"be in the set {{{','.join(sorted(definition.outputs))}}}.")
        if alias in aliases:
            raise RequestError(400, f"duplicate output tensor alias: {alias}")
        aliases.append(alias)
    return aliases or list(definition.outputs)


def _check_dtypes(definition, protos: dict) -> None:
    """The session's feed check: feeds are numbered in the order of their tensor names."""
    feeds = sorted(protos, key=lambda alias: definition.inputs[alias].name)
    for index, alias in enumerate(feeds):
        wanted = definition.inputs[alias].dtype
        wanted = wanted - _REF_OFFSET if wanted > _REF_OFFSET else wanted
        if protos[alias].dtype != wanted:
            raise RequestError(400, f"Expects arg[{index}] to be {_type_name(wanted)} but "
                                    f"{_type_name(protos[alias].dtype)} is provided")


def _examples(proto) -> list[bytes]:
    """Serialized tf.Examples from an ``Input``: with a context, its bytes before each example's,
    which merges the two when parsed (as TF Serving's InputToSerializedExampleTensor)."""
    kind = proto.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in proto.example_list.examples]
    if kind == "example_list_with_context":
        context = proto.example_list_with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in proto.example_list_with_context.examples]
    return []


def _fill_classifications(result, results: list[list[tuple[bytes, float | None]]]) -> None:
    for classes in results:
        classifications = result.classifications.add()
        for label, score in classes:
            entry = classifications.classes.add()
            entry.label = label.decode("utf-8", "replace")  # a proto string; TF Serving's labels are bytes
            if score is not None:
                entry.score = score


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: ModelService, *, tensor_content: bool = False):
        self.service = service
        self.tensor_content = tensor_content

    async def Predict(self, request, context):
        return await _answer(context, "Predict", self._predict(request), service=self.service, request=request,
                             api="predict")

    async def Classify(self, request, context):
        return await _answer(context, "Classify", self._classify(request), service=self.service, request=request,
                             api="classify")

    async def Regress(self, request, context):
        return await _answer(context, "Regress", self._regress(request), service=self.service, request=request,
                             api="regress")

    async def MultiInference(self, request, context):
        return await _answer(context, "MultiInference", self._multi_inference(request), service=self.service,
                             request=request.tasks[0] if request.tasks else None, api="multi_inference")

    async def GetModelMetadata(self, request, context):
        return await _answer(context, "GetModelMetadata", self._metadata(request), service=self.service, request=request,
                             api="metadata")

    async def _predict(self, request) -> predict_pb2.PredictResponse:
        spec = _spec(request)
        served = self.service.find(spec)
        key = spec.signature_name or DEFAULT_SIGNATURE
        if key not in served.signatures or key not in served.signature_def_map:
            raise GrpcError(grpc.StatusCode.FAILED_PRECONDITION, f"Serving signature key \"{key}\" not found.")
        signature, definition = served.signatures[key], served.signature_def_map[key]
        protos = _input_protos(definition, request.inputs)
        arrays = {alias: _ndarray(proto, alias) for alias, proto in protos.items()}
        aliases = _output_aliases(definition, request.output_filter)
        _check_dtypes(definition, protos)
        if arrays:
            outputs = await self.service.run(signature, arrays)
        else:  # nothing to batch (a stateful model's incr_counter, say)
            outputs = await asyncio.to_thread(signature.run, arrays)
        response = predict_pb2.PredictResponse()
        _set_model_spec(response.model_spec, spec.name, served.version, key)
        for alias in aliases:
            _fill_tensor_proto(response.outputs[alias], outputs[alias], as_tensor_content=self.tensor_content)
        return response

    async def _classify(self, request) -> classification_pb2.ClassificationResponse:
        spec = _spec(request)
        served = self.service.find(spec)
        results = await self.service.classify(served, spec.signature_name, _examples(request.input))
        response = classification_pb2.ClassificationResponse()
        _set_model_spec(response.model_spec, spec.name, served.version, spec.signature_name)
        _fill_classifications(response.result, results)
        return response

    async def _regress(self, request) -> regression_pb2.RegressionResponse:
        spec = _spec(request)
        served = self.service.find(spec)
        values = await self.service.regress(served, spec.signature_name, _examples(request.input))
        response = regression_pb2.RegressionResponse()
        _set_model_spec(response.model_spec, spec.name, served.version, spec.signature_name)
        for value in values:
            response.result.regressions.add().value = value
        return response

    async def _multi_inference(self, request) -> inference_pb2.MultiInferenceResponse:
        """Classify and regress tasks over one input, on the version the first task names, with
        TF Serving's checks (``multi_inference.cc``). Each task runs its own signature."""
        served = self.service.find(_spec(request.tasks[0]) if request.tasks else ModelSpec(""))
        names = set()
        for task in request.tasks:
            if not task.model_spec.name:
                raise RequestError(400, "Found ModelSpec with an empty model name.")
            if task.model_spec.name != request.tasks[0].model_spec.name:
                raise RequestError(400, "All ModelSpecs in a MultiInferenceRequest must access the same model name.")
            name = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if name in names:
                raise RequestError(400, f"Duplicate evaluation of signature: {name}")
            names.add(name)
            if name not in served.signature_def_map:
                raise RequestError(400, f"Requested signature not found in model graph: {name}")
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise RequestError(501, f"Unsupported signature method_name: {task.method_name}")
        examples = _examples(request.input)
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                _fill_classifications(result.classification_result,
                                      await self.service.classify(served, task.model_spec.signature_name, examples))
            else:
                for value in await self.service.regress(served, task.model_spec.signature_name, examples):
                    result.regression_result.regressions.add().value = value
            _set_model_spec(result.model_spec, task.model_spec.name, served.version, task.model_spec.signature_name)
        return response

    async def _metadata(self, request) -> get_model_metadata_pb2.GetModelMetadataResponse:
        spec = _spec(request)
        if not request.metadata_field:
            raise RequestError(400, "GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF:
                raise RequestError(400, f"Metadata field {field} is not supported")
        served = self.service.find(spec)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for key, definition in served.signature_def_map.items():
            signature_defs.signature_def[key].CopyFrom(definition)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _set_model_spec(response.model_spec, served.name, served.version)
        response.metadata[SIGNATURE_DEF].Pack(signature_defs)
        return response


class ModelStatusService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: ModelService):
        self.service = service

    async def GetModelStatus(self, request, context):
        return await _answer(context, "GetModelStatus", self._status(request), service=self.service, request=request,
                             api="status")

    async def HandleReloadConfigRequest(self, request, context):
        """Serve the request's ModelConfigList instead, as ``--model_config_file`` would; the
        outcome is both the response's status and the call's, as in TF Serving."""
        from google.protobuf import text_format
        from tensorflow_serving.apis import model_management_pb2

        from recipes.errors import ConfigError
        from recipes.serve.config import parse_model_config

        response = model_management_pb2.ReloadConfigResponse()
        code, message = grpc.StatusCode.OK, ""
        if request.config.WhichOneof("config") != "model_config_list":
            code, message = grpc.StatusCode.INVALID_ARGUMENT, (
                "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                "Only ModelConfigList is currently supported")
        else:
            try:
                models = parse_model_config(text_format.MessageToString(request.config), source="ReloadConfigRequest")
                await asyncio.to_thread(self.service.repository.reload, models)
            except ConfigError as error:
                code, message = grpc.StatusCode.INVALID_ARGUMENT, str(error)
        response.status.error_code = code.value[0]
        response.status.error_message = message
        if code != grpc.StatusCode.OK:
            log.error("ReloadConfig failed: %s", message)
            await context.abort(code, message)
        return response

    async def _status(self, request) -> get_model_status_pb2.GetModelStatusResponse:
        entries = self.service.status(_spec(request))
        response = get_model_status_pb2.GetModelStatusResponse()
        for entry in entries:
            status = response.model_version_status.add()
            status.version = int(entry["version"])
            status.state = get_model_status_pb2.ModelVersionStatus.State.Value(entry["state"])
            status.status.error_code = error_codes_pb2.Code.Value(entry["status"]["error_code"])
            status.status.error_message = entry["status"]["error_message"]
        return response


async def start_grpc_server(service: ModelService, host: str = "127.0.0.1", port: int | None = DEFAULT_GRPC_PORT, *,
                            socket_path: str | None = None, channel_arguments=(), reuse_port: bool = False,
                            max_message_bytes: int = MAX_MESSAGE_BYTES, profiler: bool = True,
                            health: HealthService | None = None, tensor_content: bool = False,
                            ssl_config: SslConfig | None = None) -> grpc.aio.Server:
    """A started ``grpc.aio`` server on the running loop; stop it with ``await server.stop(grace)``
    (with ``health``, call ``health.shutdown()`` first, so that its watchers hear NOT_SERVING).

    It listens on ``host:port`` (``None``: no TCP port) and, with ``socket_path``, on that Unix
    socket too, as TF Serving's ``--grpc_socket_path``. ``channel_arguments`` (``(key, value)``
    pairs, see ``parse_channel_arguments``) override the defaults. ``reuse_port`` binds with
    ``SO_REUSEPORT``, for server processes that share the port. ``profiler`` serves TensorFlow's
    ProfilerService, ``health`` the standard health service, ``tensor_content`` answers Predict
    in ``tensor_content``, and ``ssl_config`` listens with TLS on the port and the socket alike,
    as TF Serving's flags of those names. A port that cannot be bound raises ``AddressError``
    (``AddressInUseError`` when it is taken).
    """
    options = {"grpc.max_receive_message_length": max_message_bytes,
               "grpc.max_send_message_length": max_message_bytes,
               # without reuse_port a second server on the port would share it silently
               "grpc.so_reuseport": int(reuse_port)}
    options.update(channel_arguments)
    server = grpc.aio.server(options=list(options.items()))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(service, tensor_content=tensor_content), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelStatusService(service), server)
    if profiler:
        add_profiler_service(server)
    if health is not None:
        add_health_service(server, health)
    credentials = _server_credentials(ssl_config)
    if port is not None:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        bound = _add_port(server, address, credentials)
        if not bound:
            await server.stop(None)
            if not reuse_port:
                for sock in bind_sockets(host, port):  # raises the reason, if the port is still unusable
                    sock.close()
            raise AddressError(f"cannot listen for gRPC on {host} port {port}", host=host, port=port)
        log.info("gRPC listening on %s:%d%s", host, bound, " with TLS" if ssl_config else "")
    if socket_path is not None:
        if not _add_port(server, f"unix:{socket_path}", credentials):
            await server.stop(None)
            raise AddressError(f"cannot listen for gRPC on the Unix socket {socket_path} (--grpc_socket_path): "
                               "is its folder there and writable?", host=socket_path, port=0)
        log.info("gRPC listening on the Unix socket %s%s", socket_path, " with TLS" if ssl_config else "")
    await server.start()
    return server


def _server_credentials(ssl_config: SslConfig | None) -> grpc.ServerCredentials | None:
    """TF Serving's ``BuildServerCredentials``: None (plain) without a config; else TLS with its key
    and certificate, and with ``client_verify``, a client certificate that ``custom_ca`` signed
    required of every client."""
    if ssl_config is None:
        return None
    return grpc.ssl_server_credentials([(ssl_config.server_key.encode(), ssl_config.server_cert.encode())],
                                       root_certificates=ssl_config.custom_ca.encode() or None,
                                       require_client_auth=ssl_config.client_verify)


def _add_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """The port bound at ``address`` (plain without ``credentials``); 0 if it cannot be."""
    try:
        if credentials is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, credentials)
    except RuntimeError:
        return 0
