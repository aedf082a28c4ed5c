"""Reading reports: real bounces from GNU Mailman's corpus (flufl.bounce's test data,
Apache-2.0, tests/samples/README.md) and the formats our users meet, each with its
recipient, class and status; our RFC 3464 reading against flufl.bounce's on the same
DSNs; bad input that must not crash or mislead."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from falcana_bounces.reports import Kind, is_candidate, read_report
from flufl.bounce import all_failures

SAMPLES = Path(__file__).parent / "samples"

#: file, the recipient flufl.bounce's own tests expect, temporary (True) or permanent
CORPUS = [
    ("postfix_01.txt", "xxxxx@local.ie", False), ("postfix_02.txt", "yyyyy@digicool.com", False),
    ("postfix_03.txt", "ttttt@ggggg.com", False),
    ("postfix_04.txt", "userx@mail1.example.com", False),
    ("postfix_05.txt", "userx@example.net", False), ("exim_01.txt", "userx@its.example.nl", False),
    ("qmail_01.txt", "userx@example.de", False), ("qmail_02.txt", "userx@example.com", False),
    ("qmail_03.txt", "userx@example.jp", False),
    ("microsoft_01.txt", "userx@example.com", False),
    ("microsoft_02.txt", "userx@example.com", False),
    ("microsoft_03.txt", "userx@example.com", False),
    ("microsoft_04.txt", "userx@example.com", False),
    ("dsn_01.txt", "userx@example.com", False), ("dsn_02.txt", "zzzzz@example.uk", False),
    ("dsn_03.txt", "userx@example.be", False), ("dsn_04.txt", "userx@example.ch", False),
    ("dsn_05.txt", "userx@example.cz", True), ("dsn_06.txt", "userx@example.com", True),
    ("dsn_07.txt", "userx@example.nz", True), ("dsn_08.txt", "userx@example.de", True),
    ("dsn_09.txt", "userx@example.com", False), ("dsn_10.txt", "anne.person@dom.ain", False),
    ("dsn_11.txt", "joem@example.com", False), ("dsn_12.txt", "userx@example.jp", False),
    ("dsn_13.txt", "userx@example.com", False), ("dsn_14.txt", "userx@example.com.dk", False),
    ("dsn_15.txt", "userx@example.com", False), ("dsn_16.txt", "userx@example.com", False),
    ("dsn_17.txt", "userx@example.fi", True), ("dsn_18.txt", "email@replaced.net", False),
    ("simple_01.txt", "bbbsss@example.com", False), ("simple_02.txt", "userx@example.net", False),
    ("simple_04.txt", "userx@example.com", False), ("simple_08.txt", "userx@example.de", False),
    ("simple_09.txt", "userx@example.de", False), ("yahoo_01.txt", "userx@example.com", False),
    ("groupwise_01.txt", "userx@example.edu", False),
]


@pytest.mark.parametrize(("name", "recipient", "temporary"), CORPUS, ids=[c[0] for c in CORPUS])
def test_every_sample_gives_its_recipient_and_a_class(name: str, recipient: str,
                                                      temporary: bool) -> None:
    raw = (SAMPLES / name).read_bytes()
    assert is_candidate(email.message_from_bytes(raw))  # found from its headers alone
    report = read_report(raw)
    assert report is not None, name
    found = {f.recipient: f for f in report.findings}
    assert recipient in found, (name, found)
    kind = found[recipient].kind
    if temporary:
        assert kind in (Kind.DELAYED, Kind.SOFT), (name, kind)
    else:
        assert kind in (Kind.HARD, Kind.POLICY, Kind.SOFT), (name, kind)


def test_our_dsn_reading_agrees_with_flufl_bounce_and_says_more() -> None:
    """On the standard reports both find the same recipients; ours adds the status, the
    server's text and delayed versus failed."""
    compared = 0
    for name, recipient, temporary in CORPUS:
        raw = (SAMPLES / name).read_bytes()
        report = read_report(raw)
        if report is None or report.format != "dsn":
            continue
        flufl_temporary, flufl_permanent = all_failures(email.message_from_bytes(raw))
        theirs = {a.decode().lower() for a in (flufl_temporary if temporary
                                                else flufl_permanent)}
        ours = {f.recipient for f in report.findings}
        assert recipient in theirs and recipient in ours, name
        finding = next(f for f in report.findings if f.recipient == recipient)
        assert finding.status is not None, name  # what flufl.bounce does not give
        compared += 1
    assert compared >= 15  # most of the corpus's DSNs


def dsn(status: str, action: str = "failed", diagnostic: str = "",
        message_id: str = "<angebot-1@firma.example>", recipient: str = "kunde@example.org",
        subject: str = "Undelivered Mail Returned to Sender") -> bytes:
    return f"""From: MAILER-DAEMON@mail.firma.example (Mail Delivery System)
To: vertrieb@firma.example
Subject: {subject}
Date: Fri, 04 Dec 2026 10:00:00 +0100
Message-ID: <report-1@mail.firma.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=utf-8

This is the mail system at host mail.firma.example.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.firma.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--B
Content-Type: text/rfc822-headers

From: Vertrieb <vertrieb@firma.example>
To: {recipient}
Subject: Angebot
Message-ID: {message_id}

--B--
""".replace("\n", "\r\n").encode()


@pytest.mark.parametrize(("status", "action", "diagnostic", "kind"), [
    ("5.1.1", "failed", "550 5.1.1 <kunde@example.org>: Recipient address rejected: User "
     "unknown in local recipient table", Kind.HARD),
    ("5.1.10", "failed", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by "
     "SMTP address lookup", Kind.HARD),  # Microsoft 365
    ("5.4.4", "failed", "Host or domain name not found", Kind.HARD),
    ("5.2.2", "failed", "552 5.2.2 Mailbox full / Postfach voll", Kind.SOFT),
    ("4.2.2", "failed", "452 4.2.2 The email account that you tried to reach is over quota",
     Kind.SOFT),
    ("4.4.1", "delayed", "Connection timed out", Kind.DELAYED),
    ("5.7.1", "failed", "550 5.7.1 Message rejected as spam by Content Filtering",
     Kind.POLICY),
    ("5.7.233", "failed", "550 5.7.233 Your message can't be sent because your organization "
     "has exceeded the tenant's external recipient rate limit", Kind.POLICY),
    ("2.0.0", "delivered", "250 2.0.0 OK", Kind.DELIVERED),
])
def test_each_class_with_status_and_the_servers_text(status: str, action: str,
                                                     diagnostic: str, kind: Kind) -> None:
    report = read_report(dsn(status, action, diagnostic))
    assert report is not None and report.format == "dsn"
    [finding] = report.findings
    assert (finding.recipient, finding.kind, finding.status) == ("kunde@example.org", kind,
                                                                 status)
    assert finding.diagnostic.startswith(diagnostic[:20])  # "smtp;" taken off
    assert report.returned_ids == ("<angebot-1@firma.example>",)
    assert report.reported_at is not None and report.reported_at.utcoffset() is not None


def auto_reply(subject: str, headers: str = "Auto-Submitted: auto-replied\n") -> bytes:
    return (f"From: Klaus Kunde <kunde@example.org>\nTo: vertrieb@firma.example\n"
            f"Subject: {subject}\nDate: Fri, 04 Dec 2026 10:00:00 +0100\n"
            f"In-Reply-To: <angebot-1@firma.example>\n{headers}"
            "Content-Type: text/plain; charset=utf-8\n\nIch bin bis zum 2. Januar nicht im "
            "Büro.\n").encode()


@pytest.mark.parametrize(("subject", "headers"), [
    ("Abwesenheitsnotiz: Angebot", "Auto-Submitted: auto-replied\n"),
    ("Automatische Antwort: Angebot", "X-Auto-Response-Suppress: All\nX-Autoreply: yes\n"),
    ("Out of Office: Angebot", "Precedence: auto_reply\n"),
    ("Abwesenheitsnotiz: Angebot", ""),  # by its subject only
])
def test_an_out_of_office_answer_is_an_auto_reply_tied_by_in_reply_to(
        subject: str, headers: str) -> None:
    report = read_report(auto_reply(subject, headers))
    assert report is not None and report.format == "auto_reply"
    assert [(f.recipient, f.kind) for f in report.findings] == [("kunde@example.org",
                                                                Kind.AUTO_REPLY)]
    assert report.references == ("<angebot-1@firma.example>",)


def test_ordinary_mail_and_bad_input_are_no_reports() -> None:
    ordinary = (b"From: kunde@example.org\nTo: vertrieb@firma.example\nSubject: Re: Angebot"
                b"\nIn-Reply-To: <angebot-1@firma.example>\n\nDanke, passt.\n")
    assert not is_candidate(email.message_from_bytes(ordinary))
    assert read_report(ordinary) is None
    broken = (b"From: MAILER-DAEMON@x\nSubject: Undelivered\nContent-Type: multipart/report;"
              b" boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\n\x00\xff"
              b"Final-Recipient: ;;;\n--B")  # no closing boundary, garbage fields
    assert read_report(broken) is None or all("@" in f.recipient
                                               for f in read_report(broken).findings)
    assert read_report(b"\xff" * 100) is None
    assert read_report(dsn("5.1.1") + b"x" * (3 * 1024 * 1024)) is None  # over the size cap
