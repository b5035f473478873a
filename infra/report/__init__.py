"""Comparing the targets: the comparison data, its terminal table, the HTML report and the docs.

Dependencies point one way. The data model (`model`, with `metrics`, `facts`) holds what a
comparison is; the builders (`costs`, `figures`, `measurements`, `guide`) compute its parts
and `build` makes it once, whole; the renderers (`table`, `html` with `charts`, `markdown`,
`plan_tree`) only present it, so the terminal, the report and the docs show the same numbers.
`docs` rewrites the figures in docs/*.md.
"""
