"""Getting messages out: the outbox rows, the worker that sends them and the platforms' rate limits."""
