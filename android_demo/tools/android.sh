#!/usr/bin/env bash
# Host build of the Android demo without Gradle: deps (Debian packages), core-test (JUnit on the host JVM),
# apk (aapt + javac against android-23 + dx + zipalign + apksigner). Called by mk/android.mk.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"           # android_demo/
BUILD="${ANDROID_BUILD:-$HERE/build}"
CACHE="${ANDROID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lightavseg-mobile/android}"
# Debian 12 has aapt, apksigner, zipalign, junit4 and org.json; android.jar (API 23) and dx exist only up to
# Debian 11, so those two .debs are fetched from bullseye by apt itself (signed index, checked hashes) and
# unpacked into the cache, never installed into the system.
APT_PACKAGES=(aapt apksigner zipalign junit4 libandroid-json-java)
BULLSEYE_DEBS=(libandroid-23-java dalvik-exchange)
SDK="$CACHE/bullseye"
ANDROID_JAR="$SDK/usr/lib/android-sdk/platforms/android-23/android.jar"
DX_JAR="$SDK/usr/share/java/com.android.dx.jar"
JSON_JAR=/usr/share/java/com.android.json.jar
JUNIT_CP=/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar

log() { printf '[android] %s\n' "$*" >&2; }
die() { printf '[android] error: %s\n' "$*" >&2; exit 1; }

deps() {
    local need=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    command -v javac >/dev/null && command -v keytool >/dev/null || need+=(openjdk-17-jdk-headless)
    if ((${#need[@]})); then
        [ "$(id -u)" = 0 ] || die "missing Debian packages ${need[*]}: run 'apt-get install ${need[*]}' as root"
        log "installing ${need[*]} (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    if [ ! -f "$ANDROID_JAR" ] || [ ! -f "$DX_JAR" ]; then
        local apt="$CACHE/apt"
        rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs" "$SDK"
        echo 'deb http://deb.debian.org/debian bullseye main' >"$apt/sources.list"
        : >"$apt/status"
        local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives"
            -o "Dir::State::status=$apt/status" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
        log "fetching ${BULLSEYE_DEBS[*]} from Debian 11 (android.jar API 23, dx) into $SDK"
        apt-get "${opts[@]}" update -qq >/dev/null
        (cd "$apt/debs" && apt-get "${opts[@]}" download -qq "${BULLSEYE_DEBS[@]}" >/dev/null)
        local deb
        for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$SDK"; done
        rm -rf "$apt"  # the unpacked files are all that is kept
    fi
    [ -f "$ANDROID_JAR" ] && [ -f "$DX_JAR" ] || die "android.jar or dx.jar missing under $SDK"
}

# Java 7 language level: dx cannot convert lambdas or Java 8 interface methods for API 23.
JAVAC_HOST=(javac -nowarn -Xlint:-options -encoding UTF-8 --release 7)

core_test() {
    deps
    local out="$BUILD/core-test"
    rm -rf "$out" && mkdir -p "$out/classes" "$out/test-classes"
    "${JAVAC_HOST[@]}" -cp "$JSON_JAR" -d "$out/classes" $(find "$HERE/core/src/main/java" -name '*.java')
    "${JAVAC_HOST[@]}" -cp "$JSON_JAR:$JUNIT_CP:$out/classes" -d "$out/test-classes" \
        $(find "$HERE/core/src/test/java" -name '*.java')
    local tests
    tests=$(cd "$HERE/core/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
    [ -n "${GOLDEN_DIR:-}" ] || die "GOLDEN_DIR is not set (make android-core-test writes the golden vectors first)"
    java -Dgolden.dir="$GOLDEN_DIR" -Dbench.out="$out/bench" \
        -cp "$JSON_JAR:$JUNIT_CP:$out/classes:$out/test-classes" org.junit.runner.JUnitCore $tests
}

APP="$HERE/app/src/main"
MIN_SDK=23
VERSION_NAME=0.1.0

apk() {
    deps
    local out="$BUILD/apk"
    rm -rf "$out" && mkdir -p "$out/gen" "$out/classes" "$out/dex"
    local aapt_common=(-f -M "$APP/AndroidManifest.xml" -S "$APP/res" -I "$ANDROID_JAR"
        --min-sdk-version "$MIN_SDK" --target-sdk-version "$MIN_SDK" --version-code 1 --version-name "$VERSION_NAME")
    aapt package "${aapt_common[@]}" -m -J "$out/gen"
    # The core and the app against android-23's android.jar: any API newer than 23 fails to compile here.
    # src/litert/java is left out on purpose: the LiteRT library is not obtainable without Google's Maven.
    javac -nowarn -Xlint:-options -encoding UTF-8 -source 7 -target 7 -bootclasspath "$ANDROID_JAR" -d "$out/classes" \
        $(find "$HERE/core/src/main/java" "$APP/java" "$out/gen" -name '*.java')
    java -jar "$DX_JAR" --dex --min-sdk-version="$MIN_SDK" --output="$out/dex/classes.dex" "$out/classes"
    local assets=()
    local assets_dir="${APP_ASSETS:-$APP/assets}"
    if [ -d "$assets_dir" ]; then assets=(-A "$assets_dir"); fi
    # tflite and npy stay uncompressed so they can be mapped straight from the APK.
    aapt package "${aapt_common[@]}" "${assets[@]}" -0 tflite -0 npy -F "$out/unsigned.apk"
    (cd "$out/dex" && aapt add "$out/unsigned.apk" classes.dex >/dev/null)
    zipalign -f -p 4 "$out/unsigned.apk" "$out/aligned.apk"
    local ks="$CACHE/debug.keystore"
    if [ ! -f "$ks" ]; then
        mkdir -p "$CACHE"
        keytool -genkeypair -keystore "$ks" -storepass android -keypass android -alias androiddebugkey \
            -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" >/dev/null 2>&1
    fi
    local apk="$out/lightavseg-demo-debug.apk"
    apksigner sign --ks "$ks" --ks-pass pass:android --key-pass pass:android --ks-key-alias androiddebugkey \
        --min-sdk-version "$MIN_SDK" --out "$apk" "$out/aligned.apk"
    rm -f "$out/unsigned.apk" "$out/aligned.apk"
    apksigner verify --verbose --min-sdk-version "$MIN_SDK" "$apk" | tee "$out/apksigner-verify.txt"
    aapt dump badging "$apk" | tee "$out/badging.txt"
    grep -q "^package: name='org.lightavseg.demo'" "$out/badging.txt" || die "badging: wrong package"
    grep -q "^sdkVersion:'$MIN_SDK'" "$out/badging.txt" || die "badging: wrong minSdk"
    grep -q "^launchable-activity: name='org.lightavseg.demo.MainActivity'" "$out/badging.txt" || die "badging: no launcher activity"
    log "built $apk"
}

"$@"
