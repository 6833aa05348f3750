"""A per-process layer in front of the Redis catalogue cache: hits cost no round trip at all.

It is only used while this process listens to the invalidation channel. Every bump (shop.catalogue.cache)
increments a sequence number and publishes it with the store it concerns; the listener drops what the
message invalidates. A missed message (dropped connection, Redis flushed) shows as a sequence the
listener did not see, checked every POLL seconds, and empties the layer; entries also expire after
TTL seconds. A reader only keeps a page if no invalidation for its store arrived while it was built.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict

import structlog
from redis.exceptions import RedisError

from core.redis import get_redis

log = structlog.get_logger(__name__)

CHANNEL = "shop:cat:bump"
SEQ_KEY = "shop:cat:seq"
MAX_ENTRIES = 4096
TTL = 10.0
POLL = 0.5

Key = tuple[int | None, str]

_pages: OrderedDict[Key, tuple[float, bytes]] = OrderedDict()
_epochs: dict[int | None, int] = {}
_global_epoch = 0
_seq: int | None = None
_listening = False
_task: asyncio.Task[None] | None = None
_loop: asyncio.AbstractEventLoop | None = None


def token(store_id: int | None) -> tuple[int, int] | None:
    """Taken before reading Redis or PostgreSQL; None when the layer is off."""
    if not _listening:
        _ensure_listener()
        return None
    return _global_epoch, _epochs.get(store_id, 0)


def get(key: Key) -> bytes | None:
    if not _listening:
        return None
    found = _pages.get(key)
    if found is None:
        return None
    if time.monotonic() - found[0] > TTL:
        _pages.pop(key, None)
        return None
    return found[1]


def put(key: Key, body: bytes, taken: tuple[int, int] | None) -> None:
    if taken is None or not _listening or taken != (_global_epoch, _epochs.get(key[0], 0)):
        return  # an invalidation arrived while the page was built: it may be older than the change
    _pages[key] = (time.monotonic(), body)
    _pages.move_to_end(key)
    while len(_pages) > MAX_ENTRIES:
        _pages.popitem(last=False)


def forget(store_id: int | None = None, *, everything: bool = False) -> None:
    global _global_epoch
    if everything or store_id is None:
        _global_epoch += 1
        _pages.clear()
        return
    _epochs[store_id] = _epochs.get(store_id, 0) + 1
    for key in [k for k in _pages if k[0] == store_id]:
        _pages.pop(key, None)


def forget_local() -> None:
    """Empty this process's layer (tests that reset Redis and the database between cases call this)."""
    forget(everything=True)


def _ensure_listener() -> None:
    global _task, _loop
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if _task is not None and not _task.done() and _loop is loop:
        return
    _loop = loop
    _task = loop.create_task(_listen())


async def _listen() -> None:
    global _listening, _seq
    while True:
        pubsub = None
        try:
            redis = get_redis()
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(CHANNEL)
            _seq = int(await redis.get(SEQ_KEY) or 0)
            forget_local()
            _listening = True
            next_poll = time.monotonic() + POLL
            while True:
                message = await pubsub.get_message(timeout=POLL)
                if message is not None:
                    _apply(message["data"])
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + POLL
                    current = int(await redis.get(SEQ_KEY) or 0)
                    if current != _seq:  # a message was missed (or Redis was flushed)
                        forget_local()
                        _seq = current
        except asyncio.CancelledError:
            _listening = False
            raise
        except (RedisError, OSError, ValueError) as exc:
            if _listening:
                log.warning("catalogue_local_cache_off", error=type(exc).__name__)
            _listening = False
            forget_local()
            await asyncio.sleep(1.0)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _apply(data: bytes) -> None:
    global _seq
    seq_text, _, what = data.decode().partition(":")
    seq = int(seq_text)
    if _seq is not None and seq != _seq + 1:
        forget_local()  # a gap: something in between was missed
    else:
        forget(None if what == "all" else int(what))
    _seq = seq


async def stop() -> None:
    """Stop listening (app shutdown, tests)."""
    global _task, _listening
    _listening = False
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(BaseException):
            await _task
    _task = None
    forget_local()
