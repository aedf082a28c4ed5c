"""falcana plugin providers_gmail (see falcana_plugin.toml); its hooks are in .plugin."""
