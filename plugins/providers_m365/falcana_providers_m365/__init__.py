"""falcana plugin providers_m365 (see falcana_plugin.toml); its hooks are in .plugin."""
