"""Type URLs of `Any` values as containerd writes them (github.com/containerd/typeurl).

containerd marshals a message as an `Any` whose type URL is the message's bare
full name (`containerd.events.TaskExit`), not protobuf's
`type.googleapis.com/<name>`; upstream clients built on typeurl v1 (`ctr` 1.6)
resolve only the bare name. Python's `Any.Unpack` wants the slash, so readers
here use `unmarshal`, which takes either form.
"""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.message import Message

PREFIX = "type.googleapis.com/"


def _full_name(message: Message) -> str:
    return message.DESCRIPTOR.full_name


def name(value: any_pb2.Any) -> str:
    """The message name a type URL stands for (whatever its prefix)."""
    return value.type_url.rsplit("/", 1)[-1]


def marshal(message: Message) -> any_pb2.Any:
    """`message` as an `Any` with containerd's type URL (its bare full name)."""
    return any_pb2.Any(type_url=_full_name(message), value=message.SerializeToString())


def is_type(value: any_pb2.Any, message: Message) -> bool:
    return name(value) == _full_name(message)


def unmarshal(value: any_pb2.Any, message: Message) -> bool:
    """Fill `message` from `value` if it holds that type (bare or prefixed URL)."""
    if not is_type(value, message):
        return False
    message.ParseFromString(value.value)
    return True
