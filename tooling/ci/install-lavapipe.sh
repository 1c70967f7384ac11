#!/usr/bin/env bash
# Installs Mesa's lavapipe (software Vulkan) from bookworm-backports so Dawn (the `webgpu` npm
# package) finds an adapter on CPU-only CI machines. Bookworm's own Mesa 22 is rejected by Dawn;
# backports carries Mesa 25, which Dawn accepts (with shader-f16 and subgroups).
# Idempotent: re-running it leaves the system as it is. Needs root (or sudo) and apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

SRC=/etc/apt/sources.list.d/debian.sources
DST=/etc/apt/sources.list.d/debian-backports.sources

if [ ! -f "$DST" ]; then
  if [ ! -f "$SRC" ]; then
    echo "install-lavapipe: $SRC not found (not a deb822 Debian bookworm image?)" >&2
    exit 1
  fi
  # Copy the distribution's own source entry (same mirror, same keyring) and point it at backports.
  # Only the first stanza (the main archive) is kept: the security archive has no backports suite.
  awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' "$SRC" |
    sed -E 's/^Suites:.*/Suites: bookworm-backports/' | $SUDO tee "$DST" >/dev/null
fi

need_install=1
if dpkg-query -W -f='${Version}\n' mesa-vulkan-drivers 2>/dev/null | grep -q 'bpo'; then
  need_install=0
fi

if [ "$need_install" = "1" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports mesa-vulkan-drivers libvulkan1
fi

# Report what the loader will use, so CI logs show the driver.
ls /usr/share/vulkan/icd.d/ 2>/dev/null | grep -i lvp || {
  echo "install-lavapipe: lavapipe ICD not found after install" >&2
  exit 1
}
dpkg-query -W -f='mesa-vulkan-drivers ${Version}\n' mesa-vulkan-drivers
