"""gridbot's domain: the org snapshot, tickets, the SLA and the decisions handlers take.

Pure data and rules. Nothing here reads a database, a clock or the network, and nothing
here imports the rest of gridbot: handlers depend on the domain, storage and the server
depend on both.
"""
