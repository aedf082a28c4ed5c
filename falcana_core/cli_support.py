"""What every command of ``falcana`` shares, the core's and the plugins': the run's host,
its ways to fail, print JSON and read a secret (``falcana_core.api.cli`` publishes them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from falcana_core.i18n import Domain

if TYPE_CHECKING:
    from falcana_core.config import Config
    from falcana_core.host import Host
    from falcana_core.models import Mailbox
    from falcana_core.plugins import Plugins

_ = Domain("core", Path(__file__).parent / "locale")


class CliState:
    """What every command shares: configuration, the loaded plugins, a host on demand."""

    def __init__(self, config: Config, plugins: Plugins) -> None:
        self.config = config
        self.plugins = plugins
        self._host: Host | None = None

    @property
    def host(self) -> Host:
        if self._host is None:
            from falcana_core.host import Host

            self._host = Host.start(self.config, plugins=self.plugins)
        return self._host


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"{_('Error')}: {message}", err=True)
    sys.exit(code)


def state() -> CliState:
    obj = click.get_current_context().find_object(CliState)
    if obj is None:  # pragma: no cover - main() always sets it
        raise RuntimeError("falcana CLI state missing")
    return obj


def start_host(config: Config) -> Host:
    """A host on a configuration of the command's own (the demo's data directory): the
    database opened and migrated, the enabled plugins loaded, the key ring checked."""
    from falcana_core.host import Host

    return Host.start(config)


def host() -> Host:
    """The host of this CLI run (started on first use: database, migrations, key ring)."""
    from sqlalchemy.exc import OperationalError

    from falcana_core.secretbox import SecretKeyError

    try:
        return state().host
    except SecretKeyError as exc:
        fail(str(exc), 1)
    except OperationalError as exc:
        url = state().config.masked()["FALCANA_DATABASE_URL"]
        fail(str(_("Cannot open the database {url}: {error}", url=url,
                   error=exc.orig or exc.__class__.__name__)), 1)


def mailbox(ref: str) -> Mailbox:
    """A user's personal mailbox by login, or a shared one by address; fails clearly."""
    box = host().mailboxes.resolve(ref)
    if box is None:
        fail(str(_("No mailbox {mailbox}.", mailbox=ref)))
    return box


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def echo_input_errors(errors: list[tuple[str | None, str]]) -> None:
    """``(field label, message)`` pairs, one line each."""
    for field, text in errors:
        click.echo(f"{_('Error')}: {field}: {text}" if field else f"{_('Error')}: {text}",
                   err=True)


def read_secret(prompt: str, from_stdin: bool) -> str:
    """A secret from stdin (scripts) or a hidden prompt (people): never an argument."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value
