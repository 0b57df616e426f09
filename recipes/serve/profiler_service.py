"""TensorFlow's ``ProfilerService`` on the gRPC port, as TF Serving registers it, so that
``tf.profiler.experimental.client.trace("127.0.0.1:8500", logdir, 2000)`` and TensorBoard's
"Capture profile" collect a trace of this server while it serves.

    ProfilerService: Profile (Terminate, Monitor and the continuous-profiling calls answer UNIMPLEMENTED:
                     TF's clients for TF Serving use only Profile, and TF's own Monitor is unimplemented)

``Profile`` does what TensorFlow's ``ProfilerServiceImpl::Profile`` does
(``xla/tsl/profiler/rpc/profiler_service_impl.cc``): it profiles this process for
``opts.duration_ms`` (after ``opts.start_timestamp_ns``, the client's ``delay_ms``), then writes
the XSpace to ``repository_root/session_id/host_name.xplane.pb``, which for the official client is
``logdir/plugins/profile/<session>/<host>_<port>.xplane.pb``, where TensorBoard's profile plugin
reads it; with ``emit_xspace`` it is returned in the response instead. ``empty_trace`` says that
nothing was recorded. One profiling session runs at a time in a process: a call meanwhile gets
INTERNAL ``Another profiling session active.``, as from TensorFlow; the official client retries,
then raises ``UnavailableError``. With ``--workers N`` a call reaches one of the processes, which
profiles itself.

The request names a folder and the server writes there, as TensorFlow's server does: the gRPC port,
like TF Serving's, is meant for trusted clients only.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorflow.tsl.profiler.protobuf import profiler_options_pb2, xplane_pb2

log = logging.getLogger("keras_recipes.serve")

SERVICE_NAME = "tensorflow.ProfilerService"
SESSION_CONTENTION = "Another profiling session active."  # tsl's kProfilerLockContention
OVERRIDE_HOSTNAME = "override_hostname"

_FIELD = descriptor_pb2.FieldDescriptorProto
# Field numbers from tsl/profiler/protobuf/profiler_service.proto (the wheel has its C++ header only).
# The request's fields this server does not read (max_events, tools, tool_options) stay unknown fields.
_MESSAGES = {
    "ProfileRequest": [("duration_ms", 1, _FIELD.TYPE_UINT64, None),
                       ("opts", 4, _FIELD.TYPE_MESSAGE, ".tensorflow.ProfileOptions"),
                       ("repository_root", 5, _FIELD.TYPE_STRING, None),
                       ("session_id", 6, _FIELD.TYPE_STRING, None),
                       ("host_name", 7, _FIELD.TYPE_STRING, None),
                       ("emit_xspace", 9, _FIELD.TYPE_BOOL, None)],
    "ProfileResponse": [("empty_trace", 7, _FIELD.TYPE_BOOL, None),
                        ("xspace", 8, _FIELD.TYPE_MESSAGE, ".tensorflow.profiler.XSpace")],
}


def _message_classes() -> dict:
    """The service's messages in a pool of their own, beside copies of the TF files they use, so that
    a ``profiler_service_pb2`` that a later TensorFlow ships cannot clash with them."""
    pool = descriptor_pool.DescriptorPool()
    for module in (profiler_options_pb2, xplane_pb2):
        imported = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(imported)
        pool.Add(imported)
    service = descriptor_pb2.FileDescriptorProto(
        name="tsl/profiler/protobuf/profiler_service.proto", package="tensorflow", syntax="proto3",
        dependency=[profiler_options_pb2.DESCRIPTOR.name, xplane_pb2.DESCRIPTOR.name])
    for name, fields in _MESSAGES.items():
        message = service.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=_FIELD.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
    pool.Add(service)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{name}"))
            for name in (*_MESSAGES, "profiler.XSpace")}


_CLASSES = _message_classes()
ProfileRequest, ProfileResponse, XSpace = (_CLASSES["ProfileRequest"], _CLASSES["ProfileResponse"],
                                           _CLASSES["profiler.XSpace"])


def _join_path(*parts: str) -> str:
    """``tsl::io::JoinPath``: the non-empty parts with one "/" between two (an absolute part does not start over)."""
    joined = ""
    for part in filter(None, parts):
        joined = f"{joined.rstrip('/')}/{part.lstrip('/')}" if joined else part
    return joined


def _host_name(request) -> str:
    """The file's name: ``opts.advanced_configuration["override_hostname"]`` if set, else ``host_name``."""
    configured = request.opts.advanced_configuration
    if OVERRIDE_HOSTNAME in configured and configured[OVERRIDE_HOSTNAME].string_value:
        return configured[OVERRIDE_HOSTNAME].string_value
    return request.host_name


def _profiler_options(opts) -> tf.profiler.experimental.ProfilerOptions:
    """The request's tracer levels; a version-0 request gets TF's defaults, as in ``ProfilerSession``.
    (TensorFlow 2.21's Python binding logs "... expects an i value" and keeps its defaults.)"""
    if not opts.version:
        return tf.profiler.experimental.ProfilerOptions()
    return tf.profiler.experimental.ProfilerOptions(host_tracer_level=opts.host_tracer_level,
                                                    python_tracer_level=opts.python_tracer_level,
                                                    device_tracer_level=opts.device_tracer_level)


def _duration_ms(request) -> int:
    return request.opts.duration_ms or request.duration_ms  # the latter: older clients set only the request's


def _is_empty(xspace) -> bool:
    """TF's ``IsEmpty(XSpace)``: no line of any plane has an event."""
    return not any(line.events for plane in xspace.planes for line in plane.lines)


def _save(request, serialized: bytes) -> None:
    """TF's ``SaveXSpace``: ``repository_root/session_id/host.xplane.pb``, ":" written as "_"."""
    folder = _join_path(request.repository_root, request.session_id)
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(_join_path(folder, f"{_host_name(request)}.xplane.pb".replace(":", "_")), "wb") as file:
        file.write(serialized)


def _profile(request, cancelled: threading.Event):
    """Blocking: profiles this process as the request asks and answers as TensorFlow does. ``None``
    when ``cancelled`` was set before the end (the caller has gone: nothing is kept)."""
    delay_seconds = max(0, request.opts.start_timestamp_ns - time.time_ns()) / 1e9
    duration_seconds = _duration_ms(request) / 1000
    if cancelled.wait(delay_seconds):
        return None
    with tempfile.TemporaryDirectory(prefix="keras-recipes-profile-") as logdir:
        tf.profiler.experimental.start(logdir, _profiler_options(request.opts))
        stopped_early = True
        try:
            stopped_early = cancelled.wait(duration_seconds)
        finally:
            tf.profiler.experimental.stop(save=not stopped_early)
        if stopped_early:
            return None
        # stop() exported the session as logdir/plugins/profile/<timestamp>/<host>.xplane.pb
        [exported] = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
        with open(exported, "rb") as file:
            serialized = file.read()
    xspace = XSpace.FromString(serialized)
    response = ProfileResponse(empty_trace=_is_empty(xspace))
    if request.emit_xspace:
        response.xspace.CopyFrom(xspace)
    else:
        _save(request, serialized)
    return response


class ProfilerService:
    """``Profile`` on a thread of its own, so that a trace neither blocks the event loop nor holds a
    worker thread that predicts need while it records them."""

    def __init__(self):
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="profiler")
        self._tracing = False

    async def Profile(self, request, context):
        if self._tracing:
            await context.abort(grpc.StatusCode.INTERNAL, SESSION_CONTENTION)
        self._tracing = True
        log.info("Profiling for %d ms (session %r)", _duration_ms(request), request.session_id)
        cancelled = threading.Event()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, _profile, request, cancelled)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        except tf.errors.AlreadyExistsError:  # a profiler that something else in this process started
            message = SESSION_CONTENTION
        except tf.errors.OpError as error:  # a folder it cannot write, say
            message = error.message
        except Exception as error:
            log.exception("gRPC Profile failed")
            message = f"internal server error ({type(error).__name__}); see the server log"
        finally:
            self._tracing = False
        await context.abort(grpc.StatusCode.INTERNAL, message)


def add_profiler_service(server: grpc.aio.Server) -> None:
    handlers = {"Profile": grpc.unary_unary_rpc_method_handler(
        ProfilerService().Profile, request_deserializer=ProfileRequest.FromString,
        response_serializer=ProfileResponse.SerializeToString)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
