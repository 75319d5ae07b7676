"""AI providers for any OpenAI-compatible endpoint.

- `pool`: who answers (the key pool), failover, limits, streaming chat.
- `keys`: provider key management (admin panel). `errors`: what a failed call raises.
- `pricing`: what a call costs.
"""
