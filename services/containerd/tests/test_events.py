"""The event exchange: publish, filters (topic==, namespace==, topic~=), close."""

from __future__ import annotations

import pytest

from pyd_containerd.events.exchange import Exchange
from pyd_proto import typeurl
from pyd_proto.containerd.events import container_pb2, task_pb2
from pyd_proto.errdefs import InvalidArgument


def test_events_subscribe_filters_by_topic_and_namespace() -> None:
    ex = Exchange()
    exits = ex.subscribe(["topic==/tasks/exit"])
    moby = ex.subscribe(["namespace==moby"])
    tasks = ex.subscribe(['topic~="^/tasks/"'])
    both = ex.subscribe(["namespace==moby,topic==/tasks/exit"])
    ex.publish("default", "/tasks/exit", task_pb2.TaskExit(container_id="a", exit_status=3))
    ex.publish("moby", "/containers/create", container_pb2.ContainerCreate(id="b"))
    ex.publish("moby", "/tasks/exit", task_pb2.TaskExit(container_id="c"))

    def drain(sub):  # type: ignore[no-untyped-def]
        out = []
        while (env := sub.get(timeout=0)) is not None:
            out.append((env.namespace, env.topic))
        return out

    assert drain(exits) == [("default", "/tasks/exit"), ("moby", "/tasks/exit")]
    assert drain(moby) == [("moby", "/containers/create"), ("moby", "/tasks/exit")]
    assert drain(tasks) == [("default", "/tasks/exit"), ("moby", "/tasks/exit")]
    assert drain(both) == [("moby", "/tasks/exit")]


def test_events_envelope_carries_upstream_type_url() -> None:
    ex = Exchange()
    with ex.subscribe() as sub:
        ex.publish("default", "/tasks/exit", task_pb2.TaskExit(container_id="a", exit_status=3))
        env = sub.get(timeout=1)
    # upstream's typeurl writes the bare name; ctr 1.6 resolves nothing else
    assert env is not None and env.event.type_url == "containerd.events.TaskExit"
    msg = task_pb2.TaskExit()
    assert typeurl.unmarshal(env.event, msg) and msg.exit_status == 3
    assert env.timestamp.seconds > 0


def test_events_closed_subscription_ends_iteration() -> None:
    ex = Exchange()
    sub = ex.subscribe()
    ex.publish("default", "/x", task_pb2.TaskOOM(container_id="a"))
    sub.close()
    assert [e.topic for e in sub] == ["/x"]
    ex.publish("default", "/y", task_pb2.TaskOOM(container_id="a"))  # no subscriber left


def test_events_bad_topic_or_filter_rejected() -> None:
    ex = Exchange()
    with pytest.raises(InvalidArgument):
        ex.publish("default", "no-slash", task_pb2.TaskOOM())
    with pytest.raises(InvalidArgument):
        ex.subscribe(["topic~=("])
