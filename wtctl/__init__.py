"""wtctl: the client of wtd (one-shot command line, REPL, hook)."""
