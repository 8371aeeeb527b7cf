"""Training: SageMaker-contract entry point (``training.train``), recipes, holdout evaluation.

Heavy libraries (scipy, implicit, torch) are imported here only, never by the Lambda runtime.
"""
