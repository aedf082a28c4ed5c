"""The test kit for plugin authors: an opt-in pytest plugin.

Enable it with ``pytest -p falcana_core.testing`` or ``pytest_plugins =
["falcana_core.testing"]``. It gives:

* ``falcana_host``: a host on a temporary SQLite database, plugins loaded strictly
  (a hookimpl that matches no hookspec is a hard error);
* ``register_plugin``: ``with register_plugin(obj, "name"): ...`` adds a plugin for a block;
* ``test_ca``, ``test_ca_bundle``, ``server_ssl_context``: a certificate authority for test
  servers, trusted by the host through ``FALCANA_CA_BUNDLE``;
* ``dns_server``: a local DNS server the host asks (``FALCANA_DNS_SERVERS``);
* ``silent_server``: a port that accepts and never answers (``testing.net`` has more
  hostile peers); ``loopback_server(kind, ...)`` starts any of them for one test;
* ``memory_transport``: a transport that keeps what it is given (``testing.memory``), for
  tests of the outbox and of host code that need no mail server;
* ``falcana_cli``: the command line against the test host's data directory;
* ``postgres_url``: a fresh PostgreSQL database (skipped loudly without a server, a
  failure under ``CI=true``).

Each protocol's servers come with the plugin that speaks it, as a pytest plugin of its
own: ``-p falcana_smtp_settings.testing`` (``smtp_server``), ``-p falcana_oauth.testing``
(``oauth_server``), ``-p falcana_sent_copy.testing`` (``imap_server``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from falcana_core.config import Config
from falcana_core.manifests import Manifest

if TYPE_CHECKING:
    from email.message import EmailMessage

    import trustme

    from falcana_core.host import Host
    from falcana_core.models import Mailbox, OutboxMessage
    from falcana_core.sections import PluginHost
    from falcana_core.testing.dnsd import DnsTestServer
    from falcana_core.testing.memory import MemoryTransport
    from falcana_core.testing.net import SilentServer

POSTGRES_ENV = "FALCANA_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Clock:
    """A worker's clock (``Worker(host, clock=clock)``): real time, moved on by the test
    instead of waiting for a back-off or a lease."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


def sent_through_outbox(host: PluginHost, box: Mailbox,
                        message: EmailMessage) -> OutboxMessage:
    """Hand a message over and let a worker send it (a plugin's test of what follows a
    send: a copy, a report naming its Message-ID); the outbox's row, sent. ``host`` is
    the running one (``falcana_host``), as a plugin's code sees it."""
    from falcana_core.host import Host
    from falcana_core.worker import Worker

    assert isinstance(host, Host), "a running host: the falcana_host fixture"
    outbox_id = host.outbox.enqueue(box, message)
    Worker(host).run_once()
    row = host.outbox.get(outbox_id)
    assert row is not None and row.status == "sent", row and row.last_error
    return row


def make_config(data_dir: Path, **overrides: Any) -> Config:
    """A configuration for tests: everything in ``data_dir``, strict plugin loading, and
    no health verifies and no plugin duties by the worker (a test of them sets
    ``health_every`` or ``worker_duties``): each is one more connection to the test's
    servers."""
    # the test servers listen on loopback, on ephemeral ports: allowed here explicitly
    env = {"FALCANA_DATA_DIR": str(data_dir), "FALCANA_ALLOW_NETWORKS": "loopback",
           "FALCANA_USER_PORTS": "25,465,587,2525,1024-65535"}
    values: dict[str, Any] = {"strict_plugins": True, "net_timeout": 5.0,
                              "test_deadline": 15.0, "health_every": 0.0,
                              "worker_duties": False}
    values.update(overrides)
    return Config.from_env(env, **values)


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """A certificate authority for test servers; ``test_ca_bundle`` is its PEM file."""
    import trustme

    return trustme.CA(organization_name="falcana test CA")


@pytest.fixture(scope="session")
def test_ca_bundle(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsTestServer]:
    """A DNS server on loopback; ``dns_server.set_mx(domain, [exchange, ...])``.

    ``falcana_config`` points ``FALCANA_DNS_SERVERS`` at it, so tests never wait for the
    outside world's DNS.
    """
    from falcana_core.testing.dnsd import DnsTestServer

    server = DnsTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def falcana_config(tmp_path: Path, test_ca_bundle: Path, dns_server: DnsTestServer) -> Config:
    return make_config(tmp_path / "data", ca_bundle=test_ca_bundle,
                       dns_servers=(dns_server.address,))


@pytest.fixture
def falcana_host(falcana_config: Config) -> Iterator[Host]:
    from falcana_core.host import Host

    host = Host.start(falcana_config)
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def register_plugin(falcana_host: Host) -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """``with register_plugin(obj, "name", depends=(...)):`` registers a plugin for a block."""

    @contextlib.contextmanager
    def register(plugin: object, name: str, *, depends: tuple[str, ...] = (),
                 hookspecs: str | None = None) -> Iterator[object]:
        manifest = Manifest(depends=depends, hookspecs=hookspecs)
        info = falcana_host.plugins.register(plugin, name, manifest=manifest)
        if info.status.value != "enabled":
            falcana_host.plugins.unregister(name)
            raise AssertionError(f"plugin {name} was not registered: {info.reason}")
        falcana_host.plugins_changed()
        try:
            yield plugin
        finally:
            falcana_host.plugins.unregister(name)
            falcana_host.plugins_changed()

    return register


@pytest.fixture
def memory_transport(register_plugin: Callable[..., contextlib.AbstractContextManager[Any]]
                     ) -> Iterator[MemoryTransport]:
    """A ``MemoryTransport`` registered as the plugin ``memory`` for the test."""
    from falcana_core.testing.memory import MemoryTransport

    memory = MemoryTransport()
    with register_plugin(memory, "memory"):
        yield memory


@pytest.fixture
def server_ssl_context(test_ca: trustme.CA) -> Any:
    """A server-side TLS context with a certificate for 127.0.0.1 and localhost."""
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    from falcana_core.testing.net import SilentServer

    with SilentServer() as server:
        yield server


@pytest.fixture
def loopback_server() -> Iterator[Callable[..., Any]]:
    """``loopback_server(HostileServer, "trickle", tls=ctx)``: a test kit's scripted or
    hostile server (any ``testing.net.LoopbackServer``), closed after the test."""
    from falcana_core.testing.net import LoopbackServer

    started: list[LoopbackServer] = []

    def start(kind: type[LoopbackServer], *args: Any, **kwargs: Any) -> Any:
        server = kind(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def require_service(what: str, reason: str) -> None:
    """Skip loudly on a laptop; fail under CI=true, where a missing service is a bug."""
    message = f"{what} is not available: {reason}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI=true: this is a failure, not a skip)")
    warnings.warn(message + " -- tests that need it are SKIPPED", stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL)
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        require_service("PostgreSQL", f"{POSTGRES_ENV}: {exc.__class__.__name__}")
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"falcana_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server_url).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def falcana_cli(falcana_config: Config) -> Callable[..., Any]:
    """Run the ``falcana`` command line against ``falcana_config``'s data directory.

    ``result = falcana_cli("mail", "show", "anna", "--json", input="...")`` returns click's
    ``Result`` (``exit_code``, ``stdout``, ``stderr``).
    """
    from click.testing import CliRunner

    from falcana_core.cli import build_cli
    from falcana_core.cli_support import CliState
    from falcana_core.db import make_engine
    from falcana_core.i18n import language
    from falcana_core.plugin_state import load_enabled_plugins

    def run(*args: str, input: str | None = None, lang: str = "en") -> Any:
        engine = make_engine(falcana_config.database_url)
        plugins = load_enabled_plugins(falcana_config, engine)
        engine.dispose()
        group = build_cli(falcana_config, plugins)
        state = CliState(falcana_config, plugins)
        with language(lang):
            result = CliRunner().invoke(group, list(args), obj=state, input=input)
        if state._host is not None:
            state._host.close()
        return result

    return run
