"""The application layer for tasks: it owns its units of work; the rules it applies live in the domain.

- ``runner``: claims tasks (row locks, R14), runs CSV previews and imports in batches, resumes after a crash.
- ``worker``: ``Worker``, the loop around the runner (an in-process thread, or `rtmhub worker` processes).
- ``imports``: ``submit_import``, which opens and checks the file, then queues the task.
- ``exports``: the user export and a task's error report, streamed from the database.
"""
