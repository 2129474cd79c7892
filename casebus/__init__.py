"""casebus: the event backbone of the MASTER KEY Asia rare-cancer registry and trial network."""

__version__ = "0.1.0"
