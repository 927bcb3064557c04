"""The Python SDK users write against."""
