"""The local emulator: one port serving S3 (moto) and the three Personalize APIs.

It runs the same Lambda handlers and workflow steps that run on AWS; only the
clients differ (moto-backed, in-process) and Step Functions is replaced by
``picks.workflows.local_runner.LocalWorkflowRunner`` walking the same declaration.
"""
