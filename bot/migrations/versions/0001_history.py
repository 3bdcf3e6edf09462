"""The history as kqa kept it before migrations: conversations (with their door), turns, the
question log and feedback (one vote per answer and voter).

A SQLite file made by an earlier kqa already has these tables, perhaps without the columns added
since (conversations.door, feedback.voter): it is taken over as it is, the missing columns added
and filled in, nothing lost.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# An older conversation's door: the one its first question was logged with, else its id's form.
OLD_DOORS = """
UPDATE conversations SET door = COALESCE(
    (SELECT q.door FROM questions q WHERE q.conversation_id = conversations.id ORDER BY q.at LIMIT 1),
    CASE WHEN id LIKE 'slack:%' THEN 'slack' ELSE 'http' END)
WHERE door = ''
"""


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "conversations" not in tables:
        op.create_table(
            "conversations",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("created", sa.Double, nullable=False),
            sa.Column("updated", sa.Double, nullable=False),
            sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
            sa.Column("door", sa.Text, nullable=False))
    elif "door" not in {c["name"] for c in inspector.get_columns("conversations")}:
        # SQLite adds a NOT NULL column only with a default
        op.add_column("conversations", sa.Column("door", sa.Text, nullable=False, server_default=""))
    if "turns" not in tables:
        op.create_table(
            "turns",
            sa.Column("conversation_id", sa.Text, primary_key=True),
            sa.Column("n", sa.Integer, primary_key=True),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("terms", sa.Text, nullable=False),
            sa.Column("answer_id", sa.Text, nullable=False),
            sa.Column("at", sa.Double, nullable=False))
    if "questions" not in tables:
        op.create_table(
            "questions",
            sa.Column("answer_id", sa.Text, primary_key=True),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("asked", sa.Text, nullable=False),
            sa.Column("refused", sa.Integer, nullable=False),
            sa.Column("top_score", sa.Double, nullable=False),
            sa.Column("door", sa.Text, nullable=False),
            sa.Column("conversation_id", sa.Text),
            sa.Column("context_terms", sa.Text, nullable=False),
            sa.Column("at", sa.Double, nullable=False))
    if "feedback" not in tables:
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("answer_id", sa.Text, nullable=False),
            sa.Column("rating", sa.Text, sa.CheckConstraint("rating IN ('up', 'down')"), nullable=False),
            sa.Column("comment", sa.Text),
            sa.Column("at", sa.Double, nullable=False),
            sa.Column("voter", sa.Text),  # NULL: a vote from before voters were recorded, one of its own
            sqlite_autoincrement=True)  # a deleted vote's id is never given again
    elif "voter" not in {c["name"] for c in inspector.get_columns("feedback")}:
        op.add_column("feedback", sa.Column("voter", sa.Text))
    op.execute(OLD_DOORS)
    op.create_index("conversations_updated", "conversations", ["updated"], if_not_exists=True)
    op.create_index("questions_at", "questions", ["at"], if_not_exists=True)
    op.create_index("questions_asked", "questions", ["asked"], if_not_exists=True)
    op.create_index("feedback_answer", "feedback", ["answer_id"], if_not_exists=True)
    op.create_index("feedback_vote", "feedback", ["answer_id", "voter"], unique=True, if_not_exists=True)


def downgrade() -> None:
    for table in ("feedback", "questions", "turns", "conversations"):
        op.drop_table(table)
