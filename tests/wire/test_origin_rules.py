"""The Host and Origin rules (qakit_trio/wire/origins.py), without a loop: what counts as the
stand's own origin, which Host names the default answers, and how QAKIT_ALLOWED_HOSTS reads."""

from __future__ import annotations

import pytest

from qakit_trio.config import DEFAULT_CORS_ORIGINS
from qakit_trio.wire.origins import (
    HostRule,
    OriginRule,
    canonical_host,
    origin_of,
    own_origin,
    parse_hosts,
    split_host,
)


@pytest.mark.parametrize(
    ("header", "parts"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost.:8002", ("localhost", 8002)),
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("[::1]:8002", ("[::1]", 8002)),
        ("[0:0:0:0:0:0:0:1]", ("[::1]", None)),
        ("qa_websocket:8002", ("qa_websocket", 8002)),
        ("::1", None),  # IPv6 without brackets is not a Host
        ("localhost:99999", None),
        ("localhost:\uff18\uff10", None),  # ASCII digits only (fullwidth 80)
        ("user@localhost", None),
        ("a b", None),
        ("", None),
    ],
)
def test_a_host_header_splits_into_its_canonical_host_and_port(
    header: str, parts: tuple[str, int | None] | None
) -> None:
    assert split_host(header) == parts


def test_the_stands_own_origin_is_the_scheme_host_and_port_the_request_was_sent_to() -> None:
    assert own_origin("ws", "127.0.0.1:8002") == ("http", "127.0.0.1", 8002)
    assert own_origin("http", "LOCALHOST") == ("http", "localhost", 80)
    assert own_origin("wss", "stand.example") == ("https", "stand.example", 443)
    assert own_origin("http", None) is None
    assert (
        origin_of("http://localhost:80")
        == origin_of("http://localhost")
        == ("http", "localhost", 80)
    )
    for not_an_origin in ("null", "file://", "http://a/b", "ftp://a", "http://u@a", "a.example"):
        assert origin_of(not_an_origin) is None, not_an_origin


def test_an_origin_rule_lets_in_no_origin_its_own_pages_and_its_lists_only() -> None:
    rule = OriginRule.of("CORS_ALLOW_ORIGINS", DEFAULT_CORS_ORIGINS)
    assert rule.permits(None, "http", "127.0.0.1:8002")  # Postman, curl, Python
    assert rule.permits("http://127.0.0.1:8002", "http", "127.0.0.1:8002")
    assert rule.permits("http://localhost:8091", "ws", "127.0.0.1:8002")  # the drop-in origins
    assert not rule.permits("http://evil.example", "http", "127.0.0.1:8002")
    assert not rule.permits("http://127.0.0.1:9999", "http", "127.0.0.1:8002")  # another port
    assert not rule.permits("http://localhost:8002", "http", "127.0.0.1:8002")  # another host
    assert not rule.permits("https://127.0.0.1:8002", "http", "127.0.0.1:8002")  # another scheme
    assert not rule.permits("null", "http", "127.0.0.1:8002")
    assert not rule.permits("http://127.0.0.1:8002", "http", None)  # no Host: no own origin
    both_ports = frozenset({8002, 8000})  # the stand's pages on its other port are its own
    assert rule.permits("http://127.0.0.1:8000", "ws", "127.0.0.1:8002", both_ports)
    assert not rule.permits("http://127.0.0.1:9999", "ws", "127.0.0.1:8002", both_ports)
    assert not rule.permits("http://localhost:8000", "ws", "127.0.0.1:8002", both_ports)
    own_only = OriginRule()
    assert own_only.permits("http://[::1]:8002", "ws", "[::1]:8002")
    assert not own_only.permits("http://localhost:8091", "ws", "127.0.0.1:8002")
    widened = OriginRule.of("", ("http://localhost:3000",), ("*",))
    assert widened.any_origin
    assert widened.permits("http://evil.example", "ws", "localhost")


def test_the_default_hosts_are_localhost_the_binds_and_the_host_name() -> None:
    rule = HostRule.of(None, ["127.0.0.1:8002", "192.168.1.5:8000"], "Teacher-PC")
    for host in (
        "localhost",
        "localhost:8002",
        "127.0.0.1:8000",
        "[::1]:8002",
        "192.168.1.5:8000",
        "teacher-pc:8002",
        "teacher-pc.",
    ):
        assert rule.permits(host), host
    for host in ("attacker.example", "attacker.example:8002", "10.0.0.7:8002", "localhost:x"):
        assert not rule.permits(host), host
    assert rule.permits(None)  # no Host: not a browser
    assert rule.permits("")  # an empty one, as a load balancer's health check sends: not either
    assert rule.permits("10.0.0.7:8002", arrived_on="10.0.0.7")  # the address it came in on


def test_listening_on_every_interface_lets_in_any_address_but_not_any_name() -> None:
    rule = HostRule.of(None, ["0.0.0.0:8002", "[::]:8000"], "stand")
    assert rule.permits("192.168.1.20:8002")
    assert rule.permits("[fe80::1]:8000")
    assert not rule.permits("attacker.example:8002")


def test_qakit_allowed_hosts_replaces_the_default_and_star_turns_it_off() -> None:
    rule = HostRule.of(("stand.example",), ["0.0.0.0:8002"], "stand")
    assert rule.permits("STAND.example:8002")
    assert not rule.permits("localhost:8002")
    assert not rule.permits("10.0.0.7", arrived_on="10.0.0.7")
    assert HostRule.of(("*",), [], "stand").permits("attacker.example")


def test_allowed_hosts_are_read_strictly() -> None:
    assert parse_hosts("Stand.Example, ::1, [0::1], 10.0.0.1, qa_websocket") == (
        "stand.example",
        "[::1]",
        "10.0.0.1",
        "qa_websocket",
    )
    assert parse_hosts("a, *") == ("*",)
    with pytest.raises(ValueError, match="without its port"):
        parse_hosts("localhost:8002")
    with pytest.raises(ValueError, match="not a host name"):
        parse_hosts("http://localhost")
    with pytest.raises(ValueError, match="at least one"):
        parse_hosts(" , ")
    assert canonical_host("[::FFFF:127.0.0.1]") == "[::ffff:7f00:1]"
