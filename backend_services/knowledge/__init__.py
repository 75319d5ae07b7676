"""A workspace's knowledge and the answers grounded in it.

- `safety` → `extract` → `chunking`: upload checks, structure-aware extraction, chunks;
  pure Python, so workers and tests call them directly.
- `sources`: documents and Q&A pairs of an assistant. `web`: pages fetched from a site.
- `ingest`: the ingestion job. `indexing`: writing chunks and vectors.
- `embeddings`: the local model or an OpenAI-compatible endpoint.
- `retrieval`: hybrid search. `answers`: grounded answers (model or extractive).
- `upkeep`: scheduled requeue and re-embedding.
"""
