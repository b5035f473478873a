"""The serverless target: the app's Lambda zip behind an API Gateway HTTP API.
See docs/serverless.md.

Where the whole slice lives, all here: `artifact.py` builds the zip (and hands it to the
proof's scan), `spec.py` holds what the stack and the sandbox share (names, the app's
environment), `component.py` declares the stack (`codedeploy.py` its gradual traffic
shifting, whose steps `traffic.py` defines for both; `mocks.py` answers it offline),
`sandbox.py` is `shipways up serverless`: the same zip under AWS's runtime client in a local
container (`images.py`, `docker/`) fronted by `runtime_api.py` (a test double of the Lambda
service and of API Gateway; `switch.py` and `shift.py` move the alias); `checks/` holds the
testinfra checks. The slice's entry in `infra/targets/registry.py` names these parts.
"""
