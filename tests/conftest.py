"""Fixtures for tests that cross services: a whole stack in a private root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import Stack, private_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    """A started pyd stack (dockerd + its containerd) in temp dirs, own netns and cgroup
    parent; torn down completely after the test, pass or fail."""
    with private_stack() as s:
        yield s
