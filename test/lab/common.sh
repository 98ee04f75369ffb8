# Shared settings for the host side of the lab (sourced by setup.sh and run.sh).
# ODXCP_LAB_DIR: cache of the kernel, initramfs and tcmu sources (outside the repo).
ODXCP_LAB_DIR=${ODXCP_LAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/odxcp-lab}
LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_HERE="$LAB_REPO/test/lab"
# One VM at a time on this machine: every runner takes this lock (2 cores; TCG is CPU-bound).
LAB_LOCK=${ODXCP_LAB_LOCK:-/tmp/odxcp-vm.lock}
# Debian packages the lab needs on the host (the guest runs the host's binaries over 9p).
# The SAN stack (guest/stack.sh) builds its multipath maps through dm itself: no multipath-tools,
# whose multipathd would otherwise start on the host.
LAB_PACKAGES="qemu-system-x86 busybox-static cpio gzip sg3-utils ddpt tcmu-runner util-linux dpkg-dev gcc make kmod libiscsi-bin open-iscsi kpartx lvm2 fdisk cryptsetup-bin"
lab_die() { echo "lab: $*" >&2; exit 2; }
