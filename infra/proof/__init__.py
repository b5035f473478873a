"""`shipways proof`: evidence across targets beyond the HTTP contract.

- `policies`  the policy pack's rules over every stack's offline resource graph, and proof
              that deliberately bad stacks and resources are caught;
- `badconfig` wrong or missing config values rejected before any resource is declared;
- `hygiene`   artifacts (wheelhouse, Lambda zip, image, PaaS bundle) scanned for secrets,
              `.env` files, private keys, tests and VCS data;
- `audit`     the app's locked requirements checked for known vulnerabilities;
- `fuzz`      property-based API tests from the app's OpenAPI schema on each local target;
- `faults`    the local VPS under faults: killed master, restarted host, database down;
- `runner`    runs them all and prints one summary table.
"""
