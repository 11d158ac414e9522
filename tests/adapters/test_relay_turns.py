"""Which claimed event outbox rows a relay may send (adapters/outbox_claims.py `in_turn`): pure,
no database. A row goes only when no earlier unsent row of its order is elsewhere (held by
another relay, or newer than our LIMIT took), so one order's events reach Kafka in order however
many relays run."""

from __future__ import annotations

from qakit_trio.adapters.outbox_claims import Round, in_turn

ROWS = [(10, 1, "a"), (11, 2, "b"), (12, 1, "c"), (13, 3, "d")]  # (row id, order id, value)


def test_with_nothing_elsewhere_every_claimed_row_goes() -> None:
    assert in_turn(ROWS, {}) == ROWS


def test_an_earlier_row_elsewhere_holds_back_its_whole_order() -> None:
    assert in_turn(ROWS, {1: 5}) == [(11, 2, "b"), (13, 3, "d")]


def test_a_later_row_elsewhere_holds_back_only_what_comes_after_it() -> None:
    # order 1: rows 10 and 12 are ours, 11.5 is not (another relay took it between our two)
    assert in_turn([(10, 1, "a"), (12, 1, "c"), (20, 1, "e")], {1: 11}) == [(10, 1, "a")]
    # a newer row of the order, past our LIMIT, holds back nothing of ours
    assert in_turn(ROWS, {2: 99, 3: 14}) == ROWS


def test_a_round_that_claimed_more_than_it_sent_or_held_back_was_not_delivered() -> None:
    assert Round(claimed=4, relayed=0, held_back=0).undelivered
    assert not Round(claimed=4, relayed=3, held_back=1).undelivered
    assert not Round().undelivered
