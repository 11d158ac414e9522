"""What may differ between a recorded reply and a replayed one, and how the rest is compared.
Pure: no trio, no quart (tests/wire/test_session_match.py; the report: session_diff.py).

The rules, on every JSON frame (a frame that is not JSON is compared as it is):

- **ignored**: fields by name, at any depth (`ts`), or by their path from the frame, list
  indices left out (`data.status`). By default the ones that differ by nature, times and
  random ids: DEFAULT_IGNORED. `--ignore FIELD` adds one.
- **server request ids**: a request sent without `request_id` gets `srv-<connection_id>-<n>`;
  such ids are compared by `<n>` alone (the connection's id is new every time).
- **offsets**: a channel's `offset` is a position in its history, which a stand that kept
  running has moved on: offsets are compared by their shift per channel (the replay may begin
  at another offset, but they must advance alike: a gap or a repeat shows).
- **order ids** (`id`, `order_id`): a stand that kept its orders gives new ones new ids; each
  id of the recording must stand for one id of the replay, the same one throughout (the
  replayer sends later requests with the replay's ids: `IdMap.rewrite`).

`Rules.exact()` turns all of it off: frames must be byte-identical (a deterministic stand).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_IGNORED = (
    "ts",
    "event_id",
    "connection_id",
    "from",  # the sender's connection_id
    "created_at",
    "updated_at",
    "expires_at",
    "epoch",
)
ID_KEYS = ("id", "order_id")
SERVER_REQUEST_ID = re.compile(r"srv-[^-\s]+-([0-9]+)")
LIST_INDEX = re.compile(r"\[[0-9]+\]")
MISSING = object()  # a field one side has and the other has not


@dataclass(frozen=True)
class Rules:
    ignored: frozenset[str] = frozenset(DEFAULT_IGNORED)
    server_ids: bool = True
    offsets: bool = True
    order_ids: bool = True
    exact: bool = False  # byte for byte, nothing else

    @classmethod
    def with_ignored(cls, extra: tuple[str, ...] = ()) -> Rules:
        return cls(ignored=frozenset(DEFAULT_IGNORED) | frozenset(extra))

    @classmethod
    def byte_for_byte(cls) -> Rules:
        return cls(frozenset(), server_ids=False, offsets=False, order_ids=False, exact=True)

    def ignores(self, key: str, path: str) -> bool:
        """Whether the field `key`, at `path` (list indices in it or not), is left out."""
        return key in self.ignored or LIST_INDEX.sub("", path) in self.ignored


def parse(data: str | bytes) -> Any:
    """A frame's JSON value, or MISSING for a binary frame or text that is not JSON."""
    if isinstance(data, bytes):
        return MISSING
    try:
        return json.loads(data)
    except ValueError:
        return MISSING


def server_id(text: str) -> str:
    """`srv-<connection>-<n>` as `srv-*-<n>`; any other text as it is."""
    return SERVER_REQUEST_ID.sub(r"srv-*-\1", text) if text.startswith("srv-") else text


def masked(value: Any, rules: Rules, path: str = "") -> Any:
    """The value with what the rules set aside taken out: the key frames are aligned by."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if rules.ignores(key, inner):
                continue
            if _is_int(item) and (
                (rules.offsets and key == "offset") or (rules.order_ids and key in ID_KEYS)
            ):
                out[key] = f"<{key}>"
            else:
                out[key] = masked(item, rules, inner)
        return out
    if isinstance(value, list):
        return [masked(item, rules, path) for item in value]
    if isinstance(value, str) and rules.server_ids:
        return server_id(value)
    return value


def alignment_key(data: str | bytes, rules: Rules) -> str:
    if rules.exact:
        return repr(data)
    value = parse(data)
    if value is MISSING:
        return repr(data)
    return json.dumps(masked(value, rules), sort_keys=True)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class IdMap:
    """Recorded order id -> the replay's, learnt from replies of the same request."""

    forward: dict[int, int] = field(default_factory=dict)
    backward: dict[int, int] = field(default_factory=dict)

    def check(self, expected: int, got: int) -> str | None:
        """None if `got` may stand for `expected` (learning it), else why not."""
        known = self.forward.get(expected)
        if known is None and got not in self.backward:
            self.forward[expected], self.backward[got] = got, expected
            return None
        if known == got:
            return None
        if known is not None:
            return f"the replay numbered {expected} as {known} before"
        return f"{got} already stood for {self.backward[got]}"

    def learn(self, expected: Any, got: Any) -> None:
        """Pair the ids found at the same places of two replies (first pairing wins)."""
        if isinstance(expected, dict) and isinstance(got, dict):
            for key, item in expected.items():
                other = got.get(key, MISSING)
                if key in ID_KEYS and _is_int(item) and _is_int(other):
                    self.check(item, other)
                else:
                    self.learn(item, other)
        elif isinstance(expected, list) and isinstance(got, list):
            for item, other in zip(expected, got, strict=False):
                self.learn(item, other)

    def rewrite(self, data: str | bytes) -> str | bytes:
        """A client frame with the recording's order ids replaced by the replay's."""
        value = parse(data)
        if not self.forward or value is MISSING:
            return data
        changed = self._rewritten(value)
        if changed == value:
            return data
        return json.dumps(changed, ensure_ascii=False, separators=(",", ":"))

    def _rewritten(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: self.forward.get(item, item)
                if key in ID_KEYS and _is_int(item)
                else self._rewritten(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._rewritten(item) for item in value]
        return value


@dataclass
class Matcher:
    """Compares replies field by field under the rules, across a whole session (order ids and
    channel offsets are the stand's, not one connection's)."""

    rules: Rules
    ids: IdMap = field(default_factory=IdMap)
    shifts: dict[str, int] = field(default_factory=dict)  # channel -> replayed minus recorded

    def differences(self, expected: str | bytes, got: str | bytes) -> list[str]:
        """What differs between two replies, one line a field ([] if nothing)."""
        if self.rules.exact:
            if expected == got:
                return []
            if parse(expected) is not MISSING and parse(expected) == parse(got):
                return [f"the same JSON in other bytes: expected {show(expected)}, got {show(got)}"]
        want, have = parse(expected), parse(got)
        if want is MISSING or have is MISSING:
            return [] if expected == got else [f"expected {show(expected)}, got {show(got)}"]
        found: list[str] = []
        self._walk(want, have, "", "", found)
        return found

    def _walk(self, want: Any, have: Any, path: str, channel: str, found: list[str]) -> None:
        if isinstance(want, dict) and isinstance(have, dict):
            here = want.get("channel")
            channel = here if isinstance(here, str) else channel
            for key in [*want, *(key for key in have if key not in want)]:
                inner = f"{path}.{key}" if path else key
                if not self.rules.ignores(key, inner):
                    self._field(
                        key, want.get(key, MISSING), have.get(key, MISSING), inner, channel, found
                    )
            return
        if isinstance(want, list) and isinstance(have, list):
            for index in range(max(len(want), len(have))):
                item = want[index] if index < len(want) else MISSING
                other = have[index] if index < len(have) else MISSING
                self._walk(item, other, f"{path}[{index}]", channel, found)
            return
        if not _same(want, have, self.rules):
            found.append(f"{path or 'the frame'}: expected {show(want)}, got {show(have)}")

    def _field(
        self, key: str, want: Any, have: Any, path: str, channel: str, found: list[str]
    ) -> None:
        if _is_int(want) and _is_int(have):
            if key == "offset" and self.rules.offsets:
                shift = self.shifts.setdefault(channel, have - want)
                if have - want != shift:
                    moved = f" (the replay's offsets of {channel!r} run {shift:+d}: {want + shift})"
                    found.append(f"{path}: expected {want}{moved if shift else ''}, got {have}")
                return
            if key in ID_KEYS and self.rules.order_ids:
                why = self.ids.check(want, have)
                if why is not None:
                    found.append(f"{path}: expected {want}, got {have} ({why})")
                return
        self._walk(want, have, path, channel, found)


def _same(want: Any, have: Any, rules: Rules) -> bool:
    if type(want) is not type(have):
        return False
    if isinstance(want, str) and rules.server_ids:
        return server_id(want) == server_id(have)
    return bool(want == have)


def show(value: Any, limit: int = 200) -> str:
    """A value as the diff prints it: JSON, cut at `limit` characters."""
    if value is MISSING:
        text = "nothing"
    elif isinstance(value, bytes):
        text = f"<{len(value)} bytes> {value[:48]!r}"
    elif isinstance(value, str) and parse(value) is not MISSING and value[:1] in "{[":
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
