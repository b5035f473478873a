"""The `k8s` target: the app image, its Kubernetes objects (one source), their Pulumi stack,
and a local sandbox that runs the pod on Docker. See docs/k8s.md.

Where the whole slice lives, all here: `image.py` builds the app image (and is its artifact
for the proof's scan), `manifests.py` renders the objects once for both the stack and the
sandbox, `component.py` declares the stack (`mocks.py` answers it offline, `export.py` writes
the declared objects as YAML), `sandbox.py` with `pod.py` is `shipways up k8s`, `checks/`
holds the testinfra checks. The slice's entry in `infra/targets/registry.py` names these parts.
"""
