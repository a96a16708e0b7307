"""Settings and the catalog: everything Confide reads before it starts."""
