"""Starting a Celery task from a service, by the task's registered name.

The tasks (enrollment/tasks.py) are thin wrappers that import the services; a service that imported the tasks
back to start one would close a loop. Looked up by name in the Celery app's registry instead, the task still runs
in-process on the embedded default (always-eager) and on a worker otherwise.
"""

from celery import current_app
from django.db import transaction


def start_after_commit(task_name: str, *args) -> None:
    """Send the task once the current transaction commits, so the worker finds the rows it is handed."""
    def send():
        current_app.tasks[task_name].delay(*args)

    send.task_name = task_name  # which task a pending on_commit callback starts (tests count them)
    transaction.on_commit(send)
