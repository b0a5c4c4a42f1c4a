"""Reference tables shipped with leaksift (read with importlib.resources)."""
