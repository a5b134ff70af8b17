"""Helpers every kind of test shares: the small practice most tests run (its people, its slot and its
config.yaml), and a builder that writes that config with changes. Fixtures built on them (``clock``) are in
tests/conftest.py; the fakes are in tests/fakes/."""
