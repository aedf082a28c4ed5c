"""falcana plugin smtp_settings (see falcana_plugin.toml); its hooks are in .plugin."""
