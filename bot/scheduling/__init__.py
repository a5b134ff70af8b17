"""When to ask: each client's slots, the APScheduler timer and the database-driven dispatcher."""
