import falcana_bounces.models  # noqa: F401  (registers this plugin's tables)

from falcana_core.api import run_env

run_env()
