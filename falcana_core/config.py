"""Configuration from environment variables; ``falcana config`` prints the effective values."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from falcana_core.i18n import normalise_language
from falcana_core.net.policy import NetPolicy

MASK = "********"


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """on/off (also 1/0, true/false, yes/no); empty: the default."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: {raw!r} is not on or off")


def _float(env: Mapping[str, str], name: str, default: float, *aliases: str) -> float:
    raw = env.get(name)
    for alias in aliases:  # earlier names, still honoured
        if raw is None or raw.strip() == "":
            raw, name = env.get(alias), alias
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0")
    return value


def _every(env: Mapping[str, str], name: str, default: float) -> float:
    """Seconds between runs of a duty; 0 (or ``off``) switches it off."""
    raw = (env.get(name) or "").strip().lower()
    with contextlib.suppress(ValueError):
        if raw == "off" or float(raw) == 0:
            return 0.0
    return _float(env, name, default)


def _count(env: Mapping[str, str], name: str) -> int:
    raw = (env.get(name) or "0").strip()
    if not raw.isdigit() or int(raw) > 10:
        raise ConfigError(f"{name} must be a number of proxies from 0 to 10, not {raw!r}")
    return int(raw)


def _connections(env: Mapping[str, str], name: str) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default_concurrency()
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError(f"{name} must be a number of connections from 1 to 1000, not {raw!r}")
    return int(raw)


def _policy(env: Mapping[str, str]) -> NetPolicy:
    try:
        return NetPolicy.from_env(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class ConfigError(Exception):
    """A setting is malformed; the message names the variable (never a secret's value)."""


def default_concurrency() -> int:
    """Connections per worker process: sending waits on the network, not the processor, so
    many per core; capped so one process does not hog the database's connections."""
    return max(4, min(64, 16 * (os.cpu_count() or 1)))


@dataclasses.dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    secret_key: str | None = dataclasses.field(default=None, repr=False)
    disable_plugins: frozenset[str] = frozenset()
    lang: str = "de"
    base_url: str = "http://127.0.0.1:8025"
    ca_bundle: Path | None = None
    dns_servers: tuple[str, ...] = ()
    net_timeout: float = 30.0  # an outgoing connection's set-up and every command on it
    test_deadline: float = 60.0  # a whole test (test e-mail, connection check)
    send_deadline: float = 300.0  # one delivery attempt of one message, start to end
    strict_plugins: bool = False
    trusted_proxies: int = 0  # reverse proxies in front of the web UI (X-Forwarded-For)
    net_policy: NetPolicy = dataclasses.field(default_factory=NetPolicy)  # where to connect
    outbox_lease: float = 15.0  # seconds a worker's claim lasts unless its heartbeat renews it
    #: mailbox connections one worker process keeps open at once
    worker_concurrency: int = dataclasses.field(default_factory=default_concurrency)
    outbox_max_age: float = 3 * 24 * 3600.0  # seconds before a deferred message fails
    #: seconds between two verifies of a mailbox by the worker (falcana_core/health.py);
    #: 0: none
    health_every: float = 24 * 3600.0
    #: the worker also does the plugins' periodic duties (hook ``worker_duties``)
    worker_duties: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("FALCANA_DATA_DIR") or "falcana-data").expanduser().absolute()
        database_url = env.get("FALCANA_DATABASE_URL") or f"sqlite:///{data_dir / 'falcana.db'}"
        ca = env.get("FALCANA_CA_BUNDLE")
        if ca and not Path(ca).is_file():
            raise ConfigError(f"FALCANA_CA_BUNDLE: {ca} is not a file")
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": database_url,
            "secret_key": env.get("FALCANA_SECRET_KEY") or None,
            "disable_plugins": frozenset(
                p.strip() for p in env.get("FALCANA_DISABLE_PLUGINS", "").split(",")
                if p.strip()
            ),
            "lang": normalise_language(env.get("FALCANA_LANG")),
            "base_url": (env.get("FALCANA_BASE_URL") or cls.base_url).rstrip("/"),
            "ca_bundle": Path(ca) if ca else None,
            "dns_servers": tuple(
                s.strip() for s in env.get("FALCANA_DNS_SERVERS", "").split(",") if s.strip()
            ),
            "net_timeout": _float(env, "FALCANA_NET_TIMEOUT", cls.net_timeout,
                                  "FALCANA_SMTP_TIMEOUT"),
            "test_deadline": _float(env, "FALCANA_TEST_DEADLINE", cls.test_deadline,
                                    "FALCANA_SMTP_TEST_DEADLINE"),
            "send_deadline": _float(env, "FALCANA_SEND_DEADLINE", cls.send_deadline),
            "strict_plugins": _bool(env.get("FALCANA_STRICT_PLUGINS")),
            "trusted_proxies": _count(env, "FALCANA_TRUSTED_PROXIES"),
            "net_policy": _policy(env),
            "outbox_lease": _float(env, "FALCANA_OUTBOX_LEASE", cls.outbox_lease),
            "worker_concurrency": _connections(env, "FALCANA_WORKER_CONCURRENCY"),
            "outbox_max_age": _float(env, "FALCANA_OUTBOX_MAX_AGE", cls.outbox_max_age),
            "health_every": _every(env, "FALCANA_HEALTH_EVERY", cls.health_every),
            "worker_duties": _switch(env, "FALCANA_WORKER_DUTIES", cls.worker_duties),
        }
        values.update(overrides)
        if "dns_servers" in overrides and "net_policy" not in overrides:
            values["net_policy"] = dataclasses.replace(
                values["net_policy"], dns_servers=tuple(values["dns_servers"]))
        return cls(**values)

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    def masked(self) -> dict[str, Any]:
        """The effective configuration for display: secrets (and URL passwords) masked."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        return {
            "FALCANA_DATA_DIR": str(self.data_dir),
            "FALCANA_DATABASE_URL": url.render_as_string(hide_password=True),
            "FALCANA_SECRET_KEY": MASK if self.secret_key else f"(key file {self.key_file})",
            "FALCANA_DISABLE_PLUGINS": ",".join(sorted(self.disable_plugins)),
            "FALCANA_LANG": self.lang,
            "FALCANA_BASE_URL": self.base_url,
            "FALCANA_CA_BUNDLE": str(self.ca_bundle or ""),
            "FALCANA_DNS_SERVERS": ",".join(self.dns_servers),
            "FALCANA_NET_TIMEOUT": self.net_timeout,
            "FALCANA_TEST_DEADLINE": self.test_deadline,
            "FALCANA_SEND_DEADLINE": self.send_deadline,
            "FALCANA_STRICT_PLUGINS": self.strict_plugins,
            "FALCANA_TRUSTED_PROXIES": self.trusted_proxies,
            "FALCANA_ALLOW_NETWORKS": self.net_policy.describe(),
            "FALCANA_USER_PORTS": self.net_policy.describe_ports(),
            "FALCANA_OUTBOX_LEASE": self.outbox_lease,
            "FALCANA_WORKER_CONCURRENCY": self.worker_concurrency,
            "FALCANA_OUTBOX_MAX_AGE": self.outbox_max_age,
            "FALCANA_HEALTH_EVERY": self.health_every,
            "FALCANA_WORKER_DUTIES": "on" if self.worker_duties else "off",
        }
