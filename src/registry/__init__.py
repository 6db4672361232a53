"""The model registry: versions and stages as GTO git tags, model cards, releases (docs/registry.md)."""
