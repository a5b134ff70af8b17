"""The one wiring place: builds the runtime with its collaborators for run, demo, admin commands and tests."""
