"""Algorithmic tasks whose targets come from running the library's Turing machines."""
