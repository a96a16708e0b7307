"""Wiring: the Bolt app, the HTTP server, Socket Mode, the outbox deliverer, the scheduler and the CLI."""
