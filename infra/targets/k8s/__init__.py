"""The `k8s` target: the app image, its Kubernetes objects (one source), their Pulumi stack,
and a local sandbox that runs the pod on Docker. See docs/k8s.md."""
