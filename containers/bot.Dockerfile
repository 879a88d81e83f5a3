# One Rollcall bot: joins one Zoom meeting through the Meeting SDK and writes its report.
#   docker build -f containers/bot.Dockerfile -t rollcall-bot .
#   docker run --rm -e ZOOM_SDK_CLIENT_ID -e ZOOM_SDK_CLIENT_SECRET -e ZOOM_ZAK -v "$PWD/out:/out" \
#       rollcall-bot --meeting-url 'https://zoom.us/j/85012345678?pwd=…' --out /out
# Debian bookworm's own Python is 3.11, so its python3-gi serves the venv (created with the system site
# packages) for the GLib main loop the SDK needs; PulseAudio runs with a null sink (the bot only listens);
# the bot runs as a non-root user with its own HOME under /tmp (the SDK writes ~/.zoomsdk and
# ~/.config/zoomus.conf), so the root filesystem can be read-only. `make containers` builds and checks it
# (docs/containers.md). BASE: any Debian bookworm image (the same in both stages: the venv links its Python).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev python3-gi build-essential cmake ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The pinned dependencies first, in their own layer: a change to the code alone rebuilds only the last step.
# Without the Kubernetes client (about 130 MB with its own dependencies): only `--launcher kubernetes`
# imports it, and that runs in the orchestrator image; a bot, and compose's orchestrator with local bots,
# never do.
COPY pyproject.toml ./
# The build secret `ca` (optional): a CA bundle for pip when TLS to PyPI is intercepted (`make containers`
# passes the host's); mounted for the step only, never in a layer.
RUN --mount=type=secret,id=ca if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python3 -m venv --system-site-packages /opt/rollcall \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        | grep -v -E '^kubernetes==' > /tmp/requirements.txt \
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
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-gi libglib2.0-0 pulseaudio pulseaudio-utils tini libsndfile1 ca-certificates \
        libxcb-xinerama0 libxkbcommon-x11-0 libgl1 libegl1 libxcb-keysyms1 libxcb-image0 libxcb-icccm4 \
        libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libdbus-1-3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group rollcall \
    && mkdir -p /out && chown 10001:10001 /out
COPY --from=build /opt/rollcall /opt/rollcall
COPY containers/bot-entrypoint.sh /usr/local/bin/bot-entrypoint.sh
ENV PATH=/opt/rollcall/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# numeric, so Kubernetes can check runAsNonRoot; the same uid as the launcher's Job (BOT_UID)
USER 10001:10001
WORKDIR /home/rollcall
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bot-entrypoint.sh"]
