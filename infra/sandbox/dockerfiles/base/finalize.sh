#!/bin/sh
# Turn a fresh `debootstrap --variant=minbase` tree ($1) into a small, patched image rootfs.
# Run on the host as root by infra/sandbox/images.py; part of the base image recipe hash,
# so editing this file rebuilds the image.
set -eu
ROOT="$1"

# Same apt sources as the official debian:bookworm images, security updates included.
rm -f "$ROOT/etc/apt/sources.list"
cat > "$ROOT/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# Keep docs, man pages and message translations (the image runs with LANG=C.UTF-8) out of
# this and every derived image; licences stay.
cat > "$ROOT/etc/dpkg/dpkg.cfg.d/shipways-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
SLIM

# Never keep downloaded .debs; containers are rebuilt, not patched in place.
cat > "$ROOT/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
APT::Install-Recommends "false";
CLEAN

# Apply security updates published since the point release debootstrap installed.
mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc"' EXIT
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -q
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade
chroot "$ROOT" apt-get clean
umount "$ROOT/proc"
trap - EXIT

find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOT/usr/share/man/"* "$ROOT/usr/share/info/"*
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin "$ROOT/var/log/"*.log
rm -rf "$ROOT/tmp/"* "$ROOT/var/tmp/"*
# Host identity must not leak into the image; Docker provides these at run time.
rm -f "$ROOT/etc/resolv.conf" "$ROOT/etc/hostname"
: > "$ROOT/etc/machine-id"
