# syntax=docker/dockerfile:1
# arxiv-bot: slim Python 3.11, two stages, runs as a non-root user; SQLite lives in the /data volume.
#   docker build -t arxiv-bot .
#   docker run -d --name arxiv-bot -v arxiv-bot-data:/data -p 8080:8080 -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN arxiv-bot
# `arxiv-bot run` applies the database migrations before it starts; other commands work too, e.g.
#   docker run --rm -v arxiv-bot-data:/data arxiv-bot export --channel slack:C0123456 --format markdown
# Reproducible: the base image is pinned to a Python release, every package to the exact version and file hashes of
# requirements.lock (`make lock` regenerates it from pyproject.toml), and the project is installed as a wheel.

# ---- build: a virtualenv with the locked dependencies, then the project (not editable: no source in the image) ----
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
WORKDIR /src
# The dependencies first, in a layer of their own that changes only with the lock; pip refuses any file whose hash
# is not in it. The lock also pins what building the project's wheel needs (setuptools, wheel).
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY alembic ./alembic
# The migration scripts go into /opt/venv/share/arxiv-bot/alembic with the package (pyproject.toml's data-files).
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} +

# ---- runtime --------------------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    ARXIVBOT_CONFIG=/app/config.toml \
    ARXIVBOT_DATABASE__URL=sqlite+aiosqlite:////data/arxiv-bot.db \
    ARXIVBOT_HTTP__HOST=0.0.0.0 \
    ARXIVBOT_HTTP__PORT=8080

RUN groupadd --system --gid 10001 arxivbot \
    && useradd --system --uid 10001 --gid arxivbot --home-dir /app --no-create-home --shell /usr/sbin/nologin arxivbot \
    && mkdir -p /data \
    && chown arxivbot:arxivbot /data

COPY --from=build /opt/venv /opt/venv
COPY config.toml /app/config.toml
# The working directory is the writable volume: state kept relative to it (data/) persists.
WORKDIR /data

USER arxivbot
VOLUME ["/data"]
EXPOSE 8080

# 200 from /healthz: the event loop answers and the database is reachable (urllib: no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ARXIVBOT_HTTP__PORT', '8080'), timeout=4)" || exit 1

# SIGTERM (docker stop) lets posts in flight finish, leaves the rest pending, and exits within 10 seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["arxiv-bot"]
CMD ["run"]
