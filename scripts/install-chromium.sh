#!/usr/bin/env bash
# Installs Debian's chromium and CJK fonts for the browser tests (never `playwright install`).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
echo "installing chromium and fonts-noto-cjk with apt (browser tests) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
