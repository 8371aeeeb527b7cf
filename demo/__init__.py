"""Demo data for picks: a synthetic retail catalog and a loader that imports it.

``demo.synthetic`` generates the data (no network, no third-party datasets);
``demo.load`` pushes it into a running server with stock boto3 clients.
"""
