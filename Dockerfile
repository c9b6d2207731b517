# One image for web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump/pg_restore for backups and restore drills.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files and catalogues are built into the image. Settings need secrets to import, so the
# build uses throwaway development ones that never leave this layer.
RUN TRANSFERDESK_ENV=development TRANSFERDESK_DEV_SECRETS=/tmp/build-secrets.env \
        python manage.py compile_catalogues \
    && TRANSFERDESK_ENV=development TRANSFERDESK_DEV_SECRETS=/tmp/build-secrets.env \
        python manage.py collectstatic --noinput \
    && rm -f /tmp/build-secrets.env

RUN useradd --system --uid 10001 --home /app transferdesk \
    && mkdir -p /var/lib/transferdesk/backups /var/lib/transferdesk/beat \
    && chown -R transferdesk /var/lib/transferdesk
USER transferdesk

EXPOSE 8000
CMD ["gunicorn", "transferdesk.wsgi", "--config", "gunicorn.conf.py"]
