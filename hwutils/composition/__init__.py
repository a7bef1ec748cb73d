"""Notebook 07: composing parameter-efficient modules with arithmetic."""
