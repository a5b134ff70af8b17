"""The schema revision a fully upgraded database must report: the newest file in the migrations folder.

Tests compare what the database says against this instead of a written-out number, so adding a migration does
not mean editing every test that checks an upgrade reached the end; a chain that does not end in one head fails
here, at import.
"""

from __future__ import annotations

from alembic.script import ScriptDirectory

from bot.store.database import alembic_config

_head = ScriptDirectory.from_config(alembic_config()).get_current_head()
assert _head is not None, "the migrations folder has no single head"
HEAD_REVISION: str = _head
