"""The orders actions of the envelope protocol on /ws: ack -> data -> event, like the others.

    get_order     {"id"}             -> {"type":"order","data": order or null}   event order.viewed
    list_orders   {"limit"?}         -> {"type":"orders","data": [newest first]} event order.listed
    create_order  {"customer"}       -> {"type":"order","data": order}          event order.created
    change_status {"id","status"}    -> {"type":"order","data": order}   event order.status_changed

A change's event frame is the requester's reply and, with the same event_id, what the orders
channel, every /ws/orders client and the log see (events.OrderEvents).
"""

from __future__ import annotations

from typing import Any

from qakit_trio.domain import orders
from qakit_trio.domain.orders import OrderEvent
from qakit_trio.sessions.actions import Action, ActionContext
from qakit_trio.wire import protocol

LIST_DEFAULT = 5
LIST_MAX = 100


def _customer(payload: dict[str, Any]) -> str:
    try:
        return orders.validate_customer(payload.get("customer"))
    except ValueError as error:
        raise protocol.validation_error("customer", f"payload.customer: {error}") from None


def _status(payload: dict[str, Any]) -> orders.Status:
    try:
        return orders.parse_status(payload.get("status"))
    except ValueError as error:
        raise protocol.validation_error("status", f"payload.status: {error}") from None


async def get_order(ctx: ActionContext) -> None:
    order_id = protocol.require_int(ctx.payload, "id")
    order = await ctx.store.get(order_id)
    await ctx.reply(
        protocol.data("order", ctx.request_id, None if order is None else order.to_json())
    )
    await ctx.event("order.viewed", {"id": order_id})


async def list_orders(ctx: ActionContext) -> None:
    limit = protocol.require_int(
        ctx.payload, "limit", default=LIST_DEFAULT, minimum=1, maximum=LIST_MAX
    )
    found = await ctx.store.list(newest_first=True, limit=limit)
    await ctx.reply(protocol.data("orders", ctx.request_id, [o.to_json() for o in found]))
    await ctx.event("order.listed", {"limit": limit, "count": len(found)})


async def create_order(ctx: ActionContext) -> None:
    customer = _customer(ctx.payload)
    await _announce(ctx, await ctx.store.create(customer))


async def change_status(ctx: ActionContext) -> None:
    order_id = protocol.require_int(ctx.payload, "id")
    status = _status(ctx.payload)
    await _announce(ctx, await ctx.store.change_status(order_id, status))


async def _announce(ctx: ActionContext, event: OrderEvent) -> None:
    """The requester's data and event frames, then the same event everywhere else. The change
    is made: it is announced even if this client is already gone."""
    frame = ctx.order_events.frame(event, ctx.request_id)
    try:
        await ctx.reply(protocol.data("order", ctx.request_id, event.order.to_json()))
        await ctx.reply(frame)
    finally:
        ctx.order_events.publish(
            event, frame, {**ctx.fields, "source": "ws"}, requester=ctx.conn.id, sink=ctx.events
        )


def order_actions() -> dict[str, Action]:
    return {
        "get_order": get_order,
        "list_orders": list_orders,
        "create_order": create_order,
        "change_status": change_status,
    }
