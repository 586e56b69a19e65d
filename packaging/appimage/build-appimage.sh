#!/usr/bin/env bash
# Optional: wrap the one-folder build (packaging/build.sh) into a single gmxai-desktop-x86_64.AppImage.
#
#   packaging/appimage/build-appimage.sh [dist/gmxai-desktop]
#
# Needs appimagetool (https://github.com/AppImage/appimagetool) on PATH; this script downloads
# nothing. `./gmxai-desktop-x86_64.AppImage --cli predict ...` runs the CLI. Untested here (no
# appimagetool on the build machine); the AppDir layout follows the AppImage spec.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIST=${1:-dist/gmxai-desktop}
APP_ID=io.github.gmxai.GmxaiDesktop
APPDIR=build/AppDir
command -v appimagetool >/dev/null || { echo "build-appimage: error: appimagetool is not on PATH" >&2; exit 2; }
[ -x "$DIST/gmxai-desktop" ] || { echo "build-appimage: error: no build in $DIST (run packaging/build.sh)" >&2; exit 2; }
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/share/applications" "$APPDIR/usr/share/metainfo" \
  "$APPDIR/usr/share/icons/hicolor/256x256/apps"
cp -a "$DIST" "$APPDIR/usr/lib/gmxai-desktop"
cp packaging/appimage/AppRun "$APPDIR/AppRun"
cp packaging/linux/$APP_ID.desktop "$APPDIR/$APP_ID.desktop"
cp packaging/linux/$APP_ID.desktop "$APPDIR/usr/share/applications/"
cp packaging/linux/$APP_ID.metainfo.xml "$APPDIR/usr/share/metainfo/$APP_ID.appdata.xml"
cp packaging/icons/gmxai-desktop-256.png "$APPDIR/$APP_ID.png"
cp packaging/icons/gmxai-desktop-256.png "$APPDIR/usr/share/icons/hicolor/256x256/apps/$APP_ID.png"
ARCH=x86_64 appimagetool "$APPDIR" "dist/gmxai-desktop-x86_64.AppImage"
echo "wrote dist/gmxai-desktop-x86_64.AppImage ($(du -h dist/gmxai-desktop-x86_64.AppImage | cut -f1))"
