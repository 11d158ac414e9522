"""A replayed session's replies against the recorded ones: which connection, which reply,
which field, expected against got. Pure: no trio, no quart (tests/wire/test_session_diff.py).

Per connection, the replies (the frames the server sent) are matched in order: first aligned,
with what the rules set aside masked (session_match.py), so that one extra or missing frame
is reported as that and not as every later frame differing; then each aligned pair is compared
field by field. A reply that arrived in another place than recorded is reported as moved.
Replies are numbered from 1 in the order the recording has them (the hello is reply 1); an
unexpected one by the recorded reply it came before (past the last one: the number after it).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from qakit_trio.wire.session_match import Matcher, Rules, alignment_key, show
from qakit_trio.wire.sessions import Connection, Session


@dataclass(frozen=True)
class Difference:
    reply: int  # 1-based, in the recording's replies (unexpected: the one it came before)
    kind: str  # changed, missing, unexpected, moved
    detail: str


@dataclass
class ConnectionReport:
    connection: Connection
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what happened to it (closed early, ...)


@dataclass
class Report:
    connections: list[ConnectionReport]
    frames: int  # the session's frames, sent and received
    notes: list[str] = field(default_factory=list)  # the whole replay's (a timeout)

    @property
    def ok(self) -> bool:
        return not self.notes and not any(report.differences for report in self.connections)

    def render(self) -> str:
        if self.ok:
            return f"OK {len(self.connections)} connections, {self.frames} frames"
        lines = list(self.notes)
        differing = [report for report in self.connections if report.differences]
        lines.append(
            f"DIFFERENT: {len(differing)} of {len(self.connections)} connections, "
            f"{sum(len(report.differences) for report in differing)} differences"
        )
        for report in self.connections:
            if not report.differences:
                continue
            lines.append(f"connection {report.connection.name} ({_path(report.connection.url)})")
            lines += [f"  {note}" for note in report.notes]
            for difference in report.differences:
                head = f"  reply {difference.reply}: {difference.kind}"
                body = difference.detail.splitlines()
                if len(body) == 1 and len(head) + len(body[0]) < 100:
                    lines.append(f"{head}: {body[0]}")
                else:
                    lines += [f"{head}:", *(f"    {line}" for line in body)]
        return "\n".join(lines)


def compare_session(
    session: Session,
    replies: Mapping[str, Sequence[str | bytes]],
    rules: Rules,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> Report:
    """Compare each connection's replayed replies (by connection name) with its recording."""
    matcher = Matcher(rules)
    reports = []
    for connection in session.connections:
        expected = [frame.data for frame in connection.received()]
        report = ConnectionReport(connection, notes=list((notes or {}).get(connection.name, ())))
        report.differences = compare_replies(expected, replies.get(connection.name, ()), matcher)
        reports.append(report)
    return Report(reports, session.frame_count())


def compare_replies(
    expected: Sequence[str | bytes], got: Sequence[str | bytes], matcher: Matcher
) -> list[Difference]:
    """One connection's differences, in the order of its replies."""
    want = [alignment_key(data, matcher.rules) for data in expected]
    have = [alignment_key(data, matcher.rules) for data in got]
    found: list[tuple[int, Difference]] = []
    missing: list[int] = []
    extra: list[int] = []
    blocks = difflib.SequenceMatcher(None, want, have, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in blocks:
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else i2 - i1 if tag == "equal" else 0
        for offset in range(paired):
            changed = matcher.differences(expected[i1 + offset], got[j1 + offset])
            if changed:
                detail = "\n".join(changed)
                found.append((i1 + offset, Difference(i1 + offset + 1, "changed", detail)))
        missing += range(i1 + paired, i2)
        extra += range(j1 + paired, j2)
    for i in list(missing):  # a reply that came, but elsewhere: moved
        j = next((j for j in extra if have[j] == want[i]), None)
        if j is not None:
            missing.remove(i)
            extra.remove(j)
            where = f"arrived as reply {j + 1}: {show(expected[i])}"
            found.append((i, Difference(i + 1, "moved", where)))
            matcher.differences(expected[i], got[j])  # (learns its ids and offsets)
    for i in missing:
        found.append((i, Difference(i + 1, "missing", f"expected {show(expected[i])}")))
    for j in extra:
        at = _recorded_position(blocks, j)
        detail = f"the replay's reply {j + 1}, not in the recording: {show(got[j])}"
        found.append((at, Difference(at + 1, "unexpected", detail)))
    return [difference for _, difference in sorted(found, key=lambda item: item[0])]


def _path(url: str) -> str:
    """A connection's URL as the diff names it: its path and query (the host is the
    recording's, not the replay's)."""
    parts = urlsplit(url)
    return f"{parts.path or '/'}{'?' if parts.query else ''}{parts.query}"


def _recorded_position(blocks: Sequence[tuple[str, int, int, int, int]], j: int) -> int:
    """Where the replay's reply j sits in the recording's numbering (for sorting)."""
    for _, i1, i2, j1, j2 in blocks:
        if j1 <= j < j2:
            return min(i1 + (j - j1), i2)
    return len(blocks)
