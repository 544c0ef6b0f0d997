"""Local petnames: the names this node's user gives to agent ids.

Theory of operation: an agent id (`12D3KooW…`) is global and unreadable; a
petname is local, chosen by this user, and means nothing to anyone else
(petname systems: a name is secure, memorable or global, pick two). `Petnames`
owns the home's `names.json`: a JSON object agent id -> name, read once and
rewritten whole on every change (home.py's `write_private`: a temporary file,
fsynced, renamed, mode 0600 as the token files), so a crash leaves the old
file or the new one. Invariants: every key is a valid agent id, every name
is 1..NAME_MAX_CHARS printable characters with no leading or trailing space,
and no two agents share a name (a name must say who it is). Names never
enter a token: they are shown by the web app and set with `troth name`
through the API.
"""

from __future__ import annotations

import json
from pathlib import Path

import wire

from .home import write_private

__all__ = ["Petnames", "PetnameError", "NAME_MAX_CHARS", "NAMES_MAX"]

# A name is a label in a table row, not a description.
NAME_MAX_CHARS = 64
# Far more agents than one person tells apart; bounds the file and each rewrite.
NAMES_MAX = 4096


class PetnameError(Exception):
    """A name or agent id that cannot be stored; `reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Petnames:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._names = self._load()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PetnameError("bad-names-file", f"{self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise PetnameError("bad-names-file", f"{self.path}: not a JSON object")
        names: dict[str, str] = {}
        for agent, name in data.items():
            try:
                names[_agent(agent)] = _name(name)
            except PetnameError as exc:
                raise PetnameError("bad-names-file", f"{self.path}: {exc.detail}") from None
        return names

    def all(self) -> dict[str, str]:
        return dict(sorted(self._names.items()))

    def set(self, agent: object, name: object) -> None:
        """Name `agent`; `name` None removes its name."""
        a = _agent(agent)
        names = dict(self._names)
        if name is None:
            names.pop(a, None)
        else:
            n = _name(name)
            holder = next((x for x, y in names.items() if y == n and x != a), None)
            if holder is not None:
                raise PetnameError("name-taken", f"{n!r} already names {holder}")
            names[a] = n
            if len(names) > NAMES_MAX:
                raise PetnameError("too-many", f"at most {NAMES_MAX} names")
        self._write(names)
        self._names = names

    def _write(self, names: dict[str, str]) -> None:
        write_private(self.path, json.dumps(dict(sorted(names.items())), indent=1,
                                            ensure_ascii=False).encode())


def _agent(agent: object) -> str:
    if not isinstance(agent, str):
        raise PetnameError("bad-agent", "an agent id is text")
    try:
        wire.agent_id_to_bytes(agent)
    except wire.InvalidIdentity:
        raise PetnameError("bad-agent", f"not an agent id: {agent[:80]!r}") from None
    return agent


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PetnameError("bad-name", "a name is non-empty text")
    if name != name.strip():
        raise PetnameError("bad-name", "a name has no leading or trailing spaces")
    if len(name) > NAME_MAX_CHARS:
        raise PetnameError("bad-name", f"a name is at most {NAME_MAX_CHARS} characters")
    if not name.isprintable():
        raise PetnameError("bad-name", "a name has no control characters")
    return name
