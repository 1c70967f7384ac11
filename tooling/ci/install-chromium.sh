#!/usr/bin/env bash
# Installs Debian's Chromium for the playground's browser test (WebGPU runs there on SwiftShader).
# Idempotent; needs root (or sudo) and apt.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version
