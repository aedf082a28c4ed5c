import falcana_smtp_settings.models  # noqa: F401  (registers this plugin's tables)

from falcana_core.migrate import run_env

run_env()
