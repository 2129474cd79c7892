#!/bin/sh
# Debian's Chromium, for the dashboard's browser test (driven by Playwright through
# executable_path; Playwright's own browser downloads are never used).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
