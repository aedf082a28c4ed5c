"""Unzustellbare E-Mails: what became of a mail after the server accepted it.

A mail sent through the user's own mailbox has its delivery reports (bounces) and
auto-replies come back to that mailbox's inbox, where the CRM never looks. This plugin
reads the inbox (read-only, only what is new, only what can be a report), reads each
report, ties it to the message this mailbox sent, and records the recipient's outcome in
the outbox; the host application hears of it through the hooks ``message_bounced`` and
``message_auto_replied``.
"""
