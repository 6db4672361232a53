"""The pipeline's stages, one module per stage of dvc.yaml: pure functions and a thin main()."""
