"""Comparing the targets: the comparison data, its terminal table, the HTML report and the docs.

`compare.build()` gathers everything (cost estimates and break-evens from `infra.cost`,
measured figures from `infra.results`, recipe facts, the guide); `table`, `html` and `docs`
only present it, so the terminal, the report and the docs always show the same numbers.
"""
