from falcana_core.migrate import run_env

run_env()
