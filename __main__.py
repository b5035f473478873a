"""Pulumi's entry point for every stack: the program sits beside Pulumi.yaml.

The CLI starts the program and its dynamic providers (the VPS release, the k8s image load)
with this directory as their working directory, and finds the project's `.venv` here
(`toolchain: uv`), where `uv sync` puts it. Stack files live in `stacks/`.
"""

from infra.stack import main

main()
