"""What the stages share: the stages' parameters, tables, the model file, atomic writes, errors."""
