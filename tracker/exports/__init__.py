"""Exports of the sighting log: CSV, GeoJSON, effort, Camtrap DP and capture histories.

`core` holds the filters and options every format shares, `formats` the list of formats and
`run_export`; each format has its module.
"""
