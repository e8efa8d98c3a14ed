"""File imports (导入): regions, rosters of households and people, identities, enrolments.

Our own engine (see ARCHITECTURE.md "Known traps"): a set-based check of the whole file, then one bulk write
with history. Public API:

- run_import(job_or_file=…, kind=…, user=…, dry_run=…) → ImportResult
- start_import_job(kind=…, upload=…, user=…) → (ImportJob, dry-run ImportResult)
- start_import_job(…) returns None instead of a result when a big file is checked in the background
- confirm_import_job(job=…, user=…) → True when the import went to the background
- execute_check_job(job_id=…) / execute_import_job(job_id=…) → what the Celery tasks run
- is_checked(job) → the job's file passed its check and waits for confirmation
- template_workbook(kind, user) → .xlsx bytes
"""

from .columns import COLUMNS, PERMISSIONS
from .errors import RowError
from .service import (
    ImportResult,
    confirm_import_job,
    execute_check_job,
    execute_import_job,
    is_checked,
    may_import,
    run_import,
    start_import_job,
)
from .workbook import template_file_name, template_workbook

__all__ = [
    "COLUMNS",
    "PERMISSIONS",
    "ImportResult",
    "RowError",
    "confirm_import_job",
    "execute_check_job",
    "execute_import_job",
    "is_checked",
    "may_import",
    "run_import",
    "start_import_job",
    "template_file_name",
    "template_workbook",
]
