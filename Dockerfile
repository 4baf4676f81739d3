# Sitrep: the Slack incident bot (`sitrep serve` by default; `sitrep worker` for a worker-only process).
#
#   docker build -t sitrep:0.1.0 .
#   docker run --rm -p 3000:3000 --env-file .env sitrep:0.1.0
#   docker run --rm --no-healthcheck --env-file .env sitrep:0.1.0 worker
#
# Two stages: the first builds a virtual environment from pyproject.toml (every dependency ships a
# wheel, psycopg's includes libpq, so no compiler and no apt-get), the second copies only that
# environment and the default policies onto a fresh slim image and runs as an unprivileged user.
# See docs/deploy.md.

FROM python:3.11.13-slim-bookworm AS build

# pip compiles the bytecode here, so the read-only image never needs to write any
ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot/ ./bot/
RUN pip install --no-cache-dir .


FROM python:3.11.13-slim-bookworm

LABEL org.opencontainers.image.title="sitrep" \
      org.opencontainers.image.description="Slack bot that turns an alert into a grounded incident brief" \
      org.opencontainers.image.version="0.1.0"

# The database file of a single-container SQLite setup lands in the working directory
# (DATABASE_URL defaults to sqlite:///./sitrep.db); several replicas need PostgreSQL instead.
RUN groupadd --system --gid 10001 sitrep \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sitrep --create-home \
       --shell /usr/sbin/nologin sitrep

COPY --from=build /opt/venv /opt/venv
COPY policies/ /etc/sitrep/policies/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json \
    SITREP_POLICY_DIR=/etc/sitrep/policies \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=3000

WORKDIR /var/lib/sitrep
USER 10001:10001

EXPOSE 3000

# No curl in the slim image: Python asks /healthz (liveness only; /readyz also checks the database).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["sitrep"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
