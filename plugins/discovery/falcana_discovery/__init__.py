"""Finding a mailbox's server settings from its address ("Einstellungen ermitteln")."""
