"""The web UI: `kubeline ui` serves runs and pipelines, from the cluster or the local runner."""
