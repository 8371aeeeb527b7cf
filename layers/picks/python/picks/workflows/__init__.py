"""Workflows: declared once, run by Step Functions on AWS and in-process locally."""
