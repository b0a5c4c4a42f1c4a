"""leaksift: tell which files in a leaked dump are provably authentic, consistent, or tampered."""

__version__ = "0.1.0"
