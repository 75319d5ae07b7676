"""What every domain uses; imports no domain module.

- `settings`: the one place configuration is read. `db`, `redis_client`: connections.
- `errors`: domain errors with user-fit messages. `principal`: who is acting.
  `scoped`: loading a row by id in the principal's workspace, or not found.
- `security`: passwords, tokens, secrets at rest. `audit`: the audit trail.
- `events`: typed events over Redis pub/sub and Streams.
- `jobs`: the durable job registry (procrastinate); domains register their tasks.
- `process_loop`, `heartbeats`, `health`, `metrics`: running and watching processes.
- `migrations`: Alembic from code. `embedded_servers`: PostgreSQL and Valkey for one machine.
- `mailer`: outgoing e-mail. `ratelimit`, `bans`, `client_ip`: abuse protection.
- `outages`: telling an infrastructure failure from bad input. `text_safety`: text
  PostgreSQL cannot store. `literals`: stored strings narrowed to status/mode `Literal`s.
"""
