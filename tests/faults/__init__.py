"""Fault tests: gridbot as it runs in production (`gridbot serve` processes, a private
PostgreSQL cluster and Redis server), messages posted the way a group-chat bridge posts them,
faults injected into the services around it, and a count of what went in and what came out.

- `services.py`: `PrivatePostgres`, `PrivateRedis`, `GridbotProcess` (start, kill -9, stop,
  restart, its log).
- `load.py`: messages whose outcome is known (a repair request per sender) and `post`, the
  load generator that records every answer.
- `ledger.py`: `settle` (wait until every message is decided and every send done), `count`
  (the ledger: sent, answered, stored, tickets, follows, outbox rows, replies, pushes, and
  the ids of whatever was lost or doubled), `in_flight` and the server log's errors.

Each test asserts 0 lost and 0 doubled and prints its ledger (`pytest tests/faults -s`).
"""
