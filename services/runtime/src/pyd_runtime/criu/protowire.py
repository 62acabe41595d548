"""Just enough of the protobuf wire format for CRIU's images and its RPC.

pycriu is not on PyPI and the protobuf runtime costs start-up time on every
`pyd-runc restore`, so the handful of CRIU messages pyd needs are encoded and
decoded here by field number (the numbers come from CRIU's images/*.proto).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

VARINT = 0
I64 = 1
LEN = 2
I32 = 5


class DecodeError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one varint at `pos`; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int, or a negative int32/int64 as 10 bytes (proto2 rules)."""
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for every field of a message.

    Varints and fixed-width numbers come back as int, length-delimited fields as bytes.
    """
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        value: int | bytes
        if wt == VARINT:
            value, pos = read_varint(buf, pos)
        elif wt == LEN:
            size, pos = read_varint(buf, pos)
            if pos + size > n:
                raise DecodeError("truncated length-delimited field")
            value = buf[pos : pos + size]
            pos += size
        elif wt == I64:
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wt == I32:
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wt}")
        if pos > n:
            raise DecodeError("truncated field")
        yield num, wt, value


def decode(buf: bytes) -> dict[int, list[int | bytes]]:
    """All fields of a message, by number (repeated fields keep their order)."""
    out: dict[int, list[int | bytes]] = {}
    for num, _wt, value in iter_fields(buf):
        out.setdefault(num, []).append(value)
    return out


def as_int32(value: int) -> int:
    """Reinterpret a decoded varint as a signed 32-bit int (proto int32)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class Message:
    """A message under construction: append fields in any order, then encode()."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def varint(self, num: int, value: int | bool | None) -> Message:
        if value is not None:
            self.parts.append(encode_varint(num << 3 | VARINT) + encode_varint(int(value)))
        return self

    def bytes_(self, num: int, value: bytes | None) -> Message:
        if value is not None:
            self.parts.append(encode_varint(num << 3 | LEN) + encode_varint(len(value)) + value)
        return self

    def string(self, num: int, value: str | None) -> Message:
        return self.bytes_(num, None if value is None else value.encode())

    def message(self, num: int, value: Message | None) -> Message:
        return self.bytes_(num, None if value is None else value.encode())

    def encode(self) -> bytes:
        return b"".join(self.parts)
