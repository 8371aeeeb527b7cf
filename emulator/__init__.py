"""The local emulator: one port serving S3 (moto) and the three Personalize APIs.

It runs the same Lambda handlers and workflow steps that run on AWS; only the
clients differ (moto-backed, in-process) and Step Functions is replaced by
``emulator.workflow_runner.LocalWorkflowRunner`` walking the same declaration.
"""

import os as _os

# As on Lambda (infrastructure/constructs/functions.py): one BLAS thread per request, set before
# numpy is first imported.  Training subprocesses get their own setting (implicit parallelises).
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
