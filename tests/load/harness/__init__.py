"""End-to-end WebSocket load harness for Enclave (issue "Performance", deliverable 1).

Run it as a module from the repository root::

    .venv/bin/python -m tests.load.harness --users 2000 --room-size 10 --rate 500 \
        --duration 60 --servers 2

It prepares users, rooms and API tokens in a dedicated PostgreSQL database, starts the server
topology (daphne or uvicorn processes sharing one port through SO_REUSEPORT), opens one
authenticated socket per user from several generator processes, sends `message.send` at a fixed
aggregate rate, prints one JSON summary and audits the delivery guarantee
(docs/architecture/realtime.md) against PostgreSQL. See docs/performance.md. Nothing here is
collected by pytest.
"""
