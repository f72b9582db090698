#!/usr/bin/env bash
# Makes the Debian base images the Dockerfiles start from (debian:bookworm-slim, debian:trixie-slim,
# debian:sid-slim) when the engine does not have them yet, from Debian's package archive:
#   debootstrap --variant=minbase SUITE DIR && tar -C DIR -c . | docker import - debian:SUITE-slim
# It never pulls: with a registry at hand, `docker pull debian:SUITE-slim` gives the same names.
# The certificate authorities this host adds to its own trust store (/usr/local/share/ca-certificates/
# *.crt, e.g. a TLS-inspecting proxy's) go into the images' /usr/local/share/ca-certificates, so that
# what the host reaches over TLS (the npm registry) the builds reach too once ca-certificates is in.
#
#   bash docker/base-images.sh [SUITE...]    (default: bookworm trixie sid; needs root and debootstrap)
# DEBIAN_MIRROR overrides the archive (default http://deb.debian.org/debian), LOCAL_CA_DIR the
# directory of extra certificates (default /usr/local/share/ca-certificates; empty: none).
set -euo pipefail

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_dir=${LOCAL_CA_DIR-/usr/local/share/ca-certificates}
suites=("$@")
if ((${#suites[@]} == 0)); then suites=(bookworm trixie sid); fi

say() { echo "base-images: $*" >&2; }

missing=()
for suite in "${suites[@]}"; do
  if ! docker image inspect "debian:$suite-slim" >/dev/null 2>&1; then missing+=("$suite"); fi
done
if ((${#missing[@]} == 0)); then
  say "present: $(printf 'debian:%s-slim ' "${suites[@]}")"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  say "making ${missing[*]} needs root (debootstrap)"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap </dev/null >&2
fi

work=$(mktemp -d /var/tmp/pg-meminfo-debootstrap.XXXXXX)
trap 'rm -rf "$work"' EXIT

for suite in "${missing[@]}"; do
  started=$SECONDS
  root="$work/$suite"
  say "debootstrap $suite"
  if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/$suite.log" 2>&1; then
    tail -n 30 "$work/$suite.log" >&2
    say "debootstrap $suite failed"
    exit 1
  fi
  # As the official slim images: no package lists or caches in the image.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  if [[ -n "$ca_dir" ]] && compgen -G "$ca_dir/*.crt" >/dev/null; then
    install -d "$root/usr/local/share/ca-certificates"
    install -m 0644 "$ca_dir"/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  tar -C "$root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $suite $mirror" \
    - "debian:$suite-slim" >/dev/null
  rm -rf "$root"
  say "debian:$suite-slim made in $((SECONDS - started)) s"
done
