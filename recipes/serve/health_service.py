"""The standard gRPC health service, ``grpc.health.v1.Health``, on the gRPC port, as TF Serving's
``--enable_grpc_healthcheck_service`` turns on gRPC's default health check service
(``server.cc``), so that ``grpc_health_probe``, Kubernetes' gRPC probes and clients' health
checking see this server as they see TF Serving.

    Health: Check, Watch

As gRPC's C++ ``DefaultHealthCheckService`` answers for TF Serving: "" (the whole server),
"ModelService" and "PredictionService" are SERVING; ``Check`` of any other name answers NOT_FOUND
"service name unknown"; ``Watch`` sends the current status (SERVICE_UNKNOWN for a name it does not
know), then each change. When the server stops (``shutdown``), every status turns NOT_SERVING, the
watchers are sent that, and their streams end with CANCELLED "not writing due to shutdown".

The messages are built here from ``grpc/health/v1/health.proto`` in a pool of their own:
``grpcio-health-checking`` would pin a protobuf version that TensorFlow's may not match.
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE_NAME = "grpc.health.v1.Health"
SERVING_AT_START = ("", "ModelService", "PredictionService")  # gRPC's default service's "", and TF Serving's two
MAX_SERVICE_NAME_CHARS = 200  # gRPC's: a longer name is a request it "could not parse"
SHUTDOWN_MESSAGE = "not writing due to shutdown"
SERVING_STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")

_FIELD = descriptor_pb2.FieldDescriptorProto


def _message_classes() -> tuple[type, type]:
    """HealthCheckRequest and HealthCheckResponse, field for field as in gRPC's health.proto."""
    health = descriptor_pb2.FileDescriptorProto(name="grpc/health/v1/health.proto", package="grpc.health.v1",
                                                syntax="proto3")
    request = health.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=_FIELD.TYPE_STRING, label=_FIELD.LABEL_OPTIONAL)
    response = health.message_type.add(name="HealthCheckResponse")
    statuses = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(SERVING_STATUSES):
        statuses.value.add(name=name, number=number)
    response.field.add(name="status", number=1, type=_FIELD.TYPE_ENUM, label=_FIELD.LABEL_OPTIONAL,
                       type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(health)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.health.v1.{name}"))
                 for name in ("HealthCheckRequest", "HealthCheckResponse"))


HealthCheckRequest, HealthCheckResponse = _message_classes()
UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = range(len(SERVING_STATUSES))


class HealthService:
    """The statuses, and the queue of each ``Watch`` call, on the server's event loop."""

    def __init__(self):
        self._statuses = dict.fromkeys(SERVING_AT_START, SERVING)
        self._watchers: set[asyncio.Queue] = set()

    async def Check(self, request, context):
        if len(request.service) > MAX_SERVICE_NAME_CHARS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "could not parse request")
        if request.service not in self._statuses:
            await context.abort(grpc.StatusCode.NOT_FOUND, "service name unknown")
        return HealthCheckResponse(status=self._statuses[request.service])

    async def Watch(self, request, context):
        if len(request.service) > MAX_SERVICE_NAME_CHARS:
            await context.abort(grpc.StatusCode.INTERNAL, "could not parse request")
        updates: asyncio.Queue = asyncio.Queue()  # new statuses; None once the server stops
        self._watchers.add(updates)
        try:
            status = self._statuses.get(request.service, SERVICE_UNKNOWN)
            while status is not None:
                yield HealthCheckResponse(status=status)
                status = await updates.get()
        finally:
            self._watchers.discard(updates)
        await context.abort(grpc.StatusCode.CANCELLED, SHUTDOWN_MESSAGE)

    def shutdown(self) -> None:
        """As gRPC's ``Shutdown``: everything NOT_SERVING, sent to every watcher, whose stream then ends."""
        self._statuses = dict.fromkeys(self._statuses, NOT_SERVING)
        for updates in self._watchers:
            updates.put_nowait(NOT_SERVING)
            updates.put_nowait(None)


def add_health_service(server: grpc.aio.Server, health: HealthService) -> None:
    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(health.Check, request_deserializer=HealthCheckRequest.FromString,
                                                     response_serializer=HealthCheckResponse.SerializeToString),
        "Watch": grpc.unary_stream_rpc_method_handler(health.Watch, request_deserializer=HealthCheckRequest.FromString,
                                                      response_serializer=HealthCheckResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
