# Development image for Procrastinate, used by the `procrastinate` service of
# docker-compose.yml.  The repository is mounted on /src at run time, and the
# editable install below makes that mounted code the one that runs.
FROM python:3.12-slim-bookworm

# The host user's ids (see HOST_UID/HOST_GID in dev-env), so that files the
# container writes in the mounted repository belong to that user.
ARG HOST_UID=1000
ARG HOST_GID=1000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# psycopg (without the binary extra) needs the system libpq.  The Debian
# version is left to the pinned bookworm base: pinning it would break the
# build at each security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

# Reuse ids that already exist in the image (e.g. root, or a macOS group id
# that Debian also uses) instead of failing on them.
RUN (getent group "${HOST_GID}" || groupadd --gid "${HOST_GID}" procrastinate) \
    && (getent passwd "${HOST_UID}" \
        || useradd --uid "${HOST_UID}" --gid "${HOST_GID}" --create-home procrastinate)

WORKDIR /src

COPY pyproject.toml README.md LICENSE ./
COPY procrastinate ./procrastinate
COPY procrastinate_demo ./procrastinate_demo

# .git is not in the build context, so the dynamic version cannot be computed.
RUN POETRY_DYNAMIC_VERSIONING_BYPASS=0.0.0 pip install --no-cache-dir -e .

USER ${HOST_UID}:${HOST_GID}

CMD ["procrastinate", "worker"]
