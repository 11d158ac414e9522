"""The app's long-lived parts, and the service nursery their tasks live in.

    quart-trio lifespan nursery (app.nursery)
    └── service nursery (Services.run; started in before_serving, cancelled in after_serving)
        ├── log flusher      writes buffered JSON log lines out every 0.1 s (logs.py)
        ├── keepalive        pings every member of both hubs, drops the silent (keepalive.py)
        ├── slow-consumer watch  evicts members whose writes made no progress (keepalive.py)
        ├── order store      the Postgres adapter (postgres.py), restarted if it crashes;
        │                    the in-memory store has nothing to run
        ├── kafka publisher  the Kafka adapter (kafka.py), when KAFKA_BOOTSTRAP_SERVERS is set
        ├── event outbox relay  order events from PostgreSQL's event outbox (the
        │                    order_outbox table) to Kafka (order_relay.py), when both are on
        ├── classroom        assignments and findings (classroom/): loads them from their
        │                    tables (PostgreSQL with DATABASE_URL), then keeps them in memory
        │                    (QAKIT_CLUSTER=kafka: and follows what other instances write)
        ├── shared lab state QAKIT_CLUSTER=kafka: the stand-wide bugs and fault rules, every
        │                    instance's, in PostgreSQL (adapters/shared_state.py, lab/shared.py)
        ├── cluster bus      QAKIT_CLUSTER=kafka: channels, presence and order events through
        │                    Kafka (cluster/cluster.py)
        └── shutdown watch   one per hypercorn worker: waits for the server's "terminated"
                             event, then asks every connection to close with 1001

Every task runs under the supervisor (supervisor.py): a crash is logged, shown in /health
(`tasks`, status `degraded`) and restarted; none can take its siblings down.

Two hubs: `hub` holds the /ws channels, `legacy_hub` the /ws/orders clients (one channel).

The shutdown watch is started by the first WebSocket connection of a worker, because that is
where hypercorn's "terminated" event becomes visible to the app (hyper_ext.py). It works the
same whether the server was started by our CLI (signal -> shutdown trigger) or by `hypercorn`.
"""

from __future__ import annotations

import logging
from contextvars import Context, copy_context
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from qakit_trio import logs
from qakit_trio.adapters.kafka import KafkaPublisher, NoKafka, Publisher
from qakit_trio.adapters.kafka_spool import DiskSpool
from qakit_trio.classroom.classroom import Classroom
from qakit_trio.classroom.tables import MemoryTables, Tables
from qakit_trio.cluster.cluster import Cluster
from qakit_trio.config import Settings
from qakit_trio.domain.order_store import MemoryOrderStore, OrderStore
from qakit_trio.lab.bugs import Bugs
from qakit_trio.lab.fault_rules import FaultRules
from qakit_trio.lab.lab import Lab
from qakit_trio.lab.shared import SharedLab
from qakit_trio.logs import run_log_flusher
from qakit_trio.pipeline.events import EventSink, OrderEvents
from qakit_trio.pipeline.trail import EventTrail
from qakit_trio.request_metrics import Latency, RequestMetrics
from qakit_trio.sessions.deps import Deps
from qakit_trio.sessions.identity import Identities
from qakit_trio.supervisor import Supervisor
from qakit_trio.transport.base import ServerTerminated
from qakit_trio.wire import legacy
from qakit_trio.ws.channel_ops import ChannelOps
from qakit_trio.ws.history import HistoryLimits
from qakit_trio.ws.hub import STALL_GRACE, Hub
from qakit_trio.ws.keepalive import run_keepalive, run_slow_consumer_watch
from qakit_trio.ws.tap import Taps

if TYPE_CHECKING:
    from qakit_trio.adapters.order_relay import OrderRelay
    from qakit_trio.adapters.shared_state import SharedState

log = logging.getLogger(__name__)


def make_store(settings: Settings, kafka: Publisher) -> tuple[OrderStore, OrderRelay | None]:
    """The order store; with PostgreSQL and Kafka both on, also the relay of its event outbox."""
    if settings.reset_orders_on_start:
        log.warning(
            "RESET_ORDERS_ON_START: every order is deleted at start; ids start at 1",
            extra={"fields": {"store": "memory" if settings.database_url is None else "postgres"}},
        )
    if settings.database_url is None:
        return MemoryOrderStore(), None  # (empty at every start anyway)
    # psycopg is only loaded when it is used
    from qakit_trio.adapters.order_relay import OrderRelay
    from qakit_trio.adapters.postgres_orders import PostgresOrderStore

    store = PostgresOrderStore(
        settings.database_url,
        pool_size=settings.db_pool_size,
        timeout=settings.db_timeout,
        event_outbox=isinstance(kafka, KafkaPublisher),
        reset=settings.reset_orders_on_start,
    )
    if not isinstance(kafka, KafkaPublisher):
        return store, None
    return store, OrderRelay(store, kafka, settings.kafka_order_topic)


def make_tables(settings: Settings) -> Tables:
    """Where assignments and findings are kept: PostgreSQL with DATABASE_URL, else memory."""
    if settings.database_url is None:
        return MemoryTables()
    from qakit_trio.classroom.postgres_tables import PostgresTables  # (psycopg: when used)

    return PostgresTables(settings.database_url, timeout=settings.db_timeout)


def make_publisher(settings: Settings) -> Publisher:
    if settings.kafka_bootstrap is None:
        return NoKafka()
    spool = (
        None
        if settings.kafka_spool_dir is None
        else DiskSpool(Path(settings.kafka_spool_dir), settings.kafka_spool_bytes)
    )
    return KafkaPublisher(
        settings.kafka_bootstrap,
        buffer_size=settings.kafka_buffer,
        timeout=settings.kafka_timeout,
        flush_timeout=settings.kafka_flush_timeout,
        spool=spool,
    )


def make_shared_state(settings: Settings) -> SharedState | None:
    """With QAKIT_CLUSTER=kafka, the lab's stand-wide state in PostgreSQL, shared by every
    instance (adapters/shared_state.py; lab/shared.py says what is in it)."""
    if not settings.cluster or settings.database_url is None:
        return None
    from qakit_trio.adapters.shared_state import SharedState  # (psycopg: when used)

    return SharedState(
        settings.database_url, timeout=settings.db_timeout, instance=settings.instance_id
    )


def make_cluster(settings: Settings, hub: Hub, legacy_hub: Hub, bugs: Bugs) -> Cluster | None:
    """With QAKIT_CLUSTER=kafka, this instance's side of the bus; the /ws history then takes
    its epoch and offsets from the bus."""
    if not settings.cluster or settings.kafka_bootstrap is None:
        return None
    return Cluster(
        settings.instance_id,
        settings.kafka_bootstrap,
        settings.cluster_topic,
        hub=hub,
        legacy_hub=legacy_hub,
        orders_channel=settings.orders_channel,
        heartbeat=settings.cluster_heartbeat,
        timeout=settings.kafka_timeout,
        bugs=bugs,
    )


class Services:
    def __init__(self, settings: Settings, kafka: Publisher | None = None) -> None:
        self.settings = settings
        if settings.cluster:  # which instance wrote it: `service.node.name` in every line
            logs.name_node(settings.instance_id)
        grace = min(STALL_GRACE, settings.slow_consumer_timeout)
        self.taps = Taps()  # the inspector's taps on both hubs and their connections (tap.py)
        history = HistoryLimits(
            settings.history_size,
            settings.history_ttl,
            settings.history_bytes,
            settings.history_total_bytes,
        )
        # server-side latencies, to set beside a load test's (web/metrics.py)
        self.ack_latency, self.delivery_latency = Latency(), Latency()
        self.hub = Hub(
            grace, name="/ws", taps=self.taps, history=history, delivery=self.delivery_latency
        )
        # offsets, subscriptions, presence on /ws (none in the qa_kit profile: its frames
        # are the original's)
        self.channels = (
            None
            if settings.profile == "qa_kit"
            else ChannelOps(self.hub, settings.max_subscriptions)
        )
        self.legacy_hub = Hub(grace, name="/ws/orders", taps=self.taps)
        # the lab (lab/lab.py): its bugs (lab/bugs.py) and a teacher's fault rules (PUT
        # /lab/faults), put in front of a request by the pipeline's lab stage
        self.bugs = Bugs(settings.bugs)
        self.fault_rules = FaultRules()
        # the classroom (classroom/): bugs per trainee, which the lab reads, and findings
        # (QAKIT_CLUSTER=kafka: it follows what the other instances write to its tables)
        self.classroom = Classroom(
            make_tables(settings), follow=settings.cluster, instance=settings.instance_id
        )
        self.lab = Lab(self.bugs, self.fault_rules, self.hub, self.classroom.table)
        # QAKIT_CLUSTER=kafka: the stand-wide bugs and fault rules are every instance's
        self.shared = make_shared_state(settings)
        if self.shared is not None:
            self.lab.shared = SharedLab(self.shared, self.bugs, self.fault_rules)
        # requests by door, for /metrics (by `protocol` label; their actions: app.py)
        self.metrics = {
            "envelope": RequestMetrics("envelope"),
            "legacy": RequestMetrics("legacy", legacy.ACTIONS),
            "rest": RequestMetrics("rest"),
        }
        if settings.bugs:
            log.warning(
                "lab bugs are on: this stand has defects on purpose",
                extra={"fields": {"bugs": list(settings.bugs)}},
            )
        # `kafka`: a publisher of the caller's (the classroom's replay twins keep the records)
        self.kafka = make_publisher(settings) if kafka is None else kafka
        self.events = EventSink(
            self.kafka,
            settings.kafka_ws_topic,
            EventTrail() if settings.lab_pages else None,
        )
        self.store, self.relay = make_store(settings, self.kafka)
        self.order_events = OrderEvents(
            self.events,
            self.hub,
            self.legacy_hub,
            settings.orders_channel,
            publisher=self.kafka,
            order_topic=settings.kafka_order_topic,
            event_outbox_wake=None if self.relay is None else self.relay.wake,
        )
        # QAKIT_CLUSTER=kafka: channels, presence and order events through the bus (cluster/)
        self.cluster = make_cluster(settings, self.hub, self.legacy_hub, self.bugs)
        if self.cluster is not None:
            self.order_events.cluster = self.cluster
            if self.channels is not None:
                self.channels.remote = self.cluster.clients
        self.identities = Identities(settings)  # tokens and rate limits (QAKIT_AUTH)
        # what the doors and their actions use, and nothing else (sessions/deps.py)
        self.deps = Deps(
            settings=settings,
            hub=self.hub,
            legacy_hub=self.legacy_hub,
            store=self.store,
            events=self.events,
            order_events=self.order_events,
            lab=self.lab,
            metrics=self.metrics,
            identities=self.identities,
            channels=self.channels,
            ack_latency=self.ack_latency,
            cluster=self.cluster,
        )
        self.supervisor = Supervisor()
        # Set by our launcher (server.serve) when the shutdown starts: what tells clients 1001 on
        # the plain path, where hypercorn's own "terminated" event does not reach the app.
        self.stopping = trio.Event()
        self.urls: list[str] = []  # where it listens, once our launcher knows (the portal)
        self._nursery: trio.Nursery | None = None
        self._context: Context | None = None  # its own, for the tasks it starts later
        self._watched: list[ServerTerminated] = []  # the servers whose shutdown is watched

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        supervise = self.supervisor.supervise  # every task: restarted if it crashes
        settings = self.settings
        if (
            settings.kafka_bootstrap is not None
            and settings.database_url is None
            and settings.kafka_spool_dir is None
        ):
            log.warning(
                "kafka without a spool: during a long outage, events beyond "
                "QAKIT_KAFKA_BUFFER are dropped (set QAKIT_KAFKA_SPOOL_DIR to keep them)",
                extra={"fields": {"buffer": settings.kafka_buffer}},
            )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._context = copy_context()
            await nursery.start(supervise, "log flusher", run_log_flusher)
            await nursery.start(
                supervise,
                "keepalive",
                partial(run_keepalive, [self.hub, self.legacy_hub], self.settings.ping_interval),
            )
            await nursery.start(
                supervise,
                "slow-consumer watch",
                partial(
                    run_slow_consumer_watch,
                    [self.hub, self.legacy_hub],
                    self.settings.slow_consumer_timeout,
                ),
            )
            await nursery.start(supervise, "order store", self.store.run)
            await nursery.start(supervise, "kafka publisher", self.kafka.run)
            if self.relay is not None:
                await nursery.start(supervise, "event outbox relay", self.relay.run)
            await nursery.start(supervise, "classroom", self.classroom.run)
            if self.shared is not None:
                await nursery.start(supervise, "shared lab state", self.shared.run)
            if self.cluster is not None:
                await nursery.start(supervise, "cluster bus", self.cluster.run)
            logs.info(
                log, "services started", store=self.store.kind, kafka=self.settings.kafka_bootstrap
            )
            task_status.started()
            await trio.sleep_forever()  # the nursery stays open for watches started later

    def stop(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            self._nursery = None

    def health(self) -> dict[str, Any]:
        """`degraded` while a configured dependency is down or a service task is restarting
        after a crash (everything else keeps working)."""
        database, kafka = self.store.health(), self.kafka.health()
        if self.relay is not None:
            kafka["event_outbox"] = self.relay.health()
        down = (
            database["state"] != "up"
            or kafka["state"] not in ("up", "disabled")
            or not self.supervisor.healthy()
        )
        if self.cluster is not None:
            down = down or self.cluster.bus.state.current != "up"
        return {
            "status": "degraded" if down else "ok",
            "instance": self.settings.instance_id,
            **({} if self.cluster is None else {"cluster": self.cluster.health()}),
            **({} if self.shared is None else {"shared_lab_state": self.shared.health()}),
            "database": database,
            "kafka": kafka,
            "tasks": self.supervisor.health(),
            "logs": logs.health(),
        }

    def connections(self) -> int:
        return self.hub.total() + self.legacy_hub.total()

    def watch_server(self, terminated: ServerTerminated | None) -> None:
        """Close every connection with 1001 once this server (worker) starts shutting down."""
        if (
            terminated is None
            or any(watched is terminated for watched in self._watched)
            or self._nursery is None
        ):
            return
        self._watched.append(terminated)
        watches = len(self._watched)
        name = "shutdown watch" if watches == 1 else f"shutdown watch {watches}"
        # In the services' own context, not the connection's that asked (a task copies the
        # context it was started in: the watch kept that client's request, and with it every
        # object of its connection, for the server's lifetime)
        assert self._context is not None  # (set with the nursery)
        watch = partial(self._close_all_when, terminated)
        self._context.run(partial(self._nursery.start_soon, self.supervisor.supervise, name, watch))

    async def _close_all_when(
        self,
        terminated: ServerTerminated,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        await terminated.wait()
        logs.info(
            log,
            "server shutting down: closing every connection with 1001",
            connections=self.connections(),
        )
        self.hub.close_all()
        self.legacy_hub.close_all()
