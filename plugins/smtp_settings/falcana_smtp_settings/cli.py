"""``falcana mail show|set|test|health``: the section and the test mail for admins who script.

LOGIN addresses a user's personal mailbox; a shared mailbox is addressed by its address.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from falcana_core.api import split_address
from falcana_core.api.cli import (
    echo_input_errors,
    fail,
    health_command,
    host,
    print_json,
    read_secret,
)
from falcana_smtp_settings.detection import detect_provider, mx_resolver
from falcana_smtp_settings.discovery import discover
from falcana_smtp_settings.i18n import _

if TYPE_CHECKING:
    from collections.abc import Sequence

    from falcana_core.api import Explanation, Mailbox, Step
    from falcana_smtp_settings.testmail import TestResult


def _mailbox(ref: str) -> Mailbox:
    box = host().mailboxes.resolve(ref)
    if box is None:
        fail(str(_("No user with the login {ref} and no shared mailbox with that address.",
                   ref=ref)))
    return box


@click.group("mail")
def mail() -> None:
    """A mailbox's SMTP settings and the test mail."""


@mail.command("show")
@click.argument("login")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(login: str, as_json: bool) -> None:
    """Show the settings (the password only as set / not set)."""
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.section import SmtpSection

    h = host()
    box = _mailbox(login)
    ctx = h.context(box, "cli")
    section = SmtpSection()
    values = section.load(ctx)
    values.pop("password", None)
    values["password_set"] = section.is_set(ctx, "password")
    values["display_name_effective"] = box.sender_name
    from falcana_smtp_settings.settings import load_settings

    settings = load_settings(h, box, with_password=False)
    values["pinned_certificate"] = settings.pin
    detection = detect_provider(h, values["email"], values["host"])
    values["provider"] = detection.provider if detection else None
    if as_json:
        print_json({"mailbox": box.id, "section": SECTION_ID, **values})
        return
    labels = {f.id: str(f.label) for f in section.fields(ctx)}
    for key in ("email", "display_name", "transport", "username", "port", "security",
                "host"):
        if key in labels:  # "Versand über" only where a mail API is offered
            click.echo(f"{labels[key]}: {values[key]}")
    click.echo(f"{labels['password']}: " + str(_("set") if values["password_set"]
                                              else _("not set")))
    if settings.pin:
        click.echo(str(_("Pinned certificate (SHA-256): {pin}", pin=settings.pin)))
    if detection:
        click.echo(str(_("Provider: {name} ({reason})", name=detection.name,
                         reason=detection.reason)))


@mail.command("set")
@click.argument("login")
@click.option("--email", default=None)
@click.option("--display-name", default=None)
@click.option("--username", default=None)
@click.option("--port", default=None)
@click.option("--security", default=None, help="normal, tls or ssl")
@click.option("--host", "server", default=None, help="The outgoing mail server.")
@click.option("--password-stdin", is_flag=True, help="Read the mailbox password from stdin.")
@click.option("--clear-password", is_flag=True, help="Remove the stored password.")
@click.option("--pin-certificate", "pin", default=None, metavar="SHA256",
              help="Accept the certificate this mailbox's server presented in its last "
                   "failed test; give its SHA-256 fingerprint to confirm it.")
@click.option("--unpin", is_flag=True, help="Remove the pinned certificate.")
@click.option("--auth-method", default=None,
              help="password, or a sign-in method a plugin offers: oauth2, oauth2_app, "
                   "oauth2_delegation with the OAuth plugin (see docs/oauth.md).")
@click.option("--transport", default=None,
              help="smtp, or a mail API a plugin offers for the provider: graph "
                   "(Microsoft Graph), gmail_api (the Gmail API); needs an OAuth2 sign-in.")
@click.option("--detect", is_flag=True,
              help="Fill host, port, connection type and username from what "
                   "`falcana mail detect` finds for the address.")
@click.option("--preset", is_flag=True,
              help="Fill host, port and connection type from the recognised provider "
                   "(with --security: the preset of that connection type).")
def set_(login: str, email: str | None, display_name: str | None, username: str | None,
         port: str | None, security: str | None, server: str | None, password_stdin: bool,
         clear_password: bool, pin: str | None, unpin: bool, auth_method: str | None,
         transport: str | None, detect: bool, preset: bool) -> None:
    """Change only the given fields; same validation as the web UI; nothing saved on error."""
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.settings import PinRefused, pin_offered
    from falcana_smtp_settings.settings import unpin as unpin_box
    from falcana_smtp_settings.tls import normalise_fingerprint

    h = host()
    box = _mailbox(login)
    fingerprint = None
    if pin is not None:
        fingerprint = normalise_fingerprint(pin)
        if fingerprint is None or unpin:
            fail(str(_("--pin-certificate takes a SHA-256 fingerprint (64 hex digits), and "
                       "not together with --unpin.")))
    values: dict[str, Any] = h.section_values(box, SECTION_ID)
    given = {"email": email, "display_name": display_name, "username": username,
             "port": port, "security": security, "host": server, "auth_method": auth_method,
             "transport": transport}
    values.update({k: v for k, v in given.items() if v is not None})
    if preset:
        detection = detect_provider(h, str(values.get("email") or ""),
                                      str(values.get("host") or ""))
        chosen = [p for p in (detection.presets if detection else ())
                  if security is None or p.values.get("security") == security]
        if not chosen:
            domain = split_address(str(values.get("email") or ""))[1].lower()
            if detection is None and domain in mx_resolver(h).unanswered:
                fail(str(_("No provider preset fits: {domain} can be recognised only by "
                           "its mail servers (MX record), and DNS did not answer on the "
                           "falcana server. "
                           "Give the SMTP server too (--host smtp.office365.com --preset), "
                           "or check the DNS resolver (FALCANA_DNS_SERVERS).",
                           domain=domain)))
            fail(str(_("No provider preset fits: the provider was not recognised from the "
                       "address, the server or the domain's mail servers (MX). Give "
                       "--host, --port and --security.")))
        values.update(chosen[0].values)
    if detect:
        found = discover(h, str(values.get("email") or ""))
        if found is None:
            fail(str(_("No enabled plugin finds settings (the discovery plugin is not "
                       "enabled: falcana plugins enable discovery). Give --host, --port "
                       "and --security, or --preset.")))
        if found.proposal is None:
            fail(str(_("No settings found for this address (falcana mail detect shows what "
                       "was tried).")))
        values.update(found.proposal.values)
    values["password"] = read_secret("Password", True) if password_stdin else None
    values["clear_password"] = clear_password
    result = h.save_section(box, SECTION_ID, values, actor="cli")
    labels = _labels(box)
    for message in result.validation.warnings:
        click.echo(f"{_('Warning')}: {labels.get(message.field or '', message.field)}: "
                   f"{message.text}", err=True)
    if not result.saved:
        echo_input_errors([(labels.get(m.field or "", m.field), str(m.text))
                           for m in result.validation.errors])
        sys.exit(2)
    try:
        if fingerprint:
            pin_offered(h, box, actor="cli", sha256=fingerprint)
        elif unpin:
            unpin_box(h, box, actor="cli")
    except PinRefused as refused:
        fail(str(refused))
    click.echo(str(_("Saved.")) if result.changes or fingerprint or unpin
               else str(_("Nothing changed.")))


@mail.command("test")
@click.argument("login")
@click.option("--to", default=None, help="Recipient (default: the mailbox's own address).")
@click.option("--verify-only", is_flag=True, help="Stop after RCPT TO without sending.")
@click.option("--email", default=None, help="Test with this address instead of the saved.")
@click.option("--display-name", default=None)
@click.option("--username", default=None)
@click.option("--port", default=None)
@click.option("--security", default=None, help="normal, tls or ssl")
@click.option("--host", "server", default=None, help="The outgoing mail server.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password to test from stdin (else the stored one, where the "
                   "server, port, username and connection type are the saved ones).")
@click.option("--ignore-parts", is_flag=True,
              help="A failed further check (the copy in Sent) does not fail the test.")
@click.option("--json", "as_json", is_flag=True, help="Print the versioned JSON document.")
def test(login: str, to: str | None, verify_only: bool, email: str | None,
         display_name: str | None, username: str | None, port: str | None,
         security: str | None, server: str | None, password_stdin: bool,
         ignore_parts: bool, as_json: bool) -> None:
    """Send a test mail and print the step log; exit 0 only when it passed, its further
    checks (the copy in Sent) included unless --ignore-parts.

    Given settings (--host, --port, --password-stdin ...) are tested as they would be
    saved, and nothing is saved: `falcana mail set` saves them once the test passed."""
    h = host()
    box = _mailbox(login)
    typed = {"email": email, "display_name": display_name, "username": username,
             "port": port, "security": security, "host": server,
             "password": read_secret("Password", True) if password_stdin else None}
    try:
        result: TestResult = h.run_action(box, "smtp.test", {
            "to": to, "verify_only": verify_only, **{k: v for k, v in typed.items()
                                                      if v is not None}}, actor="cli")
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.as_dict())
    else:
        print_result(result, _labels(box))
    parts_ok = ignore_parts or all(part.ok for part in result.parts)
    sys.exit(0 if result.ok and parts_ok else 1)


@mail.command("explain")
@click.argument("reply")
@click.option("--step", default="auth", show_default=True,
              help="The step that got the reply: auth, mail_from, rcpt_to, data ...")
@click.option("--host", "server", default="", help="The server that answered.")
@click.option("--email", default="", help="The mailbox's address (recognises the provider).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(reply: str, step: str, server: str, email: str, as_json: bool) -> None:
    """What falcana says about a server's reply, from every plugin that explains replies
    ("535 5.7.139 Authentication unsuccessful ..."): to try a provider plugin's rules."""
    from falcana_core.api import DeliveryFailure, FailureKind, Reply, current_language

    code, _sep, text = reply.strip().partition(" ")
    if not code.isdigit() or len(code) != 3:
        fail(str(_("Give the reply as the server sent it, beginning with its code: "
                   "\"535 5.7.8 ...\".")))
    h = host()
    found = detect_provider(h, email, server)
    failure = DeliveryFailure(step, FailureKind.REPLY, reply=Reply.parse(int(code), text),
                              detail=reply, host=server.strip().lower(), address=email,
                              provider=found.provider if found else None)
    explanation = h.explain(failure)
    if as_json:
        print_json(explanation.as_dict(current_language()) if explanation else None)
        sys.exit(0 if explanation else 1)
    if explanation is None:
        fail(str(_("No plugin explains this reply.")), 1)
    click.echo(f"{explanation.id}")
    click.echo(f"{_('Cause')}: {explanation.cause}")
    click.echo(f"{_('Fix')}: {explanation.fix}")


def _labels(box: Mailbox) -> dict[str, str]:
    """The e-mail settings' fields by id -> label, for messages that name a field."""
    from falcana_smtp_settings.section import SmtpSection

    ctx = host().context(box, "cli")
    return {f.id: str(f.label) for f in SmtpSection().fields(ctx)}


def _print_steps(steps: Sequence[Step]) -> None:
    marks = {"ok": "✓", "failed": "✗", "skipped": "–"}
    h = host()
    for step in steps:
        reply = f"  {step.reply}" if step.reply else ""
        detail = str(step.detail.get("error") or "")
        # a refused step's error is the reply itself: say it once; what the system said
        # (in its own words, often English) is marked as such
        error = f"  ({_('system message')}: {detail})" if detail and detail != str(
            step.reply or "") else ""
        click.echo(f"{marks[step.status.value]} {h.step_label(step.id)!s:<24} "
                   f"{step.duration_ms:8.1f} ms{reply}{error}")


def _print_failure(step_id: str | None, explanation: Explanation | None,
                   labels: dict[str, str] | None) -> None:
    failed = host().step_label(step_id) if step_id else ""
    click.echo(str(_("Test failed at step {step}.", step=failed)))
    if explanation:
        click.echo(f"{_('Cause')}: {explanation.cause}")
        click.echo(f"{_('Fix')}: {explanation.fix}")
        if explanation.field:
            click.echo(f"{_('Field')}: {(labels or {}).get(explanation.field, explanation.field)}")


def print_result(result: TestResult, labels: dict[str, str] | None = None) -> None:
    if result.invalid:
        click.echo(str(_("Test not run: the settings to test are not valid.")))
        for _field, label, message in result.invalid:
            click.echo(f"  {label}: {message}" if label else f"  {message}")
        return
    if result.unsaved:
        click.echo(str(_("Tested were the settings as entered, not yet saved.")))
    _print_steps(result.steps)
    if result.tls:
        cert = result.tls.get("certificate", {})
        click.echo(f"  TLS: {result.tls.get('tls_version')} {result.tls.get('cipher', '')} "
                   f"{cert.get('subject', '')}")
    if result.ok:
        click.echo(str(_("Test passed: the test e-mail was sent to {to}.", to=result.recipient))
                   if not result.verify_only else str(_("Verification passed.")))
        if result.note:
            click.echo(str(result.note))
        for part in result.parts:  # the copy in Sent: a wrong IMAP setting shows at once
            click.echo("")
            click.echo(f"{part.title}:")
            _print_steps(part.steps)
            if part.ok:
                click.echo(str(part.note) if part.note else str(_("Passed.")))
            else:
                _print_failure(part.failed_step, part.explanation, None)
        return
    _print_failure(result.failed_step, result.explanation, labels)
    if result.offer_pin:
        click.echo(str(_("The server's certificate has the SHA-256 fingerprint {sha}. If you "
                         "trust it: falcana mail set LOGIN --pin-certificate {sha}",
                         sha=result.offer_pin["sha256"])))


@click.command("demo")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535))
@click.option("--smtp-port", default=8026, show_default=True, type=click.IntRange(1, 65535))
def demo(port: int, smtp_port: int) -> None:
    """Start the demo: SQLite, seeded users, a local SMTP sink, the web UI."""
    import os
    from pathlib import Path

    from falcana_smtp_settings.demo import run

    data = Path(os.environ.get("FALCANA_DATA_DIR") or "falcana-demo").absolute()
    run(port, smtp_port, data)


# the mailboxes' health is the core's (every transport's); admins look for it here too
mail.add_command(health_command)
