# The same package `make run` installs (pyproject.toml), built into a wheel by tools/build_wheel.sh, the script
# `make test` uses for its wheel check (tools/check_wheel.py: fresh venv, ingest, serve, ask), run as a non-root user.
# Not buildable on the development machines (no Docker engine there): see README, "Docker".
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY ingest ./ingest
COPY bots ./bots
COPY eval ./eval
COPY tools/build_wheel.sh ./tools/
RUN sh tools/build_wheel.sh /wheels python3

FROM python:3.11-slim
# Tesseract with its Italian data reads scanned PDF pages (ingest/pdf.py).
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-ita \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY --chown=app:app corpus ./corpus
RUN mkdir -p /app/data && chown app:app /app/data
USER app
ENV ASSISTANT_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1 \
    HAYSTACK_TELEMETRY_ENABLED=False
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')" || exit 1
# Keys are required on a network address (the API refuses to serve an open API on 0.0.0.0).
CMD ["sh", "-c", "assistant ingest corpus --sync && exec assistant serve --host 0.0.0.0 --port 8000"]
