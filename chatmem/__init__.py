"""chatmem: a terminal chat app that remembers you."""

__version__ = "0.1.0"
