"""The reading measured on real reports: 337 recipients in 328 bounces and auto-replies of
sisimai's set-of-emails (BSD-2-Clause, tests/samples/README.md), from the servers our
users meet (Postfix, Exim, Sendmail, qmail, Exchange and Microsoft 365, Gmail and Google
Workspace, GMX, 1&1, Mimecast, standard DSNs, RFC 3834 auto-replies). The expected class
of each recipient is sisimai's reason mapped to ours (expected.tsv); where we read the
server's words otherwise, the file says why. Ordinary mail must never read as a report."""

from __future__ import annotations

import collections
import email
from pathlib import Path

import pytest
from falcana_bounces.reports import Kind, is_candidate, read_report

SAMPLES = Path(__file__).parent / "samples"
CLASSES = [k.value for k in Kind] + ["missing"]


def expected() -> list[tuple[str, str, set[str]]]:
    rows = []
    for line in (SAMPLES / "sisimai" / "expected.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        name, recipient, _reason, _status, wanted, _why = line.split("\t")
        rows.append((name, recipient.lower(), set(wanted.split("|"))))
    return rows


def aliases(raw: str) -> dict[str, str]:
    """Final-Recipient -> Original-Recipient: we report the address as it was sent."""
    found: dict[str, str] = {}
    block: dict[str, str] = {}
    for line in [*raw.splitlines(), ""]:
        field, _, value = line.partition(":")
        if field.lower() in ("final-recipient", "original-recipient") and ";" in value:
            block[field.lower()] = value.split(";", 1)[1].strip().strip("<>").lower()
        elif not line.strip():
            if len(block) == 2:
                found[block["final-recipient"]] = block["original-recipient"]
            block = {}
    return found


def confusion() -> tuple[collections.Counter[tuple[str, str]], int]:
    matrix: collections.Counter[tuple[str, str]] = collections.Counter()
    reports = {}
    not_reports = 0
    for name, recipient, wanted in expected():
        raw = (SAMPLES / "sisimai" / name).read_bytes()
        report = reports.setdefault(name, read_report(raw))
        findings = {f.recipient: f.kind.value for f in report.findings} if report else {}
        if wanted == {"-"}:  # not a report about that recipient
            assert recipient not in findings, name
            not_reports += 1
            continue
        got = findings.get(recipient) or findings.get(
            aliases(raw.decode("utf-8", "replace")).get(recipient, ""), "missing")
        want = got if got in wanted else sorted(wanted)[0]
        matrix[(want, got)] += 1
    return matrix, not_reports


def test_recipient_and_class_right_for_at_least_95_percent_of_the_corpus() -> None:
    matrix, not_reports = confusion()
    total = sum(matrix.values())
    right = sum(n for (want, got), n in matrix.items() if want == got)
    table = "\n".join(
        f"{want:>10} " + " ".join(f"{matrix[(want, got)]:>8}" for got in CLASSES)
        for want in CLASSES[:-1])
    print(f"\n{right}/{total} right ({right / total:.1%}); rows: expected, columns: "
          f"{' '.join(CLASSES)}\n{table}")
    assert total > 300 and not_reports == 2
    assert right / total >= 0.95, table
    # never a bounce where the recipient was reached or answered
    for wanted in ("auto_reply", "delivered"):
        assert all(matrix[(wanted, got)] == 0 for got in ("hard", "soft", "policy")), table


ORDINARY = sorted((SAMPLES / "ordinary").glob("*.eml"))


@pytest.mark.parametrize("path", ORDINARY, ids=[p.name for p in ORDINARY])
def test_ordinary_mail_is_never_a_report(path: Path) -> None:
    """Replies, newsletters, a postmaster's note, a forwarded report, "Urlaubsantrag",
    "Delivery Status Notification for order ...": no bounce, no auto-reply."""
    raw = path.read_bytes()
    assert read_report(raw) is None, path.name
    is_candidate(email.message_from_bytes(raw))  # may fetch the body; must not fail


def test_auto_replies_of_the_corpus_are_auto_replies_never_bounces() -> None:
    replies = [(n, r) for n, r, w in expected() if w == {"auto_reply"}]
    assert len(replies) == 6
    for name, _recipient in replies:
        report = read_report((SAMPLES / "sisimai" / name).read_bytes())
        assert report is not None and report.format == "auto_reply", name
        assert [f.kind for f in report.findings] == [Kind.AUTO_REPLY], name


GERMAN_NDR = """From: Microsoft Outlook <postmaster@firma.example>
To: =?utf-8?q?J=C3=BCrgen_M=C3=BC=C3=9Fig?= <vertrieb@firma.example>
Subject: Unzustellbar: Angebot 4711
Date: Fri, 04 Dec 2026 10:00:00 +0100
Message-ID: <ndr-de-1@firma.example>
Content-Language: de-DE
X-MS-Exchange-Message-Is-Ndr:
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:

kunde@example.org
Die eingegebene E-Mail-Adresse wurde nicht gefunden. Überprüfen Sie die E-Mail-Adresse
des Empfängers, und versuchen Sie dann erneut, die Nachricht zu senden.

Diagnoseinformationen für Administratoren:

Generierender Server: AM0PR01MB1234.eurprd01.prod.exchangelabs.com

kunde@example.org
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP
 address lookup'

Ursprüngliche Nachrichtenkopfzeilen:

Message-ID: <angebot-4711@firma.example>
"""


def test_a_report_in_german_from_exchange_online() -> None:
    """Microsoft 365's non-delivery report in German, as text only (no DSN part): the
    list below "Die Zustellung an folgende Empfänger ... ist fehlgeschlagen", the status
    from "Remote Server returned", the Message-ID of what was sent."""
    report = read_report(GERMAN_NDR.encode())
    assert report is not None
    assert [(f.recipient, f.kind, f.status) for f in report.findings] == [
        ("kunde@example.org", Kind.HARD, "5.1.10")]
    assert report.returned_ids == ("<angebot-4711@firma.example>",)
