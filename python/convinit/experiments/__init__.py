"""The source texts' experiments, each runnable as ``convinit experiment NAME``."""
