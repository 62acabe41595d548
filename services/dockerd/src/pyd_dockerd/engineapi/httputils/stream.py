"""Bridges between the API's event loop and the daemon core, which blocks (it calls
containerd over gRPC, waits on conditions, follows log files): core calls run in
threads of their own, blocking generators are iterated from the loop, and request
bodies are read from the core's side as plain iterators."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import json
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# How often a blocked producer looks whether its consumer went away.
_POLL = 0.5


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on a daemon thread of its own, awaited from the loop.

    Daemon threads, not an executor: a call that blocks (a stop with a long timeout,
    a wait) never holds dockerd's exit, and the request's log context goes along.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()
    ctx = contextvars.copy_context()

    def work() -> None:
        try:
            result = ctx.run(fn, *args, **kwargs)
        except BaseException as e:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, fut, False, e)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut, True, result)

    threading.Thread(target=work, daemon=True, name="engine-api-call").start()
    return await fut


# Requests that end only with their client or their stream (logs -f, attach, exec,
# wait, events): dockerd's stop cancels them at once rather than waiting for them.
_LONG_RUNNING: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def long_running() -> None:
    """Mark the current request as one of those."""
    task = asyncio.current_task()
    if task is not None:
        _LONG_RUNNING.add(task)


async def cancel_long_running(app: object) -> None:
    """aiohttp's on_shutdown: end every long-running request now."""
    for task in list(_LONG_RUNNING):
        task.cancel()


_ITEM, _END, _ERROR = 0, 1, 2


async def iterate(make: Callable[[threading.Event], Iterator[T]],
                  maxsize: int = 64) -> AsyncIterator[T]:
    """Items of the blocking generator `make(stop)`, produced on a thread of its own.

    `stop` is set when the consumer goes away (the client disconnected, the handler
    was cancelled), so the generator's own waits can end; the producer also stops
    putting items then.
    """
    long_running()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(maxsize)
    stop = threading.Event()
    ctx = contextvars.copy_context()

    def put(item: tuple[int, Any]) -> bool:
        try:
            fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        except RuntimeError:  # loop closed
            return False
        while True:
            try:
                fut.result(_POLL)
                return True
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    fut.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def produce() -> None:
        gen = make(stop)
        try:
            for item in gen:
                if stop.is_set() or not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as e:
            put((_ERROR, e))
        finally:
            with contextlib.suppress(Exception):
                gen.close()  # type: ignore[attr-defined]

    threading.Thread(target=lambda: ctx.run(produce), daemon=True,
                     name="engine-api-stream").start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()


def sync_chunks(read: Callable[[], Coroutine[Any, Any, bytes]],
                loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
    """A plain iterator over an async reader (`read()` returns b"" at the end), for the
    core's side of a request body or a hijacked connection; runs off the loop."""
    while True:
        try:
            data = asyncio.run_coroutine_threadsafe(read(), loop).result()
        except Exception:
            return
        if not data:
            return
        yield data


def json_line(doc: Any) -> bytes:
    """One message of a JSON stream (moby's json.Encoder: a newline after each)."""
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"
