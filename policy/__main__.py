"""Entry point the Pulumi CLI runs: `pulumi preview --stack vps --policy-pack policy/`.

The CLI starts it with `python -m pulumi.policy` in this directory, using the interpreter of
the virtualenv named in PulumiPolicy.yaml (the project's `.venv`), where `policy` is
installed with the project: it shares its rules with the offline evaluator.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
