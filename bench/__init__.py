"""Benchmarks of the pipeline's own costs: ``python -m bench.run`` (see ``make bench``)."""
