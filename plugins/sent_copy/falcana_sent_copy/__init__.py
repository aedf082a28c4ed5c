"""A copy of every sent mail in the mailbox's own Sent folder ("Kopie in Gesendet")."""
