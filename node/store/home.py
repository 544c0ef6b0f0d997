"""A node's home directory: identity, configuration, API token, store.

Theory of operation: everything a node is lives in one directory, chosen by
`--home`, else `$TROTH_HOME`, else `~/.troth`:

    identity.pem   Ed25519 key, PKCS#8 PEM, mode 0600 (optionally encrypted)
    config.toml    documented settings; command-line flags override them
    api-token      write token of the local HTTP API (everything), mode 0600
    api-read-token read token of the local HTTP API (GET routes only, the event
                   stream included): the web app's default session, mode 0600
    names.json     local petnames for agent ids (node/store/names.py)
    store.sqlite   the durable log (node/store/sqlite.py)
    peers.json     the peer book: peers met, their addresses, dial outcomes
                   (node/net/peerbook.py)
    node.json      written by a running node: pid, API URL, listen addresses

The two API tokens are least privilege for the web page and the read
commands: a read token that leaks (a page left open, a URL in a history) shows
this node's view but cannot sign in its name. `ApiTokenFiles` is how a running
node reads them: it re-reads a file whenever its inode, mtime or size changes
(checked on every request), so `troth token rotate` takes effect on the next
request without a restart or a signal.

`Config.load` validates every field and raises `ConfigError` naming the file,
the key and what is wrong; nothing is half-applied.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import tomlkit
from tomlkit.items import Table

import wire
from node.core.admission import AdmissionParams

__all__ = ["Home", "Config", "ConfigError", "HomeError", "resolve_home", "bootstrap_problem",
           "relay_problem",
           "CONFIG_TEMPLATE", "edit_config", "ApiTokens", "ApiTokenFiles", "READ_METHODS",
           "write_private"]

DEFAULT_HOME = Path("~/.troth")
DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)


class HomeError(Exception):
    """The home directory is missing, incomplete or unusable."""


class ConfigError(HomeError):
    """config.toml is not valid; the message names the key."""


CONFIG_TEMPLATE = """\
# troth node configuration. Command-line flags of `troth run` override these.

[network]
# libp2p multiaddrs to listen on: /ip4|ip6/<address>/tcp/<port>, up to 8.
# Port 0 picks a free port. "/ip4/0.0.0.0/tcp/4001" and "/ip6/::/tcp/4001"
# listen on every interface (`troth id` then lists each interface's address).
listen = ["/ip4/127.0.0.1/tcp/0"]
# Public addresses that reach this node although it does not listen on them,
# e.g. a router forwarding port 4001 to it: ["/ip4/203.0.113.7/tcp/4001"] or
# ["/dns4/hub.example.org/tcp/4001"]. Advertised first; up to 4.
announce = []
# Peers to dial at start, as full multiaddrs with /p2p/<agent id>
# (`troth id --json` on the other node prints them).
bootstrap = []
# Ask connected peers whom they know (/troth/peers/1) and answer them, so
# members find each other without a central list. Peers met are kept in
# peers.json and redialled with backoff either way.
peer_exchange = true
# Find peers on the local network with mDNS.
mdns = false
# Serve as a relay for other members (circuit relay v2); limits in [relay].
relay = false
# Relays to hold a slot on when this node is not reachable from outside
# (behind NAT): full multiaddrs with /p2p/<relay id>. Peers then reach this
# node at <relay address>/p2p-circuit/p2p/<agent id> (`troth id` lists them).
relays = []
# Whether others can dial this node: "auto" asks connected peers to dial
# back; "public" or "private" says so (private: always use the relays).
reachability = "auto"

[relay]
# Limits of this node as a relay (network.relay = true); a circuit that hits
# one is reset, and the members it joined reconnect.
# Members holding a slot at once.
max_reservations = 64
# Relayed connections to one member at once.
max_circuits_per_peer = 16
# Seconds one relayed connection may last, and the bytes it may carry.
max_circuit_duration_s = 3600
max_circuit_bytes = 67108864

[api]
# The local HTTP API (and web page). Loopback only; requests need a bearer
# token: `api-token` (everything) or `api-read-token` (GET only). Port 0 picks
# a free port (see node.json).
listen = "127.0.0.1:0"

[sync]
# Seconds between anti-entropy rounds (one peer per round, round robin).
interval_s = 5.0

[admission]
# Whose tokens this node stores and forwards (docs/decisions/0006-admission.md).
# Issuers inside its horizon always pass: its own agent, those it builds on,
# assesses or promises to, those they name in turn, up to `hops` steps, and
# the members of the communities they charter. Everyone else is a stranger:
# the first `stranger_quota` tokens of each are kept, and at most
# `stranger_budget` of all strangers together per `stranger_budget_window_s`
# (the budget refills as what it took ages); the rest is ignored (not stored,
# not relayed). `troth stats` shows the budget left and when it refills.
enabled = true
hops = 2
stranger_quota = 64
stranger_budget = 10000
stranger_budget_window_s = 86400
# Gossip messages per second each neighbour may send us, and the burst it may
# save up: past it the neighbour is read no faster, and what was read already
# is ignored and counted (`troth stats`). Unset: 100 and 1000.
# peer_gossip_rate_per_s = 100.0
# peer_gossip_burst = 1000

[trust]
# Seconds of clock disagreement forgiven around a promise's due time: a
# promise turns broken for lateness only after due + this, on this node's clock.
skew_allowance_s = 30.0

[verify]
# Processes, or threads, that check token signatures beside the node's own
# work: the stored log on start, gossip bundles, bursts and sync frames. Set
# one of the two, not both. 0 and 0 (the default): all on the node's thread.
# On an idle 2-core machine bench.ingest measured 0.34-0.37 of a bare
# verify inline, 0.42-0.44 with one process and 0.32-0.36 with one thread (a
# thread still waits for Python's lock between checks). A process costs
# ~65 MiB; where no core is spare it gains nothing.
processes = 0
threads = 0

[log]
# debug, info, warning or error
level = "info"
"""


def edit_config(text: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """`text` (a config.toml) with `changes[section][key]` set, comments kept.

    Edits only settings the text already has: a misspelt section or key is a
    `KeyError` here rather than a setting that is quietly added (and then
    refused by `Config.load`) or ignored.
    """
    doc = tomlkit.parse(text)
    for section, values in changes.items():
        table = doc.get(section)
        if not isinstance(table, Table):
            raise KeyError(f"config has no [{section}] table")
        for key, value in values.items():
            if key not in table:
                raise KeyError(f"config has no {section}.{key}")
            table[key] = value
    return tomlkit.dumps(doc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    listen: tuple[str, ...] = DEFAULT_LISTEN
    announce: tuple[str, ...] = ()
    bootstrap: tuple[str, ...] = ()
    peer_exchange: bool = True
    mdns: bool = False
    # network.relay, network.relays, network.reachability, and [relay]: the
    # limits the operator set (names of node.net's RelayParams, which owns
    # the defaults)
    relay: bool = False
    relays: tuple[str, ...] = ()
    reachability: str = "auto"
    relay_limits: tuple[tuple[str, int], ...] = ()
    api_host: str = "127.0.0.1"
    api_port: int = 0
    sync_interval_s: float = 5.0
    skew_allowance_s: float = 30.0
    verify_threads: int = 0
    verify_processes: int = 0
    log_level: str = "info"
    # None: admission off (every valid token is stored and relayed).
    admission: AdmissionParams | None = field(default_factory=AdmissionParams)
    # None: the gossip layer's own defaults (node/net/gossip.py, GossipParams).
    peer_gossip_rate_per_s: float | None = None
    peer_gossip_burst: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing (run `troth init`)") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> Config:
        def err(key: str, what: str) -> ConfigError:
            return ConfigError(f"{where}: {key}: {what}")

        known = {"network": {"listen", "announce", "bootstrap", "peer_exchange", "mdns",
                             "relay", "relays", "reachability"},
                 "relay": set(RELAY_LIMIT_KEYS), "api": {"listen"},
                 "sync": {"interval_s"}, "log": {"level"}, "trust": {"skew_allowance_s"},
                 "verify": {"threads", "processes"},
                 "admission": {"enabled", "hops", "stranger_quota", "stranger_budget",
                               "stranger_budget_window_s", "peer_gossip_rate_per_s",
                               "peer_gossip_burst"}}
        for section, value in data.items():
            if section not in known:
                raise err(section, f"unknown section (known: {', '.join(sorted(known))})")
            if not isinstance(value, dict):
                raise err(section, "must be a table")
            for key in value:
                if key not in known[section]:
                    raise err(f"{section}.{key}", "unknown key")

        def table(name: str) -> _Section:
            return _Section(data.get(name, {}), name, err)

        net, adm = table("network"), table("admission")
        # (What each listen or announce address may be is node/net's to say, at start.)
        listen = net.addrs("listen", DEFAULT_LISTEN, "a non-empty list of multiaddr strings",
                           non_empty=True)
        announce = net.addrs("announce", (), "a list of multiaddr strings")
        boot = net.addrs("bootstrap", (), "a list of multiaddrs ending in /p2p/<agent id>",
                         problem=bootstrap_problem)
        relays = net.addrs("relays", (), "a list of multiaddrs ending in /p2p/<relay id>",
                           problem=relay_problem)
        relay = table("relay")
        api = table("api")
        host, port = parse_host_port(api.values.get("listen", "127.0.0.1:0"),
                                     lambda what: api.fail("listen", what))
        defaults = AdmissionParams()
        params = AdmissionParams(
            hops_max=adm.whole("hops", defaults.hops_max, 0, 16),
            stranger_quota=adm.whole("stranger_quota", defaults.stranger_quota, 0, 1_000_000),
            stranger_budget=adm.whole("stranger_budget", defaults.stranger_budget,
                                      0, 100_000_000),
            stranger_budget_window_s=adm.number(
                "stranger_budget_window_s", defaults.stranger_budget_window_s, 1, 10 * 365 * 86_400,
                "a number of seconds"))
        verify = table("verify")
        verify_threads = verify.whole("threads", 0, 0, 64)
        verify_processes = verify.whole("processes", 0, 0, 64)
        if verify_threads and verify_processes:
            raise verify.fail("processes", "set processes or threads, not both")
        return cls(
            listen=listen, announce=announce, bootstrap=boot,
            peer_exchange=net.flag("peer_exchange", True), mdns=net.flag("mdns", False),
            relay=net.flag("relay", False), relays=relays,
            reachability=net.choice("reachability", "auto", REACHABILITY_SETTINGS),
            relay_limits=tuple(sorted((key, relay.whole(key, 1, 1, None))
                                      for key in relay.values)),
            api_host=host, api_port=port,
            sync_interval_s=table("sync").number("interval_s", 5.0, 0.1, 3600,
                                                 "a number of seconds"),
            skew_allowance_s=table("trust").number("skew_allowance_s", 30.0, 0, 86_400,
                                                   "a number of seconds"),
            verify_threads=verify_threads, verify_processes=verify_processes,
            log_level=table("log").choice("level", "info", ("debug", "info", "warning", "error")),
            admission=params if adm.flag("enabled", True) else None,
            peer_gossip_rate_per_s=adm.optional_number("peer_gossip_rate_per_s", 0.1, 1e6),
            peer_gossip_burst=adm.optional_number("peer_gossip_burst", 1.0, 1e6))

    def override(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


RELAY_LIMIT_KEYS = ("max_reservations", "max_circuits_per_peer", "max_circuit_duration_s",
                    "max_circuit_bytes")
REACHABILITY_SETTINGS = ("auto", "public", "private")


class _Section:
    """One `[section]` of config.toml, read with the checks its settings share:
    a bad value is a ConfigError naming `section.key` and what it must be."""

    def __init__(self, values: dict[str, Any], section: str,
                 err: Callable[[str, str], ConfigError]) -> None:
        self.values = values
        self.section = section
        self._err = err

    def fail(self, key: str, what: str) -> ConfigError:
        return self._err(f"{self.section}.{key}", what)

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.values.get(key, default)
        if value not in options:
            raise self.fail(key, f"one of {', '.join(options)}")
        return str(value)

    def whole(self, key: str, default: int, low: int, high: int | None) -> int:
        """A whole number in low..high (no upper bound when `high` is None)."""
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or \
                (high is not None and value > high):
            raise self.fail(key, f"a whole number >= {low}" if high is None
                            else f"a whole number in {low}..{high}")
        return value

    def number(self, key: str, default: float, low: float, high: float,
               noun: str = "a number") -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not low <= value <= high:
            raise self.fail(key, f"{noun} in {_plain(low)}..{_plain(high)}")
        return float(value)

    def optional_number(self, key: str, low: float, high: float) -> float | None:
        """A number in low..high, or None when the key is not set."""
        return self.number(key, low, low, high) if key in self.values else None

    def addrs(self, key: str, default: tuple[str, ...], what: str, *, non_empty: bool = False,
              problem: Callable[[str], str | None] | None = None) -> tuple[str, ...]:
        """A list of multiaddr strings (`what` says which kind when it is not):
        each one as `problem` accepts it, else each starting with "/"."""
        value = self.values.get(key, list(default))
        if not (isinstance(value, list) and (value or not non_empty) and
                all(isinstance(x, str) and (problem or x.startswith("/")) for x in value)):
            raise self.fail(key, what)
        for addr in value:
            trouble = problem(addr) if problem is not None else None
            if trouble:
                raise self.fail(key, f"{addr!r}: {trouble}")
        return tuple(value)


def _plain(x: float) -> str:
    """3600.0 as "3600", 0.1 as "0.1" (1e6 as "1000000", not "1e+06")."""
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_host_port(text: object, err: Any) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise err("HOST:PORT, e.g. 127.0.0.1:8765")
    host, _, port_s = text.rpartition(":")
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise err(f"bad port in {text!r}")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise err(f"the API listens on loopback only, not {host!r}")
    return host.strip("[]"), int(port_s)


def relay_problem(addr: str) -> str | None:
    """Why `addr` is not a relay's own address (with /p2p/<relay id>), or None."""
    if "/p2p-circuit" in addr:
        return "a relay is dialled directly, not through a circuit"
    return bootstrap_problem(addr)


def bootstrap_problem(addr: str) -> str | None:
    """Why `addr` is not a peer multiaddr with /p2p/<agent id>, or None."""
    import multiaddr

    try:
        ma = multiaddr.Multiaddr(addr)
        peer = ma.value_for_protocol("p2p")
    except Exception:  # noqa: BLE001 - the library raises several types for bad text
        return "not a multiaddr with /p2p/<agent id> (e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...)"
    try:
        wire.agent_id_to_bytes(str(peer))
    except wire.InvalidIdentity:
        return f"/p2p/{peer} is not an agent id"
    return None


def resolve_home(flag: str | Path | None) -> Path:
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("TROTH_HOME")
    return Path(env).expanduser() if env else DEFAULT_HOME.expanduser()


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` whole with `data`, mode 0600: written to a temporary file,
    fsynced, renamed over it, so a crash leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# HTTP methods the read token may use; every other method needs the write token.
READ_METHODS = frozenset({"GET", "HEAD"})


def _new_token() -> bytes:
    return (secrets.token_urlsafe(32) + "\n").encode()


@dataclass(frozen=True, slots=True)
class ApiTokens:
    """The bearer tokens a node accepts: `write` for everything, `read` for GET
    routes only; None when its file is missing (nobody holds that role)."""

    write: str | None
    read: str | None = None


class ApiTokenFiles:
    """A home's API tokens as they are on disk now (see the module docstring)."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._stamp: tuple[tuple[int, int, int] | None, ...] | None = None
        self._tokens = ApiTokens(None)

    def __call__(self) -> ApiTokens:
        paths = (self.home.token_path, self.home.read_token_path)
        stamp = tuple(_file_stamp(p) for p in paths)
        if stamp != self._stamp:
            write, read = (_read_token(p) for p in paths)
            self._tokens = ApiTokens(write, read)
            self._stamp = stamp
        return self._tokens


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Home:
    path: Path
    # What `init(force=True)` moved aside (old identity, token, store), for the CLI to say.
    moved_aside: tuple[Path, ...] = ()

    @property
    def identity_path(self) -> Path:
        return self.path / "identity.pem"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def token_path(self) -> Path:
        return self.path / "api-token"

    @property
    def read_token_path(self) -> Path:
        return self.path / "api-read-token"

    @property
    def names_path(self) -> Path:
        return self.path / "names.json"

    @property
    def store_path(self) -> Path:
        return self.path / "store.sqlite"

    @property
    def peers_path(self) -> Path:
        return self.path / "peers.json"

    @property
    def runtime_path(self) -> Path:
        return self.path / "node.json"

    @classmethod
    def init(cls, path: Path, passphrase: str | None = None, *, force: bool = False,
             config: str = CONFIG_TEMPLATE, replace_config: bool = False
             ) -> tuple[Home, wire.Identity]:
        """Create the home. With `force`, an existing identity is replaced: the old
        identity, API tokens and store (which belong to it) are moved aside, renamed
        `NAME.replaced-TIME`, never deleted; config.toml is kept unless
        `replace_config`. Refused while a node runs on the home."""
        home = cls(path)
        if not home.identity_path.exists():
            return home._create(passphrase, config, replace_config)
        if not force:
            raise HomeError(f"{home.identity_path} exists: this home is already initialised "
                            "(--force replaces its identity; the old identity, token and "
                            "store are kept beside it, renamed)")
        lock = home.try_lock()
        if lock is None:
            raise HomeError(f"a troth node is running on {home.path}: stop it before "
                            "replacing its identity")
        try:  # (held until the new identity is written: no node can start in between)
            home = replace(home, moved_aside=home._move_aside())
            return home._create(passphrase, config, replace_config)
        finally:
            lock.close()

    def _create(self, passphrase: str | None, config: str, replace_config: bool
                ) -> tuple[Home, wire.Identity]:
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        identity = wire.Identity.generate()
        identity.save(self.identity_path, passphrase)
        if not self.config_path.exists() or replace_config:
            self.config_path.write_text(config)
        self.rotate_api_tokens(write=True, read=True)
        return self, identity

    def try_lock(self) -> IO[str] | None:
        """This home's node lock (node/app/runtime.py takes it to run), or None if held."""
        import fcntl

        fh = open(self.path / "node.lock", "a+")  # noqa: SIM115 - the caller closes it
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return None
        return fh

    def _move_aside(self) -> tuple[Path, ...]:
        """Rename the old identity, tokens and store `NAME.replaced-STAMP` (unique:
        nothing is ever renamed onto an existing file). The store's WAL is folded
        into it first, and any leftover -wal/-shm follow it under SQLite's names,
        so the moved store opens with every token it had."""
        import sqlite3

        stamp = time.strftime("%Y%m%dT%H%M%S")
        suffix = f"replaced-{stamp}"
        n = 1
        while any(p.with_name(f"{p.name}.{suffix}").exists()
                  for p in self._replaced_files()):
            n += 1
            suffix = f"replaced-{stamp}-{n}"
        if self.store_path.exists():
            db = sqlite3.connect(self.store_path)
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
        moved = []
        for p in self._replaced_files():
            if p.exists():
                target = p.with_name(f"{p.name}.{suffix}")
                p.rename(target)
                moved.append(target)
        for ext in ("-wal", "-shm"):  # (after a checkpoint: empty or gone)
            side = self.path / f"{self.store_path.name}{ext}"
            if side.exists():
                side.rename(self.path / f"{self.store_path.name}.{suffix}{ext}")
        return tuple(moved)

    def _replaced_files(self) -> tuple[Path, ...]:
        return self.identity_path, self.token_path, self.read_token_path, self.store_path

    def require(self) -> None:
        if not self.identity_path.exists():
            raise HomeError(f"no node at {self.path} (run `troth init --home {self.path}`)")

    def identity(self, passphrase: str | None = None) -> wire.Identity:
        self.require()
        try:
            return wire.Identity.load(self.identity_path, passphrase)
        except wire.InvalidIdentity as exc:
            if exc.reason == "passphrase":
                raise HomeError(f"{self.identity_path} is encrypted: give the right passphrase "
                                "(--passphrase-file or $TROTH_PASSPHRASE)") from None
            raise HomeError(f"{self.identity_path}: {exc}") from None

    def config(self) -> Config:
        return Config.load(self.config_path)

    def api_token(self) -> str:
        """The write token (every route)."""
        try:
            return self.token_path.read_text().strip()
        except FileNotFoundError:
            raise HomeError(f"{self.token_path} is missing (run `troth init`)") from None

    def api_read_token(self) -> str:
        """The read token (GET routes only)."""
        try:
            return self.read_token_path.read_text().strip()
        except FileNotFoundError:
            raise HomeError(f"{self.read_token_path} is missing (start the node once, or "
                            f"run `troth --home {self.path} token rotate --read`)") from None

    def rotate_api_tokens(self, *, write: bool, read: bool) -> list[Path]:
        """Replace the chosen token files with fresh random tokens (each file is
        replaced whole, so a running node sees a new inode). Returns their paths."""
        paths = [p for p, chosen in ((self.token_path, write), (self.read_token_path, read))
                 if chosen]
        for p in paths:
            write_private(p, _new_token())
        return paths

    def ensure_api_tokens(self) -> list[Path]:
        """Make whichever token file is missing: homes made before the read token
        existed get one on their node's next start. Returns the files made."""
        return self.rotate_api_tokens(write=not self.token_path.exists(),
                                      read=not self.read_token_path.exists())

    def runtime(self) -> dict[str, Any] | None:
        """What the running node wrote about itself, or None if none runs."""
        try:
            info = json.loads(self.runtime_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return info if isinstance(info, dict) else None

    def write_runtime(self, info: dict[str, Any]) -> None:
        write_private(self.runtime_path, json.dumps(info, indent=2).encode())

    def clear_runtime(self) -> None:
        self.runtime_path.unlink(missing_ok=True)
