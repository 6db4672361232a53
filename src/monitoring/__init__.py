"""Monitoring: drift of new drops against the model's reference, the retrain decision, moving the training window."""
