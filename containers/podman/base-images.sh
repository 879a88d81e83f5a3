#!/usr/bin/env bash
# The base images the Dockerfiles and compose.yaml name, made locally when absent (no registry is reached):
#   docker.io/library/debian:bookworm-slim     debootstrap --variant=minbase from the Debian mirror apt uses,
#                                               slimmed as the real image is (no docs, man pages, locales,
#                                               apt lists), imported with podman import
#   docker.io/library/python:3.11-slim-bookworm that plus Debian's Python 3.11 (python-slim.Containerfile)
#   docker.io/library/redis:7-alpine           that plus Debian's Redis 7.0 (redis.Containerfile)
# Images already present (pulled from a registry, or made by an earlier run) are kept as they are.
# Run by `make containers` with CONTAINERS_CONF set (containers/podman/containers.conf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DEBIAN=docker.io/library/debian:bookworm-slim
PYTHON=docker.io/library/python:3.11-slim-bookworm
REDIS=docker.io/library/redis:7-alpine

say() { echo "base-images: $*" >&2; }

# The mirror apt on this machine is configured with (deb.debian.org unless it says otherwise).
mirror() {
    local uri
    uri="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" {print $1; exit}')"
    echo "${uri:-http://deb.debian.org/debian/}"
}

if ! podman image exists "$DEBIAN"; then
    start=$SECONDS
    root="$(mktemp -d /var/tmp/rollcall-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    uri="$(mirror)"
    say "making $DEBIAN with debootstrap from $uri"
    if ! debootstrap --variant=minbase bookworm "$root" "$uri" >"$root.log" 2>&1; then
        tail -20 "$root.log" >&2
        say "debootstrap failed (log above)"; exit 1
    fi
    rm -f "$root.log"
    # as the real image: the three suites in deb822 form, no docs/man pages/locales from later installs
    rm -f "$root/etc/apt/sources.list"
    sec="${uri%/debian/}"; sec="${sec%/debian}/debian-security/"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
        "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    : >"$root/etc/hostname"
    tar --numeric-owner -C "$root" -c . | podman import --quiet \
        --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$DEBIAN" >/dev/null
    rm -rf "$root"; trap - EXIT
    say "$DEBIAN made in $((SECONDS - start)) s"
fi

build_standin() {  # image, Containerfile
    if ! podman image exists "$1"; then
        start=$SECONDS
        say "making $1 from $(basename "$2")"
        podman build --quiet --pull=never -f "$2" -t "$1" "$here" >/dev/null
        say "$1 made in $((SECONDS - start)) s"
    fi
}
build_standin "$PYTHON" "$here/python-slim.Containerfile"
build_standin "$REDIS" "$here/redis.Containerfile"
