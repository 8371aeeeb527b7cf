"""picks: a self-hosted, Amazon Personalize-compatible recommendation service.

This package is the shared runtime library: Lambda handlers, the local
emulator and the training entry points all import it.
"""
