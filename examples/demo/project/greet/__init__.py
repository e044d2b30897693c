"""Greetings, formal and casual."""
