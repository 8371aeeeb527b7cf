"""Powertools logger, tracer and metrics, instantiated once and shared by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="picks")
tracer = Tracer(service="picks")
metrics = Metrics(namespace="picks", service="picks")
