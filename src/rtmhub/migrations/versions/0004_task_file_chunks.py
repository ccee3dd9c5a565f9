"""task files stored in chunks, with their size and deletion time on the task

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rtmhub.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

CHUNK_BYTES = 1_048_576  # as rtmhub.domain.tasks.models.CHUNK_BYTES when this revision was written


def upgrade() -> None:
    op.create_table(
        'task_file_chunks',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_file_chunks_task_id_tasks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id', 'seq', name=op.f('pk_task_file_chunks')),
    )
    # Plain ADD COLUMN (SQLite supports it with a constant default): a batch copy of `tasks` would drop and
    # recreate the table, which cascades to its rows on a connection with foreign keys on.
    op.add_column('tasks', sa.Column('file_bytes', sa.Integer(), server_default='0', nullable=False))
    op.add_column('tasks', sa.Column('file_deleted', rtmhub.db.UTCDateTime(timezone=True), nullable=True))
    # Existing files into chunks, one file in memory at a time; the old table goes (decision 24).
    bind = op.get_bind()
    files = sa.table('task_files', sa.column('task_id', sa.String), sa.column('content', sa.LargeBinary))
    chunks = sa.table('task_file_chunks', sa.column('task_id', sa.String), sa.column('seq', sa.Integer),
                      sa.column('data', sa.LargeBinary))
    tasks = sa.table('tasks', sa.column('id', sa.String), sa.column('file_bytes', sa.Integer))
    for task_id in bind.execute(sa.select(files.c.task_id)).scalars().all():
        content = bytes(bind.execute(sa.select(files.c.content).where(files.c.task_id == task_id)).scalar_one())
        for seq, start in enumerate(range(0, len(content), CHUNK_BYTES)):
            bind.execute(chunks.insert().values(task_id=task_id, seq=seq, data=content[start:start + CHUNK_BYTES]))
        bind.execute(tasks.update().where(tasks.c.id == task_id).values(file_bytes=len(content)))
    op.drop_table('task_files')


def downgrade() -> None:
    op.create_table(
        'task_files',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_files_task_id_tasks'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id', name=op.f('pk_task_files')),
    )
    bind = op.get_bind()
    files = sa.table('task_files', sa.column('task_id', sa.String), sa.column('content', sa.LargeBinary))
    chunks = sa.table('task_file_chunks', sa.column('task_id', sa.String), sa.column('seq', sa.Integer),
                      sa.column('data', sa.LargeBinary))
    for task_id in bind.execute(sa.select(chunks.c.task_id).distinct()).scalars().all():
        parts = bind.execute(sa.select(chunks.c.data).where(chunks.c.task_id == task_id)
                             .order_by(chunks.c.seq)).scalars().all()
        bind.execute(files.insert().values(task_id=task_id, content=b"".join(bytes(p) for p in parts)))
    op.drop_table('task_file_chunks')
    # Plain DROP COLUMN (SQLite 3.35+), for the same reason as in upgrade().
    op.drop_column('tasks', 'file_deleted')
    op.drop_column('tasks', 'file_bytes')
