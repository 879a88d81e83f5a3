# The orchestrator and the API: one image, two commands.
#   docker build -f containers/orchestrator.Dockerfile -t rollcall-orchestrator .
#   docker run --rm -e REDIS_URL=redis://… rollcall-orchestrator --launcher kubernetes    # the orchestrator
#   docker run --rm -e REDIS_URL=redis://… -p 8080:8080 --entrypoint /usr/bin/tini rollcall-orchestrator \
#       -- /opt/rollcall/bin/rollcall serve --host 0.0.0.0 --port 8080                    # the API
# It holds no bot runtime (no Meeting SDK libraries, no PulseAudio): with --launcher kubernetes the bots
# run in their own image (containers/bot.Dockerfile); containers/compose.yaml runs bots as local
# processes and so builds its orchestrator from the bot image instead. The native extension is compiled
# in a build stage; the venv keeps its path (/opt/rollcall) so its scripts' shebangs hold. tini makes
# SIGTERM reach the process as PID 1. The user is numeric so Kubernetes can check runAsNonRoot.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml CMakeLists.txt README.md ./
COPY native native
COPY analysis analysis
COPY bot bot
COPY orchestrator orchestrator
RUN python -m venv /opt/rollcall && /opt/rollcall/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends tini libsndfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 rollcall \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/rollcall /opt/rollcall
ENV PATH=/opt/rollcall/bin:$PATH PYTHONUNBUFFERED=1 ROLLCALL_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/rollcall
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/rollcall/bin/rollcall", "orchestrator"]
