#!/usr/bin/env bash
# Fetches Apache Kafka (the broker, run as a single KRaft node, and its command-line tools) from
# the Maven artifacts pinned in tools/kafka/pom.xml into a cache outside the repository, keyed by
# the pinned version and a hash of this script, the pom and the log4j configuration, and prints
# the cache directory. A warm cache returns at once. Needs Java 17 or newer and Maven 3.8 or
# newer; Maven fetches through its usual configuration (~/.m2/settings.xml, ~/.m2/repository).
#
# The directory holds:
#   lib/*.jar                      the class path: java -cp "<dir>/lib/*" <main class> ...
#   config/log4j2.properties       quiet logging: -Dlog4j2.configurationFile=<that file>
#   pom.xml                        the pom the jars came from
#   .build-seconds                 the seconds the fetch took
#
# Cache root: $PRISM_TOOLS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

version="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$here/pom.xml")"
[[ -n $version ]] || { echo "fetch.sh: no <kafka.version> in $here/pom.xml" >&2; exit 1; }
key="$(cat "$here/pom.xml" "$here/log4j2.properties" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
root="${PRISM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator}/kafka"
dir="$root/$version-$key"
# The directory only appears complete (see the mv below), so its marker file is enough.
if [[ -f "$dir/.build-seconds" && -f "$dir/lib/kafka_2.13-$version.jar" ]]; then
  echo "$dir"
  exit 0
fi

start=$(date +%s)
echo "fetching kafka $version into $dir (first fetch only)" >&2
tmp="$dir.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp/config"
# shellcheck disable=SC2064 # expand now: the trap must remove this fetch's directory
trap "rm -rf '$tmp'" EXIT
# Maven runs on a copy of the pom, so that nothing it writes (target/) lands in the repository.
cp "$here/pom.xml" "$tmp/pom.xml"
cp "$here/log4j2.properties" "$tmp/config/log4j2.properties"
# -q: Maven prints only errors, and on stdout: send them to stderr with the rest. Debian's Maven
# 3.8 prints colour resets even with -B -q; sed drops them.
mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp/lib" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
rm -rf "$tmp/target"
[[ -f "$tmp/lib/kafka_2.13-$version.jar" ]] || {
  echo "fetch.sh: Maven left no kafka_2.13-$version.jar in $tmp/lib" >&2
  exit 1
}
echo "$(( $(date +%s) - start ))" > "$tmp/.build-seconds"
mkdir -p "$root"
rm -rf "$dir" && mv "$tmp" "$dir"
trap - EXIT
echo "fetched kafka $version in $(( $(date +%s) - start ))s: $(find "$dir/lib" -name '*.jar' | wc -l) jars, $(du -sh "$dir/lib" | cut -f1)" >&2
echo "$dir"
