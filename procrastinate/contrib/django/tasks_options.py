"""The procrastinate options of Django tasks, which Django's API cannot express: the
job's lock, queueing lock and retry. They come, first set first used, from the call
(:func:`job_options`), from the task's entry in the backend's ``OPTIONS["TASKS"]``,
and from the backend's ``OPTIONS``.

A retry is stored with its job, as JSON (:data:`RetrySpec`), so that the worker
applies the retry chosen when the job was enqueued.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from procrastinate import exceptions, utils
from procrastinate import retry as retry_module

#: A retry as stored with a job: ``False``/``0`` (none), ``True`` (forever), an int
#: (that many immediate retries), or the fields of
#: :class:`~procrastinate.RetryStrategy` (``retry_exceptions`` as dotted paths).
RetrySpec: TypeAlias = "bool | int | dict[str, Any]"

JOB_OPTIONS = ("retry", "lock", "queueing_lock")
_STRATEGY_FIELDS = (
    "max_attempts",
    "wait",
    "linear_wait",
    "exponential_wait",
    "retry_exceptions",
)


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """
    The procrastinate options of a job; ``None``: not set here.

    :param retry: the retry, as stored (see :func:`retry_spec`).
    :param lock: no two jobs with this lock run at the same time.
    :param queueing_lock: no two jobs with this queueing lock wait at the same time.
    """

    retry: RetrySpec | None = None
    lock: str | None = None
    queueing_lock: str | None = None

    def over(self, other: JobOptions) -> JobOptions:
        """These options, with ``other``'s where these are not set."""
        return JobOptions(
            retry=other.retry if self.retry is None else self.retry,
            lock=other.lock if self.lock is None else self.lock,
            queueing_lock=(
                other.queueing_lock
                if self.queueing_lock is None
                else self.queueing_lock
            ),
        )


def _path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def retry_spec(value: Any) -> RetrySpec:
    """
    The stored form of a retry: a bool, an int, a
    :class:`~procrastinate.RetryStrategy` or a dict of its fields.

    :raises ValueError: anything else (e.g. another strategy class, which cannot be
        stored with a job), a negative int, an unknown field, an exception that cannot
        be imported.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"retry must be 0 or more, not {value}")
        return value
    if type(value) is retry_module.RetryStrategy:
        value = strategy_fields(value)
    if not isinstance(value, Mapping):
        raise ValueError(
            "retry must be a bool, an int, a procrastinate.RetryStrategy or a dict "
            f"of its fields, not {value!r}"
        )
    unknown = sorted(set(value) - set(_STRATEGY_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown retry field(s) {', '.join(unknown)}; known: "
            f"{', '.join(_STRATEGY_FIELDS)}"
        )
    spec = dict(value)
    if spec.get("retry_exceptions") is not None:
        spec["retry_exceptions"] = [
            kind if isinstance(kind, str) else _path(kind)
            for kind in spec["retry_exceptions"]
        ]
    retry_strategy(spec)
    return spec


def strategy_fields(strategy: retry_module.RetryStrategy) -> dict[str, Any]:
    """The fields of a :class:`~procrastinate.RetryStrategy`."""
    return {name: getattr(strategy, name) for name in _STRATEGY_FIELDS}


def _exception_class(path: str) -> type[BaseException]:
    try:
        kind = utils.load_from_path(path, type)
    except exceptions.LoadFromPathError as exc:
        raise ValueError(f"retry_exceptions: {exc}") from exc
    if not issubclass(kind, BaseException):
        raise ValueError(f"retry_exceptions: {path!r} is not an exception class")
    return kind


def retry_strategy(spec: RetrySpec | None) -> retry_module.BaseRetryStrategy | None:
    """
    The strategy of a stored retry; ``None``: no retry.

    :raises ValueError: an exception of ``retry_exceptions`` cannot be imported.
    """
    if not isinstance(spec, dict):
        return retry_module.get_retry_strategy(spec or False)
    fields = dict(spec)
    if fields.get("retry_exceptions") is not None:
        fields["retry_exceptions"] = [
            _exception_class(path) for path in fields["retry_exceptions"]
        ]
    return retry_module.RetryStrategy(**fields)


def job_options_of(options: Mapping[str, Any], where: str) -> JobOptions:
    """
    Validated job options.

    :param where: where they come from, for the error message.
    :raises ValueError: an unknown option, a bad retry, a lock that is not a string.
    """
    unknown = sorted(set(options) - set(JOB_OPTIONS))
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {', '.join(unknown)}; known: "
            f"{', '.join(JOB_OPTIONS)}"
        )
    for name in ("lock", "queueing_lock"):
        if options.get(name) is not None and not isinstance(options[name], str):
            raise ValueError(f"{where}: {name} must be a string, not {options[name]!r}")
    retry = options.get("retry")
    try:
        spec = None if retry is None else retry_spec(retry)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return JobOptions(
        retry=spec, lock=options.get("lock"), queueing_lock=options.get("queueing_lock")
    )


@dataclasses.dataclass(frozen=True)
class BackendOptions:
    """
    The ``OPTIONS`` of a backend: job options for every task, and per task.

    :param default: the options of every task.
    :param tasks: the options of each task, by module path.
    """

    default: JobOptions = JobOptions()
    tasks: Mapping[str, JobOptions] = dataclasses.field(default_factory=dict)

    def for_task(self, task_path: str) -> JobOptions:
        """The options of a task, the backend's where it sets none."""
        return self.tasks.get(task_path, JobOptions()).over(self.default)


def backend_options(options: Mapping[str, Any]) -> BackendOptions:
    """
    Parse a backend's ``OPTIONS``: ``retry``, ``lock``, ``queueing_lock``, and
    ``TASKS``, a dict of the same options by task module path.

    :raises ValueError: an unknown option, a bad value (the message says where).
    """
    per_task = options.get("TASKS") or {}
    if not isinstance(per_task, Mapping):
        raise ValueError(f"OPTIONS['TASKS'] must be a dict, not {per_task!r}")
    return BackendOptions(
        default=job_options_of(
            {name: value for name, value in options.items() if name != "TASKS"},
            "OPTIONS",
        ),
        tasks={
            path: job_options_of(task_options, f"OPTIONS['TASKS'][{path!r}]")
            for path, task_options in per_task.items()
        },
    )


_call_options: contextvars.ContextVar[JobOptions | None] = contextvars.ContextVar(
    "procrastinate_django_task_options", default=None
)


@contextlib.contextmanager
def job_options(
    *, retry: Any = None, lock: str | None = None, queueing_lock: str | None = None
) -> Iterator[None]:
    """
    Give the tasks enqueued in the block these procrastinate options, over those of
    the task and the backend (nested blocks add to the outer ones)::

        with job_options(lock=f"user-{user.pk}"):
            send_report.enqueue(user.pk)

    :param retry: a bool, an int, a :class:`~procrastinate.RetryStrategy` or a dict
        of its fields.
    :param lock: the jobs' lock.
    :param queueing_lock: the jobs' queueing lock.
    :raises ValueError: a bad retry, a lock that is not a string.
    """
    options = job_options_of(
        {"retry": retry, "lock": lock, "queueing_lock": queueing_lock}, "job_options"
    )
    token = _call_options.set(options.over(call_options()))
    try:
        yield
    finally:
        _call_options.reset(token)


def call_options() -> JobOptions:
    """The options of the enclosing :func:`job_options` blocks."""
    return _call_options.get() or JobOptions()
