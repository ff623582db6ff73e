"""A static site generator for news explainers whose every claim is tied to its sources."""

__version__ = "0.1.0"
