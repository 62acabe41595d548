"""datetime ↔ google.protobuf.Timestamp for the servicers."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2


def to_pb(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts
