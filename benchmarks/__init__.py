"""Benchmarks: each module has a ``main()``, plain or async, that prints one JSON line (``make bench``)."""
