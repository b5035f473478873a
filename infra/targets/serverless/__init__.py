"""The serverless target: the app's Lambda zip behind an API Gateway HTTP API.

`artifact` builds the zip, `component` declares the stack, `sandbox` runs the same zip under
AWS's runtime client in a local container fronted by `runtime_api` (a test double of the
Lambda service and of API Gateway).
"""
