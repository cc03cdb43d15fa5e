#!/usr/bin/env bash
# Installs the Debian data packages deepnotes reads (see docs/data.md), when run as root with apt.
# Never fails the build: without root or apt it prints the command to run by hand.
set -u
pkgs=(dataset-fashion-mnist)
missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -eq 0 ]; then
  echo "data: Debian data packages present (${pkgs[*]})"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "data: installing ${missing[*]} with apt-get"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "data: apt-get install failed; lessons on real data will say what is missing"
else
  echo "data: not root or no apt-get; to get the real data run:"
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
fi
exit 0
