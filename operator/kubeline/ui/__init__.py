"""The web UI: `kubeline ui` and `kubeline run --ui` (see app.py)."""
