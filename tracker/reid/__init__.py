"""Photo-ID assistant: which known leopard is this, ranked by its rosettes.

`features` describes the coat inside an animal box, `matcher` ranks the catalogue's
individuals for a query box. Both run without Flask or a database.
"""
