#!/usr/bin/env bash
# Sets up a cross target for `make test-cross ARCH=<arch>` on Debian 12
# (bookworm), x86-64 host, as root.  Idempotent: a second run only checks
# (no apt call, no download) and prints the environment.
#
#   .ci/cross-setup.sh ARCH [DIR]     ARCH: aarch64 | s390x | i386
#
# DIR (default build-cross) receives
#   DIR/sysroot/<debarch>/   foreign packages extracted with dpkg -x: the
#                            target's lua5.4 and lua-term (installing
#                            lua5.4:<arch> would replace the native lua5.4 and
#                            remove busted), and for aarch64/s390x the libffi
#                            and Lua headers (installing the -dev packages
#                            drags in foreign pkg-config/libtool)
#   DIR/bin/<arch>/gcc       the cross gcc under the name the specs call
#   DIR/<arch>.env           shell assignments: PATH QEMU_LD_PREFIX CTYPES_LUA
#                            CROSS_GCC (and LD_LIBRARY_PATH when DIR/libs/
#                            <debarch> is used, below)
# and registers qemu-user with binfmt_misc (mounted if needed), so foreign
# binaries (the target's lua5.4, gcc output) run transparently.
#
# Co-installable foreign runtime libraries (libffi8, liblua5.4-0,
# lua-filesystem, lua-system; zlib1g, libsqlite3-0, libssl3 for specs and
# examples) are installed with apt for the foreign architecture: they land
# in /usr/lib/<triplet> and remove nothing.  DIR/libs/<debarch>/ receives
# those of the last three that the mirror cannot install (version skew).
set -eu

arch=${1:?usage: cross-setup.sh aarch64|s390x|i386 [dir]}
dir=${2:-build-cross}
case $arch in
  aarch64) deb=arm64; tri=aarch64-linux-gnu; qemu=aarch64
           magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
           mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  s390x)   deb=s390x; tri=s390x-linux-gnu; qemu=s390x
           magic='\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16'
           mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff' ;;
  i386)    deb=i386; tri=i386-linux-gnu; qemu=i386
           magic='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00'
           mask='\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  *) echo "cross-setup: unknown ARCH '$arch' (aarch64, s390x or i386)" >&2; exit 2 ;;
esac
# the cross compiler's triplet (Debian names i386's compiler i686-linux-gnu)
cc_tri=$tri
[ "$arch" = i386 ] && cc_tri=i686-linux-gnu

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sys=$dir/sysroot/$deb
wrap=$dir/bin/$arch

say() { echo "cross-setup($arch): $*"; }

# ------------------------------------------------------------ packages ----
# installed packages (apt) and extracted ones (dpkg -x into $sys)
native="qemu-user gcc-$cc_tri libc6-dev-$deb-cross"
if [ "$arch" = i386 ]; then
  foreign="liblua5.4-dev:i386 libffi-dev:i386 lua-filesystem:i386 lua-system:i386"
  extract="lua5.4:i386 lua-term:i386"
else
  foreign="liblua5.4-0:$deb libffi8:$deb libreadline8:$deb lua-filesystem:$deb lua-system:$deb"
  extract="lua5.4:$deb lua-term:$deb libffi-dev:$deb liblua5.4-dev:$deb"
fi

installed() {  # all named packages installed?
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
  done
}

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "cross-setup: $1 needs root; run as root: .ci/cross-setup.sh $arch" >&2
    exit 1
  fi
}

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -y -o DPkg::Lock::Timeout=900)

if ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
  need_root "dpkg --add-architecture $deb"
  say "dpkg --add-architecture $deb"
  dpkg --add-architecture "$deb"
  rm -f "$dir/.apt-updated"
fi

# shellcheck disable=SC2086
if ! installed $native || ! installed $foreign; then
  need_root "apt-get install"
  if [ ! -e "$dir/.apt-updated" ]; then
    say "apt-get update"
    "${apt[@]}" update >/dev/null
    touch "$dir/.apt-updated"
  fi
  # two groups, as the foreign libraries must not pull native replacements
  say "apt-get install $native"
  "${apt[@]}" install --no-install-recommends $native </dev/null >/dev/null
  say "apt-get install $foreign"
  "${apt[@]}" install --no-install-recommends $foreign </dev/null >/dev/null
fi

# Runtime libraries that specs and examples load: libz (find_library("z"),
# examples/zlib.lua, the zlib cdef spec), libsqlite3.so.0 and libcrypto.so.3
# (examples, the sqlite3 cdef spec).  Installed for the foreign architecture
# when apt can (Multi-Arch: same wants the native version; --no-remove, so
# that apt never removes a native package to make room).  Where the
# foreign archive lags the native one on the mirror (zlib1g:s390x and
# libssl3:s390x here), the available version is extracted into $libs
# instead, and the loader finds it there (LD_LIBRARY_PATH in the env file;
# find_library searches LD_LIBRARY_PATH's directories too).
runtime="zlib1g:$deb libsqlite3-0:$deb libssl3:$deb"
libs=$dir/libs/$deb
missing() {
  local p out=""
  for p in $runtime; do installed "$p" || out="$out $p"; done
  echo "${out# }"
}
absent=$(missing)
if [ -n "$absent" ] && [ ! -e "$dir/.runtime-tried-$deb" ]; then
  need_root "apt-get install"
  if [ ! -e "$dir/.apt-updated" ]; then
    say "apt-get update"
    "${apt[@]}" update >/dev/null
    touch "$dir/.apt-updated"
  fi
  for p in $absent; do
    say "apt-get install $p"
    "${apt[@]}" install --no-install-recommends --no-remove "$p" </dev/null >/dev/null 2>&1 ||
      say "$p is not installable here (its version lags the native one): extracting it"
  done
  touch "$dir/.runtime-tried-$deb"
  absent=$(missing)
fi
ldpath=""
if [ -n "$absent" ]; then
  if [ ! -e "$libs/.extracted" ] || [ "$(cat "$libs/.extracted")" != "$absent" ]; then
    say "extracting $absent into $libs"
    rm -rf "$libs" "$dir/debs/libs-$deb"
    mkdir -p "$libs" "$dir/debs/libs-$deb"
    chmod 777 "$dir/debs/libs-$deb"   # apt-get download runs as _apt
    # shellcheck disable=SC2086
    (cd "$dir/debs/libs-$deb" && apt-get -q download $absent >/dev/null)
    for d in "$dir/debs/libs-$deb"/*.deb; do dpkg -x "$d" "$libs"; done
    echo "$absent" > "$libs/.extracted"
  fi
  ldpath="$libs/lib/$tri:$libs/usr/lib/$tri"
else
  rm -rf "$libs"
fi

stamp=$sys/.extracted
if [ ! -e "$stamp" ] || [ "$(cat "$stamp")" != "$extract" ]; then
  say "extracting $extract into $sys"
  rm -rf "$sys" "$dir/debs/$deb"
  mkdir -p "$sys" "$dir/debs/$deb"
  chmod 777 "$dir/debs/$deb"   # apt-get download runs as _apt
  # shellcheck disable=SC2086
  (cd "$dir/debs/$deb" && apt-get -q download $extract >/dev/null) || {
    # the lists may predate the architecture: update once and retry
    "${apt[@]}" update >/dev/null
    (cd "$dir/debs/$deb" && apt-get -q download $extract >/dev/null)
  }
  for d in "$dir/debs/$deb"/*.deb; do dpkg -x "$d" "$sys"; done
  # the extracted dev symlink points at the runtime library, which lives
  # (installed) outside the sysroot
  if [ -e "$sys/usr/lib/$tri/libffi.so" ] || [ -L "$sys/usr/lib/$tri/libffi.so" ]; then
    ln -sf "/usr/lib/$tri/libffi.so.8" "$sys/usr/lib/$tri/libffi.so"
  fi
  echo "$extract" > "$stamp"
fi

# ---------------------------------------------------------- gcc wrapper ----
# A cross gcc ignores LIBRARY_PATH, which a native one searches (as -L
# directories after the command line's): the wrapper passes it on.
mkdir -p "$wrap"
if [ "$arch" = i386 ]; then
  flags=""
else
  flags="-I$sys/usr/include/$tri -L$sys/usr/lib/$tri"
fi
cat > "$wrap/gcc.tmp" <<EOF
#!/bin/sh
# the $arch cross compiler under the name the specs call
ifs=\$IFS; IFS=:
for d in \${LIBRARY_PATH-}; do [ -n "\$d" ] && set -- "\$@" "-L\$d"; done
IFS=\$ifs
exec $cc_tri-gcc $flags "\$@"
EOF
chmod +x "$wrap/gcc.tmp"
mv -f "$wrap/gcc.tmp" "$wrap/gcc"

# ------------------------------------------------------------- binfmt ----
bf=/proc/sys/fs/binfmt_misc
if [ ! -e "$bf/register" ]; then
  need_root "mounting binfmt_misc"
  say "mount binfmt_misc"
  mount -t binfmt_misc binfmt_misc "$bf"
fi
if [ ! -e "$bf/qemu-$qemu" ]; then
  need_root "registering qemu-$qemu with binfmt_misc"
  say "register qemu-$qemu with binfmt_misc"
  # another process may register it at the same moment: "File exists" is fine
  printf '%s' ":qemu-$qemu:M::$magic:$mask:/usr/bin/qemu-$qemu:" > "$bf/register" 2>/dev/null \
    || [ -e "$bf/qemu-$qemu" ]
fi
[ "$(head -1 "$bf/qemu-$qemu")" = enabled ] || echo 1 > "$bf/qemu-$qemu"

# --------------------------------------------------------------- env ----
cat > "$dir/$arch.env" <<EOF
PATH=$wrap:\$PATH
QEMU_LD_PREFIX=$sys
CTYPES_LUA=$sys/usr/bin/lua5.4
CROSS_GCC=$wrap/gcc
EOF
if [ -n "$ldpath" ]; then
  echo "LD_LIBRARY_PATH=$ldpath\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" >> "$dir/$arch.env"
fi

# the check: the target's lua5.4 runs under qemu
out=$(QEMU_LD_PREFIX=$sys "$sys/usr/bin/lua5.4" -e 'io.write(_VERSION)' 2>&1) || {
  echo "cross-setup: $sys/usr/bin/lua5.4 does not run: $out" >&2; exit 1; }
say "ready ($out under qemu-$qemu; $dir/$arch.env)"
