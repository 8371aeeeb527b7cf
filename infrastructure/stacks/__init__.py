"""Stacks compose constructs and own cross-cutting concerns: grants, outputs, tags, nag acknowledgments."""
