"""Pure functions that turn workflow results into Block Kit. No I/O here."""
