"""Live conversations, channel-agnostic: dialogs and messages, handing them between the AI
and people, the handoff policy, operator presence, canned responses, and dialog events.

Modules: `actors` (who talks), `dialogs` (messages, history, console lists), `turns` (a
visitor's message through rate limits, policy and the AI), `handoff` (state changes,
timeout, SLA), `policy`, `presence`, `canned`, `events`, `snapshots` (fresh reads for the
live views), `timeouts` (the periodic job). `store`, `views`, `sql`, `texts` are shared
internals.
"""
