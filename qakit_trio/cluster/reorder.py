"""The lab's cross_instance_reorder (lab/bugs.py), at the bus's delivery (cluster.py): a
publication of another instance is held back and delivered after the next one of its channel,
so a subscriber sees offsets 2, 1, 4, 3; one held alone goes out after HOLD seconds. At most
one publication per channel is held. No request passes here: the stand's switch, not a
trainee's."""

from __future__ import annotations

from collections.abc import Callable

import trio

from qakit_trio.wire.framing import Frame

# How long a publication waits for the next one to overtake it: long enough for a publisher's
# next broadcast, short enough that a trainee's test never hangs.
HOLD = 1.0

Publish = Callable[[str, Frame], object]


class Reorder:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish  # the hub's fan-out to this instance's subscribers
        self._held: dict[str, tuple[Frame, float]] = {}  # channel -> (held, trio time)

    def holding(self) -> bool:
        return bool(self._held)

    def deliver(self, channel: str, item: Frame, *, on: bool) -> None:
        """`item` of another instance: held (`on`, nothing held in its channel), or delivered
        before the one held."""
        held = self._held.pop(channel, None)
        if held is None and on:
            self._held[channel] = (item, trio.current_time())
            return
        self._publish(channel, item)
        if held is not None:
            self._publish(channel, held[0])

    def flush(self) -> None:
        """What has waited HOLD seconds goes out (after each fetch of the bus)."""
        if not self._held:
            return
        now = trio.current_time()
        for channel, (item, since) in list(self._held.items()):
            if now - since >= HOLD:
                del self._held[channel]
                self._publish(channel, item)

    def clear(self) -> None:
        self._held.clear()
