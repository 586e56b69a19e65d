#!/usr/bin/env bash
# User-level install of gmxai-desktop on Linux: no root, everything under ~/.local (or --prefix).
#
#   packaging/linux/install.sh                       # the one-folder build in dist/gmxai-desktop
#   packaging/linux/install.sh --bundle DIR          # a build somewhere else (e.g. an unpacked release)
#   packaging/linux/install.sh --no-bundle           # only the menu entry and icons, for a pip install
#                                                    # whose gmxai-desktop is already on PATH
#   packaging/linux/install.sh --uninstall           # remove what an earlier run installed
#
# Installs: PREFIX/lib/gmxai-desktop/ (the bundle), PREFIX/bin/{gmxai-desktop,gmxai} (links),
# PREFIX/share/applications/<id>.desktop (Exec with an absolute path, since a desktop session's
# PATH often lacks ~/.local/bin), PREFIX/share/metainfo/<id>.metainfo.xml and the icons in the
# hicolor theme. Nothing is downloaded.
set -euo pipefail

APP_ID=io.github.gmxai.GmxaiDesktop
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PREFIX=${PREFIX:-$HOME/.local}
BUNDLE=$ROOT/dist/gmxai-desktop
MODE=install

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --bundle) BUNDLE=$2; shift 2 ;;
    --no-bundle) BUNDLE=; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install.sh: error: unknown option $1" >&2; exit 2 ;;
  esac
done

LIB=$PREFIX/lib/gmxai-desktop
BIN=$PREFIX/bin
APPS=$PREFIX/share/applications
META=$PREFIX/share/metainfo
ICONS=$PREFIX/share/icons/hicolor

refresh_caches() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
}

if [ "$MODE" = uninstall ]; then
  rm -rf "$LIB"
  for exe in gmxai-desktop gmxai; do
    # only remove links that point into our bundle: never a pip-installed script of the same name
    if [ -L "$BIN/$exe" ] && [ "$(readlink "$BIN/$exe")" = "$LIB/$exe" ]; then rm -f "$BIN/$exe"; fi
  done
  rm -f "$APPS/$APP_ID.desktop" "$META/$APP_ID.metainfo.xml" "$ICONS/scalable/apps/$APP_ID.svg"
  for png in "$HERE"/../icons/gmxai-desktop-*.png; do
    size=$(basename "$png" .png); size=${size##*-}
    rm -f "$ICONS/${size}x${size}/apps/$APP_ID.png"
  done
  refresh_caches
  echo "gmxai-desktop removed from $PREFIX"
  exit 0
fi

if [ -n "$BUNDLE" ]; then
  if [ ! -x "$BUNDLE/gmxai-desktop" ]; then
    echo "install.sh: error: no built app in $BUNDLE (run packaging/build.sh, or pass --bundle DIR or --no-bundle)" >&2
    exit 2
  fi
  mkdir -p "$PREFIX/lib" "$BIN"
  rm -rf "$LIB.new"
  cp -a "$BUNDLE" "$LIB.new"
  rm -rf "$LIB"
  mv "$LIB.new" "$LIB"  # a half-copied bundle never replaces a working one
  ln -sfn "$LIB/gmxai-desktop" "$BIN/gmxai-desktop"
  [ -x "$LIB/gmxai" ] && ln -sfn "$LIB/gmxai" "$BIN/gmxai"
  EXEC=$LIB/gmxai-desktop
else
  EXEC=$(command -v gmxai-desktop || true)
  if [ -z "$EXEC" ]; then
    echo "install.sh: error: --no-bundle needs gmxai-desktop on PATH (pip install gmxai-desktop first)" >&2
    exit 2
  fi
fi

mkdir -p "$APPS" "$META" "$ICONS/scalable/apps"
sed -e "s|^Exec=gmxai-desktop|Exec=\"$EXEC\"|" -e "s|^TryExec=gmxai-desktop|TryExec=$EXEC|" \
  "$HERE/$APP_ID.desktop" > "$APPS/$APP_ID.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$META/"
cp "$HERE/../icons/gmxai-desktop.svg" "$ICONS/scalable/apps/$APP_ID.svg"
for png in "$HERE"/../icons/gmxai-desktop-*.png; do
  size=$(basename "$png" .png); size=${size##*-}
  mkdir -p "$ICONS/${size}x${size}/apps"
  cp "$png" "$ICONS/${size}x${size}/apps/$APP_ID.png"
done
refresh_caches
echo "gmxai-desktop installed: $EXEC"
echo "  menu entry: $APPS/$APP_ID.desktop"
case ":$PATH:" in *":$BIN:"*) ;; *) [ -n "$BUNDLE" ] && echo "  note: $BIN is not on your PATH; the menu entry works regardless" ;; esac
