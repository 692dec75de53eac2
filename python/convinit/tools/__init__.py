"""Tooling around the API: ``convinit bench`` (bench.py, bench_threads.py),
the layer lists of real networks it times (layers.py) and ``convinit demo``."""
