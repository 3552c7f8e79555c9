"""Tools that look at a file as bytes: ``inspect`` (what is where) and ``validate``."""
