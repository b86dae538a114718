"""The plumbing every test suite shares, written once.

- :mod:`.databases`: create, clone, empty and drop test databases; the environment
  and connection strings that point at one; what the server says about its sessions.
- :mod:`.waiting`: wait for a condition, async or sync, failing with what was awaited.
- :mod:`.jobs`: build :class:`~procrastinate.jobs.Job` objects for the manager, or
  defer the jobs of a tasks module through an app.
- :mod:`.workers`: run an in-process worker for the duration of a block.
- :mod:`.commands`: run the ``procrastinate`` command and background workers in
  subprocesses.
- :mod:`.records`: read what the workers did from the database (jobs, task events).

The conftests of the suites declare fixtures over these helpers; tests import the
helpers (or their types) from here, never from a conftest.
"""
