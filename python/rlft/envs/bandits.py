"""Placeholder: replaced by the env implementation."""
