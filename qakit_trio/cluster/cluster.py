"""The cluster (QAKIT_CLUSTER=kafka): this instance's side of the bus.

    service nursery
    └── Cluster.run
        ├── KafkaBus.run        the topic in and out (bus.py); `deliver` is called for every
        │                       record, in the topic's order, by this one task
        └── _beat               a heartbeat every QAKIT_CLUSTER_HEARTBEAT s; the dead swept

Every publication goes through the bus, this instance's own too: `publish` queues a record and
waits (at most QAKIT_KAFKA_TIMEOUT) until it comes back; `deliver` then gives it its offset
(the record's Kafka offset plus 1), keeps it in the channel's history and fans it out to this
instance's subscribers, the publisher among them: so every subscriber of every instance gets
the channel's publications in one order, the topic's. The publisher's reader waits for its
record, so a publisher is slowed to the bus's round trip; it is slowed further by its own
instance's congested subscribers (flow control, hub.py), never by another instance's (those
are evicted by their own instance's slow-consumer policy).

Order events and join/leave go the same way without waiting. Presence: each instance's
heartbeat lists its members (members.py keeps the view); a `presence` request, `/stats` and
the classroom answer for every live instance. `delivered` counts this instance's subscribers
that got the frame plus the other instances' subscribers of the channel as last heard.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from qakit_trio import logs
from qakit_trio.cluster.bus import Consumed, KafkaBus, bus_epoch
from qakit_trio.cluster.members import RemoteMember, RemoteView
from qakit_trio.cluster.reorder import Reorder
from qakit_trio.errors import BusUnavailable, ErrorCode, ProtocolError
from qakit_trio.lab.bugs import Bugs
from qakit_trio.wire import bus, protocol, stamps
from qakit_trio.wire.channels import Since
from qakit_trio.wire.framing import Frame
from qakit_trio.ws.hub import Hub, Member

log = logging.getLogger(__name__)

LEGACY_CHANNEL = "orders"  # the one channel of the /ws/orders hub (pipeline/events.py)
# The largest record a publication may make: below Kafka's default limit of a message (1 MB,
# the broker's message.max.bytes and aiokafka's max_request_size); QAKIT_MAX_MESSAGE_SIZE
# allows a 1 MiB frame, which the bus refuses with a validation_error (docs/cluster.md).
RECORD_MAX = 900 * 1024
# A heartbeat lists members up to BEAT_BYTES of JSON (wire/bus.py: it counts them all); past
# it, `presence` lists the first of another instance's members only (docs/cluster.md).
BEAT_BYTES = 512 * 1024
# Sweeps for dead instances per heartbeat: one dies, its members leave within DEAD_AFTER
# heartbeats plus a quarter (members.py), plus the bus's round trip.
SWEEPS = 4


@dataclass(eq=False, slots=True)
class _Waiter:
    """A publisher waiting for its record to come back through the bus."""

    done: trio.Event = field(default_factory=trio.Event)
    delivered: int = 0
    congested: list[Member] = field(default_factory=list)


class Cluster:
    def __init__(
        self,
        instance_id: str,
        bootstrap: str,
        topic: str,
        *,
        hub: Hub,
        legacy_hub: Hub,
        orders_channel: str,
        heartbeat: float,
        timeout: float,
        bugs: Bugs | None = None,
    ) -> None:
        self.instance_id = instance_id
        self._bugs = bugs or Bugs()  # the stand's switches: cross_instance_reorder is read here
        self._reorder = Reorder(hub.publish)  # the lab's cross_instance_reorder (reorder.py)
        self.bus = KafkaBus(bootstrap, topic, timeout=timeout)
        self.bus.farewell = (bus.BEAT_KEY, bus.encode(bus.goodbye(instance_id)))
        self.epoch = bus_epoch(topic)
        self.view = RemoteView(heartbeat)
        self.heartbeat = heartbeat
        self.timeout = timeout
        self._hub, self._legacy_hub, self._orders_channel = hub, legacy_hub, orders_channel
        self._ids = itertools.count(1)
        self._waiting: dict[str, _Waiter] = {}
        self.refused = 0  # publications the bus could not take or carry in time
        self.skipped = 0  # records that are not ours, or that failed (logged)
        self.nonce = secrets.token_hex(4)  # this process: a restart under the same id differs
        self.bus_time = 0.0  # the newest record timestamp read: the bus's clock (members.py)
        self._bus_time_read = 0.0  # trio time it was read
        self._started_at = time.time()  # no instance is judged dead before we read our beat
        self._fetched = trio.Event()  # set (and replaced) after every fetch of the bus
        self.bus.reset = self._topic_reset
        hub.on_presence = self._presence_changed
        # the /ws history takes its epoch and a new channel's base from the bus (bus.py)
        hub.history.follow(lambda: self.epoch, self._bus_position)

    def _bus_position(self) -> int:
        bus_ = self.bus
        return bus_.known_from if bus_.position is None else bus_.position

    # --- for the doors ----------------------------------------------------------------------

    async def publish(
        self, channel: str, frame: protocol.Message, *, numbered: bool, local: bool = False
    ) -> tuple[int, list[Member]]:
        """Publish `frame` to `channel` on every instance and wait until this instance has
        delivered it; how many got it, and the local members it left congested. `numbered`:
        it gets an offset and is kept (the envelope's /ws); `local`: the lab's
        local_only_broadcast (the other instances ignore it)."""
        publish_id = f"{self.instance_id}:{self.nonce}:{next(self._ids)}"
        record = bus.publication(self.instance_id, channel, frame, publish_id, local=local)
        if numbered:
            record["n"] = True
        value = bus.encode(record)
        if len(value) > RECORD_MAX:
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR,
                f"a publication of {len(value)} bytes is more than the cluster bus carries "
                f"({RECORD_MAX} bytes: Kafka's default limit of a record, with room to spare)",
                limit=RECORD_MAX,
            )
        waiter = self._waiting[publish_id] = _Waiter()
        try:
            if not self.bus.send_nowait(channel, value, publish_id):
                raise BusUnavailable("the cluster bus is full: Kafka does not keep up")
            with trio.move_on_after(self.timeout):
                await waiter.done.wait()
            if not waiter.done.is_set():
                self.bus.abandon(publish_id)  # not sent yet: never (already sent: unknown)
                raise BusUnavailable(
                    f"the cluster bus did not carry the publication within {self.timeout} s"
                )
        except BusUnavailable:
            self.refused += 1
            raise
        finally:
            del self._waiting[publish_id]
        return waiter.delivered, waiter.congested

    def publish_order(
        self,
        frame: protocol.Message,
        legacy_text: str,
        requester: str | None,
        legacy_skip: str | None,
    ) -> None:
        """An order event for the orders channel and /ws/orders of every instance (no wait)."""
        record = bus.order_event(
            self.instance_id, self._orders_channel, frame, legacy_text, requester, legacy_skip
        )
        if not self.bus.send_nowait(self._orders_channel, bus.encode(record)):
            self.refused += 1
            log.warning("cluster bus full: an order event not shown", extra={"fields": {}})

    async def reach(self, since: Since) -> None:
        """A client's position that another instance gave it, ahead of where this instance has
        read the bus: wait (at most the bus's timeout) until it has read that far, so the
        recovery finds what the client missed (a reconnect through a balancer)."""
        if since.epoch != self.epoch:
            return
        with trio.move_on_after(self.timeout):
            while (self.bus.position or 0) < since.offset:
                await self._fetched.wait()

    def clients(self, channel: str) -> list[dict[str, str]]:
        return self.view.clients(channel)

    def remote_members(self) -> list[RemoteMember]:
        return self.view.members()

    def instances(self) -> dict[str, dict[str, Any]]:
        return self.view.instances(self.bus_now())

    def health(self) -> dict[str, Any]:
        return {
            "instance": self.instance_id,
            "bus": self.bus.health(),
            "epoch": self.epoch,
            "others": self.instances(),
            "refused": self.refused,
            "skipped": self.skipped,
        }

    # --- the tasks --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.bus.run, self.deliver, self.fetched)
            nursery.start_soon(self._beat, name="cluster: heartbeat")
            task_status.started()

    async def _beat(self) -> None:
        """A heartbeat every `heartbeat` s, and the dead swept SWEEPS times as often; none once
        the server is closing (the `bye` at the bus's shutdown tells the others)."""
        for tick in itertools.count():
            if self._hub.closing is not None:
                return
            if tick % SWEEPS == 0:
                members = self._members()
                self._send(
                    bus.BEAT_KEY,
                    bus.heartbeat(
                        self.instance_id, self.nonce, members, time.time(), budget=BEAT_BYTES
                    ),
                )
            if self.bus_time >= self._started_at:  # we have read our own first heartbeat
                for instance in self.view.dead(self.bus_now()):
                    self._gone(instance, "no heartbeat")
            await trio.sleep(self.heartbeat / SWEEPS)

    def bus_now(self) -> float:
        """The bus's clock now: the newest record's timestamp, plus the time since it was read
        while this instance is not behind in reading (a quiet bus still ticks)."""
        if self.bus.lagging or self.bus.catching_up:
            return self.bus_time
        return self.bus_time + max(0.0, trio.current_time() - self._bus_time_read)

    def _members(self) -> list[bus.BusMember]:
        now = trio.current_time()
        return [
            bus.BusMember(
                m.connection_id,
                m.user,
                tuple(m.channels),
                round(max(0.0, now - m.last_heard), 1),
                hub.name,
            )
            for hub in (self._hub, self._legacy_hub)
            for m in hub.members()
        ]

    def _send(self, key: str, record: dict[str, Any]) -> None:
        if not self.bus.send_nowait(key, bus.encode(record)):
            self.refused += 1

    def _presence_changed(self, kind: str, member: Member, channel: str) -> None:
        """A local member joined or left a channel: the other instances' watchers hear it."""
        self._send(
            channel,
            bus.presence_change(kind, self.instance_id, channel, member.connection_id, member.user),
        )

    def _gone(self, instance: str, why: str) -> None:
        departures = self.view.drop(instance)
        self._tell("leave", departures)
        logs.info(log, "cluster: instance gone", instance=instance, why=why, left=len(departures))

    def _tell(self, kind: str, changes: list[tuple[str, str | None, str]]) -> None:
        for connection_id, user, channel in changes:
            self._hub.presence.tell_remote(self._hub, kind, channel, connection_id, user)

    def _topic_reset(self, position: int) -> None:
        """The bus topic was deleted or emptied (bus.py): nothing kept can be trusted, and no
        position from before can be recovered on this instance."""
        history = self._hub.history
        history.floor = max(history.floor, (self.bus.position or 0) + 1)
        history.reset()
        self._reorder.clear()

    # --- the bus's records, in order -------------------------------------------------------

    def deliver(self, consumed: Consumed) -> None:
        """One record of the bus. Never raises: a record that is not ours (anybody who can
        reach Kafka can write to the topic), or that fails, is logged and skipped."""
        if consumed.wall > self.bus_time:
            self.bus_time, self._bus_time_read = consumed.wall, trio.current_time()
        if (
            consumed.key == bus.BEAT_KEY
            and self.bus.catching_up
            and time.time() - consumed.wall > self.view.dead_after
        ):
            return  # a heartbeat of long ago, read back at start: not even decoded
        try:
            self._record(bus.decode(consumed.value), consumed)
        except Exception as error:  # a record must not stop the bus (Cancelled passes)
            self.skipped += 1
            log.warning(
                "cluster bus: a record skipped",
                extra={
                    "fields": {
                        "offset": consumed.offset,
                        "why": f"{type(error).__name__}: {error}",
                    }
                },
            )

    def _record(self, record: dict[str, Any], consumed: Consumed) -> None:
        kind, instance = record["k"], record["i"]
        mine = instance == self.instance_id and record.get("x", self.nonce) == self.nonce
        if kind == "pub":
            self._publication(record, consumed, mine)
        elif kind == "ord":
            self._order_event(record, mine)
        elif instance == self.instance_id:
            if kind == "beat" and record.get("x") != self.nonce:
                log.warning(  # two processes under one QAKIT_INSTANCE_ID
                    "cluster bus: another process uses this instance id",
                    extra={"fields": {"instance": instance}},
                )
        elif kind == "beat":
            departures, arrivals = self.view.beat(
                instance,
                str(record.get("x", "")),
                bus.members_of(record),
                consumed.wall,
                total=record.get("n"),
                legacy=record.get("lg"),
                counts=_counts(record.get("cc")),
                partial=bool(record.get("more")),
            )
            self._tell("leave", departures)
            self._tell("join", arrivals)
        elif kind == "bye":
            self._gone(instance, "stopped")
        else:  # join, leave
            channel, connection_id = record["c"], str(record.get("m"))
            user = record.get("u")
            changed = (
                self.view.join(instance, channel, connection_id, user, consumed.wall)
                if kind == "join"
                else self.view.leave(instance, channel, connection_id)
            )
            if changed:
                self._hub.presence.tell_remote(self._hub, kind, channel, connection_id, user)

    def _publication(self, record: dict[str, Any], consumed: Consumed, mine: bool) -> None:
        if record.get("lo") and not mine:
            return  # the lab's local_only_broadcast
        channel, frame = record["c"], record["f"]
        frame["ts"] = stamps.frame_ts()  # delivered now: a connection's `ts` never goes back
        if record.get("n"):
            age = max(0.0, time.time() - consumed.wall)  # the history's TTL counts from then
            item = self._hub.history.append(
                channel, frame, consumed.offset + 1, trio.current_time() - age
            )
        else:
            item = Frame.of(protocol.encode(frame))
        waiter = self._waiting.get(record.get("p") or "") if mine else None
        congested = None if waiter is None else waiter.congested
        on = self._bugs.cross_instance_reorder and not self.bus.catching_up
        if not mine and record.get("n") and (on or self._reorder.holding()):
            self._reorder.deliver(channel, item, on=on)  # the lab's cross_instance_reorder
            return
        delivered = self._hub.publish(channel, item, congested=congested)
        if waiter is not None:
            waiter.delivered = delivered + self.view.count(channel)
            waiter.done.set()

    def fetched(self) -> None:
        """After each fetch of the bus: who waits for a position hears, and what
        cross_instance_reorder has held long enough goes out."""
        self._fetched.set()
        self._fetched = trio.Event()
        self._reorder.flush()

    def _order_event(self, record: dict[str, Any], mine: bool) -> None:
        frame = record["f"]
        frame["ts"] = stamps.frame_ts()
        self._hub.publish(
            record["c"],
            Frame.of(protocol.encode(frame)),
            skip=record.get("s") if mine else None,
        )
        legacy_text = record.get("l")
        if isinstance(legacy_text, str):
            self._legacy_hub.publish(
                LEGACY_CHANNEL, Frame.of(legacy_text), skip=record.get("ls") if mine else None
            )


def _counts(value: object) -> dict[str, int] | None:
    """A heartbeat's channel counts (`cc`), the entries that are not counts left out."""
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
