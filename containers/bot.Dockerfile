# One Rollcall bot: joins one Zoom meeting through the Meeting SDK and writes its report.
#   docker build -f containers/bot.Dockerfile -t rollcall-bot .
#   docker run --rm -e ZOOM_SDK_CLIENT_ID -e ZOOM_SDK_CLIENT_SECRET -e ZOOM_ZAK -v "$PWD/out:/out" \
#       rollcall-bot --meeting-url 'https://zoom.us/j/85012345678?pwd=…' --out /out
# Debian bookworm's own Python is 3.11, so its python3-gi serves the venv (created with the system site
# packages) for the GLib main loop the SDK needs; PulseAudio runs with a null sink (the bot only listens);
# the bot runs as a non-root user with its own HOME (the SDK writes ~/.zoomsdk and ~/.config/zoomus.conf).
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev python3-gi build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml CMakeLists.txt README.md ./
COPY native native
COPY analysis analysis
COPY bot bot
COPY orchestrator orchestrator
RUN python3 -m venv --system-site-packages /opt/rollcall && /opt/rollcall/bin/pip install --no-cache-dir .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-gi libglib2.0-0 pulseaudio pulseaudio-utils tini libsndfile1 \
        libxcb-xinerama0 libxkbcommon-x11-0 libgl1 libegl1 libxcb-keysyms1 libxcb-image0 libxcb-icccm4 \
        libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libdbus-1-3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 rollcall \
    && mkdir -p /out && chown rollcall /out
COPY --from=build /opt/rollcall /opt/rollcall
COPY containers/bot-entrypoint.sh /usr/local/bin/bot-entrypoint.sh
ENV PATH=/opt/rollcall/bin:$PATH
USER rollcall
WORKDIR /home/rollcall
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bot-entrypoint.sh"]
