"""German mail providers for falcana mail (the plugin-author docs' worked example)."""
