"""Flight-delay experiment pipeline: one module per DVC stage (see dvc.yaml)."""
