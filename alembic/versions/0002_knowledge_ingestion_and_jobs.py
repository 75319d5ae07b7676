"""knowledge ingestion and jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:59:44

Adds what ingestion and retrieval need (chunking settings, per-document counts, Q&A
vectors, the workspace storage quota) and installs the procrastinate job queue schema
(pinned procrastinate==3.10.0: a version bump must add procrastinate's own migration SQL
in a new revision).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    op.add_column("assistants", sa.Column("fallback_models", postgresql.JSONB(), nullable=True))
    op.add_column("assistants", sa.Column("chunk_max_tokens", sa.Integer(), nullable=False,
                                          server_default="300"))
    op.add_column("assistants", sa.Column("chunk_overlap_tokens", sa.Integer(), nullable=False,
                                          server_default="40"))
    op.add_column("knowledge_documents", sa.Column("chunk_count", sa.Integer(), nullable=False,
                                                   server_default="0"))
    op.add_column("knowledge_documents", sa.Column("token_count", sa.Integer(), nullable=False,
                                                   server_default="0"))
    op.add_column("qa_pairs", sa.Column("embedder", sqlmodel.sql.sqltypes.AutoString(length=120),
                                        nullable=False, server_default=""))
    op.add_column("qa_pairs", sa.Column("embedding", Vector(384), nullable=True))
    op.add_column("qa_pairs", sa.Column("tsv", postgresql.TSVECTOR(), nullable=True))
    op.create_index("ix_qa_pairs_embedding_hnsw", "qa_pairs", ["embedding"], unique=False,
                    postgresql_using="hnsw", postgresql_with={"m": 16, "ef_construction": 64},
                    postgresql_ops={"embedding": "vector_cosine_ops"})
    op.create_index("ix_qa_pairs_tsv", "qa_pairs", ["tsv"], unique=False, postgresql_using="gin")
    op.add_column("workspaces", sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=False,
                                          server_default=str(200 * 1024 * 1024)))
    op.create_index("ix_ai_usage_key_id_created_at", "ai_usage", ["key_id", "created_at"])
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE r record;
        BEGIN
          FOR r IN SELECT tablename FROM pg_tables
                   WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%'
          LOOP EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename); END LOOP;
          FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
          LOOP EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig); END LOOP;
          FOR r IN SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = current_schema() AND typname LIKE 'procrastinate%'
                     AND t.typtype IN ('e', 'c')
          LOOP EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname); END LOOP;
        END $$;
        """
    )
    op.drop_index("ix_ai_usage_key_id_created_at", table_name="ai_usage")
    op.drop_column("workspaces", "storage_quota_bytes")
    op.drop_index("ix_qa_pairs_tsv", table_name="qa_pairs")
    op.drop_index("ix_qa_pairs_embedding_hnsw", table_name="qa_pairs")
    op.drop_column("qa_pairs", "tsv")
    op.drop_column("qa_pairs", "embedding")
    op.drop_column("qa_pairs", "embedder")
    op.drop_column("knowledge_documents", "token_count")
    op.drop_column("knowledge_documents", "chunk_count")
    op.drop_column("assistants", "chunk_overlap_tokens")
    op.drop_column("assistants", "chunk_max_tokens")
    op.drop_column("assistants", "fallback_models")
