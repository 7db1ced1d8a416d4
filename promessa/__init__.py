"""promessa: in-memory order promising and sourcing engine."""

__version__ = "0.1.0"
