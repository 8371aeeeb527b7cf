"""The picks CDK app: one stack composed of one construct per capability.

Resources are derived from the declarations in ``picks.routes`` (functions,
HTTP routes) and ``picks.workflows.declaration`` (workflows, triggers), so the
deployed service and the local emulator cannot drift apart.
"""
