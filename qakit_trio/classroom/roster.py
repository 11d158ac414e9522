"""The roster: who has been seen on the stand (a token taken, a request made), as the teacher's
board shows them. In memory: who has been seen since the start (a token survives a restart; its
bearer is seen again at their next request). Pure: no trio, no I/O.

In cluster mode (QAKIT_CLUSTER=kafka) a trainee may take a token on one instance and the
teacher deal bugs on another, which checks the name against its roster (assignments.py): the
instances share their rosters through the classroom's tables (tables.py, `lab_people`). Each
follow round (classroom.py) sends `news()`, the people seen here since they were last told,
and takes in `heard()`, those the others saw. A person seen again is told again only once
their last sighting is STEP newer than what was told: the board's idle time of someone seen on
another instance is up to STEP late (their live connections' idle time comes from the cluster,
exact), and a class of thirty costs a few rows a second, not one per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qakit_trio.classroom.tables import Person

MAX_PEOPLE = 1_000  # the roster's size (a class is thirty); past it, the longest-idle goes
STEP = 5.0  # seconds: how much newer a sighting must be to be told to the others again


@dataclass(slots=True)
class Seen:
    name: str
    role: str
    first: float  # wall-clock seconds: when they were first seen (a time users see)
    last: float  # and last
    instance: str | None = None  # where they were seen last (None: here)


class Roster:
    def __init__(self, instance: str = "", limit: int = MAX_PEOPLE) -> None:
        self.instance = instance  # this one's name (settings.instance_id), as news() tells it
        self.people: dict[str, Seen] = {}
        self._limit = limit
        self._told: dict[str, float] = {}  # name -> the last sighting the others know of

    def saw(self, name: str, role: str, wall: float) -> None:
        """`name` took a token or made a request here, now (wall-clock seconds)."""
        seen = self.people.get(name)
        if seen is None:
            self._make_room()
            self.people[name] = Seen(name, role, wall, wall)
            return
        seen.last = wall
        seen.role = role
        seen.instance = None

    def news(self, step: float = STEP) -> list[Person]:
        """Who was seen here since the others were last told of them (by `step` or more)."""
        return [
            (p.name, p.role, p.first, p.last, self.instance)
            for p in self.people.values()
            if p.instance is None
            and (p.name not in self._told or p.last - self._told[p.name] >= step)
        ]

    def told(self, news: Iterable[Person]) -> None:
        """`news` reached the others (the round that carried it was committed)."""
        for name, _, _, last, _ in news:
            self._told[name] = max(last, self._told.get(name, last))

    def heard(self, people: Iterable[Person]) -> None:
        """What the others saw (as the tables keep it: every instance's latest), merged in:
        the first sighting stays the first, the latest wins the role and the instance."""
        for name, role, first, last, instance in people:
            where = None if instance == self.instance else instance
            seen = self.people.get(name)
            if seen is None:
                self._make_room()
                self.people[name] = Seen(name, role, first, last, where)
            else:
                seen.first = min(seen.first, first)
                if last > seen.last:
                    seen.last, seen.role, seen.instance = last, role, where
            self._told[name] = max(last, self._told.get(name, last))  # nothing to tell back

    def _make_room(self) -> None:
        if len(self.people) >= self._limit:
            idlest = min(self.people.values(), key=lambda person: person.last)
            del self.people[idlest.name]
            self._told.pop(idlest.name, None)
