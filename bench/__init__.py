"""Benchmarks of the API, the trade desk and the batch loader (see README.md); figures only."""
