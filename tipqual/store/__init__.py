"""The study store: the only code that talks to SQLite."""
