"""Request checks every pyd daemon applies at its gRPC edge, before a servicer runs.

What no handler should have to think about is refused here with INVALID_ARGUMENT:

- a request that does not parse as its message type (gRPC's default answer is
  INTERNAL, which blames the server for the client's bytes);
- a field sent with the wrong wire type (protobuf keeps it as an unknown field and
  the handler would see the field's default instead: an empty name, a zero limit);
- a string holding a NUL byte (no path, argument or name on Linux can hold one);
- a string longer than `MAX_STRING` (the kernel's limit for one argument or
  environment string, MAX_ARG_STRLEN: nothing longer can be used by a container);

then each daemon's own rules for a method run (`Rule`s keyed by the full method name,
declared in the daemon's validation module). Error messages never echo a long value:
a status message travels in a header, which gRPC caps at 16 KiB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from pyd_proto.errdefs import InvalidArgument, PydError

MAX_STRING = 128 << 10
SHOWN = 64  # characters of a rejected value repeated in an error

Rule = Callable[[Any], None]


def shown(value: str) -> str:
    """`value` as an error message may quote it: repr, cut to SHOWN characters."""
    return repr(value) if len(value) <= SHOWN else repr(value[:SHOWN]) + "..."


def check_string(name: str, value: str) -> None:
    if len(value) > MAX_STRING:
        raise InvalidArgument(f"{name}: {len(value)} characters is longer than the limit "
                              f"of {MAX_STRING}")
    if "\0" in value:
        raise InvalidArgument(f"{name}: {shown(value)} holds a NUL byte")


def check_message(msg: Message, prefix: str = "") -> None:
    """The generic checks on `msg` and every message inside it."""
    desc = msg.DESCRIPTOR
    unknown = unknown_fields.UnknownFieldSet(msg)
    if len(unknown):
        for uf in (unknown[i] for i in range(len(unknown))):
            declared = desc.fields_by_number.get(uf.field_number)
            if declared is not None:
                raise InvalidArgument(f"{prefix}{declared.name}: wrong type "
                                      f"(wire type {uf.wire_type})")
    for field, value in msg.ListFields():
        name = prefix + field.name
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                value_field = entry.fields_by_name["value"]
                for k, v in value.items():
                    if isinstance(k, str):
                        check_string(f"{name} key", k)
                    if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                        check_message(v, f"{name}[{shown(str(k))}].")
                    elif isinstance(v, str):
                        check_string(f"{name}[{shown(str(k))}]", v)
            elif field.is_repeated:
                for i, item in enumerate(value):
                    check_message(item, f"{name}[{i}].")
            else:
                check_message(value, name + ".")
        elif field.type == FieldDescriptor.TYPE_STRING:
            for item in (value if field.is_repeated else (value,)):
                check_string(name, item)


class _Malformed:
    """Stands in for a request whose bytes did not parse; the handler wrapper refuses it."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class RequestValidator(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """A server interceptor applying the generic checks and `rules` to every request
    (each message of a client stream as it arrives)."""

    def __init__(self, rules: Mapping[str, Rule] | None = None) -> None:
        self.rules = dict(rules or {})

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        rule = self.rules.get(details.method)
        parse = handler.request_deserializer

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data)
            except (DecodeError, ValueError, RuntimeError) as e:
                return _Malformed(e)

        def check(request: Any) -> None:
            if isinstance(request, _Malformed):
                raise InvalidArgument(f"malformed request: {request.error}")
            check_message(request)
            if rule is not None:
                rule(request)

        def checked_stream(requests: Iterator[Any], context: grpc.ServicerContext
                           ) -> Iterator[Any]:
            for request in requests:
                try:
                    check(request)
                except PydError as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                yield request

        def unary_in(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    check(request)
                except PydError as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                return fn(request, context)
            return call

        def stream_in(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return fn(checked_stream(requests, context), context)
            return call

        ser = handler.response_serializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                unary_in(handler.unary_unary), deserialize, ser)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                unary_in(handler.unary_stream), deserialize, ser)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                stream_in(handler.stream_unary), deserialize, ser)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                stream_in(handler.stream_stream), deserialize, ser)
        return handler
