"""Every migration goes up and down cleanly on real PostgreSQL, one step at a time."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, inspect

from backend_services.core import migrations
from backend_services.core.db import sync_url
from backend_services.core.embedded_servers import EmbeddedPostgres
from tests.conftest import TEST_DIR


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_each_migration_upgrades_and_downgrades(services: dict[str, str]) -> None:
    external = os.environ.get("TEST_MIGRATIONS_DATABASE_URL")
    pg = None
    if external:
        url = external
    else:
        pg = EmbeddedPostgres(TEST_DIR / "postgres", stop_on_exit=True)
        pg.start()
        url = pg.ensure_database(f"replyx_migrations_{os.getpid()}", recreate=True)
    try:
        revisions = migrations.all_revisions()
        assert revisions, "no migrations found"
        seen: list[set[str]] = []
        for rev in revisions:
            migrations.upgrade(url, rev)
            assert migrations.current_revision_sync(url) == rev
            seen.append(_tables(url))
        assert {"workspaces", "users", "sessions", "assistants", "knowledge_chunks",
                "audit_log", "ledger_entries"} <= seen[-1]
        for i in range(len(revisions) - 1, -1, -1):
            target = revisions[i - 1] if i > 0 else "base"
            migrations.downgrade(url, target)
            expected = seen[i - 1] if i > 0 else set()
            assert _tables(url) == expected
        assert migrations.current_revision_sync(url) is None
        migrations.upgrade(url)
        assert migrations.current_revision_sync(url) == migrations.head_revision()
    finally:
        if pg is not None:
            pg.drop_database(f"replyx_migrations_{os.getpid()}")


def test_there_is_one_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config("postgresql://x@h/x"))
    assert len(script.get_heads()) == 1


def test_schema_has_the_vector_and_full_text_indexes(services: dict[str, str]) -> None:
    engine = create_engine(sync_url(services["DATABASE_URL"]))
    try:
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("knowledge_chunks")}
    finally:
        engine.dispose()
    assert "ix_knowledge_chunks_embedding_hnsw" in indexes
    assert "ix_knowledge_chunks_tsv" in indexes


def test_every_tenant_table_carries_workspace_id(services: dict[str, str]) -> None:
    platform_tables = {"workspaces", "users", "auth_tokens", "prices", "billing_tariffs",
                       "payment_notifications", "analytics_marks",
                       "ai_provider_keys", "platform_settings", "system_samples",
                       "alembic_version", "audit_log"}
    # The job queue's own tables (procrastinate) carry task arguments, not tenant rows.
    platform_tables |= {"procrastinate_jobs", "procrastinate_events", "procrastinate_workers",
                        "procrastinate_periodic_defers"}
    engine = create_engine(sync_url(services["DATABASE_URL"]))
    try:
        insp = inspect(engine)
        missing = [
            t for t in insp.get_table_names()
            if t not in platform_tables
            and "workspace_id" not in {c["name"] for c in insp.get_columns(t)}
        ]
    finally:
        engine.dispose()
    assert missing == []


def test_the_tables_the_code_declares_are_the_tables_the_migrations_build(
    services: dict[str, str],
) -> None:
    """A model changed without a migration (or a migration without the model) would run
    against a schema the code does not expect: compare the two as Alembic's autogenerate
    would, on the database the suite migrated to head."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import backend_services.models  # noqa: F401  (registers every table on the metadata)

    engine = create_engine(sync_url(services["DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()
    ours = [repr(d) for d in diff if "procrastinate" not in repr(d)]
    assert ours == [], "\n".join(ours)


def test_template_guidance_hidden_before_0026_becomes_part_of_the_prompt(
    services: dict[str, str],
) -> None:
    """An assistant whose industry template used to be added unseen at answer time keeps
    that guidance, now in its own prompt where the tenant sees it; other prompts are
    left as they were, and running the step twice adds nothing twice."""
    from sqlalchemy import text

    pg = EmbeddedPostgres(TEST_DIR / "postgres", stop_on_exit=True)
    pg.start()
    name = f"replyx_migration_0026_{os.getpid()}"
    url = pg.ensure_database(name, recreate=True)
    engine = create_engine(sync_url(url))
    try:
        migrations.upgrade(url, "0025")
        with engine.begin() as conn:
            ws = conn.execute(text("INSERT INTO workspaces (name, currency, is_demo) "
                                   "VALUES ('W', 'USD', false) RETURNING id"))
            wid = ws.scalar_one()
            for assistant, prompt, industry in (("clinic", "You are Dr. Who's helper.",
                                                 "healthcare"),
                                                ("blank", "", "healthcare"),
                                                ("plain", "Be brief.", "general")):
                conn.execute(text(
                    "INSERT INTO assistants (workspace_id, name, system_prompt, industry, model, "
                    "temperature, language, greeting, is_active, chunk_max_tokens, "
                    "chunk_overlap_tokens) VALUES (:w, :n, :p, :i, 'gpt-4o-mini', 0.3, 'en', "
                    "'', true, 300, 40)"), {"w": wid, "n": assistant, "p": prompt,
                                            "i": industry})
        migrations.upgrade(url, "0026")
        migrations.downgrade(url, "0025")
        migrations.upgrade(url, "0026")  # again: the text is there already, not added twice
        with engine.connect() as conn:
            prompts = dict(conn.execute(text("SELECT name, system_prompt FROM assistants")).all())
        guidance = "You support patients of a clinic"
        assert prompts["clinic"].startswith("You are Dr. Who's helper.\n\n" + guidance)
        assert prompts["clinic"].count(guidance) == 1
        assert prompts["blank"].startswith(guidance)
        assert prompts["plain"] == "Be brief."
    finally:
        engine.dispose()
        pg.drop_database(name)
