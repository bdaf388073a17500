# One image for all four services; the compose file picks the service with `serve <name>`.
#
#   docker build -t diplomacity .
#   docker run --rm diplomacity --help

# --- build: install into a virtualenv that the runtime stage copies whole ---------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies in their own layer, so a code change does not reinstall them; every package
# (transitive ones too) is pinned by constraints.txt. All of them ship wheels: no compiler needed.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install -c constraints.txt -r requirements.txt

# The project itself (non-editable: migrations and templates land in site-packages).
COPY . .
RUN pip install --no-deps -c constraints.txt . \
 && oia --help > /dev/null \
 && python -m shared.places /opt/gazetteer/places.sqlite

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed, unprivileged uid/gid so volume permissions are predictable (a fresh named volume takes
# the owner of its mount point: the notifications journal's is made here).
RUN groupadd --system --gid 10001 oia \
 && useradd --system --uid 10001 --gid oia --home-dir /app --no-create-home --shell /usr/sbin/nologin oia \
 && install -d -o oia -g oia /app \
 && install -d -o oia -g oia /var/lib/diplomacity/journal

# Pango and a font: the board's council report is laid out as a PDF by WeasyPrint.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/venv /opt/venv
# The compiled gazetteer (travel's place index), built once with the image.
COPY --from=build /opt/gazetteer /opt/gazetteer
ENV GAZETTEER_PATH=/opt/gazetteer/places.sqlite

WORKDIR /app
# Numeric, so runtimes that enforce non-root (e.g. runAsNonRoot) can verify it without /etc/passwd.
USER 10001:10001

# Each service publishes its own port (partners 8001 ... notifications 8004).
EXPOSE 8001 8002 8003 8004

# Health checks are per service in docker-compose.yml (each has its own /<svc>/ready path).
ENTRYPOINT ["oia"]
CMD ["serve", "travel"]
