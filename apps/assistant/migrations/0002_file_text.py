"""The text of clean files for the assistant: `FileText` and `FilePassage`, and on PostgreSQL the
passages' search vector (the message search's function, `enclave_search_vector`: CJK bigrams
and English stems) as a stored generated column under a GIN index. The table is new and empty,
so the column and the index cost nothing to add. Other databases search by substring.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


# Frozen copies (a migration never imports live code); apps/assistant/selectors.py matches
# `search_vector` with the message search's `query_text`.
PASSAGE_VECTOR_SQL = (
    "ALTER TABLE assistant_filepassage ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (enclave_search_vector(text)) STORED"
)
# No pending list (fastupdate off): passages are written by a Celery task, where the index's own
# inserts cost nothing anyone waits for, while a pending list is scanned whole by every search
# and made the planner cost the index above a sequential scan (20,000 passages: a search for
# a missing word 95 ms by the scan, 0.03 ms by the index once the list was merged).
PASSAGE_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS assistant_filepassage_search ON assistant_filepassage "
    "USING gin (search_vector) WITH (fastupdate = off)"
)


def create_vector(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PASSAGE_VECTOR_SQL)
        schema_editor.execute(PASSAGE_INDEX_SQL)


def drop_vector(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS assistant_filepassage_search")
        schema_editor.execute(
            "ALTER TABLE assistant_filepassage DROP COLUMN IF EXISTS search_vector"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0001_initial"),
        ("files", "0002_attachment_name_search_index"),
        ("search", "0001_message_search_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="FileText",
            fields=[
                (
                    "attachment",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="files.attachment",
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("ready", "Indexed"),
                            ("unreadable", "Could not be read"),
                            ("too_large", "Too large to read"),
                        ],
                        max_length=12,
                        verbose_name="state",
                    ),
                ),
                (
                    "char_count",
                    models.PositiveIntegerField(default=0, verbose_name="characters kept"),
                ),
                ("truncated", models.BooleanField(default=False, verbose_name="cut at the limit")),
                ("error", models.CharField(blank=True, max_length=200, verbose_name="error")),
                ("indexed_at", models.DateTimeField(auto_now=True, verbose_name="indexed at")),
            ],
            options={
                "verbose_name": "file text",
                "verbose_name_plural": "file texts",
            },
        ),
        migrations.AddField(
            model_name="assistantcall",
            name="retrieved_sources",
            field=models.JSONField(
                blank=True, default=list, verbose_name="other retrieved sources"
            ),
        ),
        migrations.AlterField(
            model_name="assistantcall",
            name="capability",
            field=models.CharField(
                choices=[
                    ("question", "Question"),
                    ("summary", "Summary"),
                    ("draft", "Draft a reply"),
                    ("translate", "Translation"),
                    ("helpdesk", "Help-desk answer"),
                ],
                max_length=12,
                verbose_name="capability",
            ),
        ),
        migrations.CreateModel(
            name="FilePassage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveIntegerField()),
                ("text", models.TextField()),
                (
                    "attachment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="files.attachment",
                    ),
                ),
            ],
            options={
                "ordering": ["attachment", "position"],
            },
        ),
        migrations.RunPython(create_vector, drop_vector),
    ]
