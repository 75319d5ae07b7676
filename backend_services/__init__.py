"""Domain logic of ReplyX: pure async Python, no web framework, tested without Reflex.

- `core`: what every domain uses (settings, database, Redis, errors, the principal,
  security, events, jobs, metrics, mail, rate limits, audit, health). Imports no domain.
- `models`: every table (SQLModel), imported together so Alembic sees them all.
- `identity`: accounts and sessions, workspaces, team members, platform administration.
- `assistants`: a workspace's assistants and the industry templates they start from.
- `ai`: model providers: the key pool, failover and limits, pricing.
- `knowledge`: documents, ingestion, embeddings, retrieval, answer assembly.
- `conversations`: dialogs and messages on every channel, handoff to people, policy.
- `widget`: the website widget's settings and anonymous visitors.
- `channels`: messengers; today `channels.telegram`.

A domain may import `core`, `models` and domains listed above it; nothing here imports
`state`, `components`, `replyx_app` or `bot_fleet` (tests/unit/test_structure.py).
"""
