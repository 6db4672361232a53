"""Using the model: batch scoring of schedule drops and an HTTP scoring service (docs/serving.md)."""
