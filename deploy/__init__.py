"""The program's entry and the local stack.

The `bilten` command line, `bilten up` (supervised hub and workers on
embedded or external servers), the embedded NATS, PostgreSQL and Redis, and
the demo event. It may import every other package; none imports it.
"""
