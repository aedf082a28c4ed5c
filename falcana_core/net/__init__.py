"""The outgoing-connection gate: every connection the host or a plugin opens goes through
it. The deployment's destination policy (``policy``), checked on every address a name
resolves to; the one trust store; a deadline the watchdog enforces (``watchdog``) and a
stop that aborts what is open (``cancellation``); a size limit on what is read
(``guard``); and the HTTP client built of them (``http``). Plugins reach it through
``falcana_core.api.net``."""
