"""Core: settings, app factory, database, Redis, auth, errors, money, clock, events, jobs, embedded services."""
