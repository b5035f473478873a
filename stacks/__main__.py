"""Pulumi's entry point for every stack (`main: stacks/` in Pulumi.yaml)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.stack import main

main()
