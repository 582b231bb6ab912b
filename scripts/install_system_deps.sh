#!/usr/bin/env bash
# Debian packages segpilot needs at run time; idempotent, quiet when already present.
#   libusb-1.0-0: open3d's shared library links against it (ImportError: libusb-1.0.so.0 otherwise)
set -euo pipefail
need=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || need+=(libusb-1.0-0)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_system_deps: need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
