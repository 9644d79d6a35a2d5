# Sourced by ./mvn25, ./sd, ./bench and .ci/run: finds a JDK >= 25 and exports JAVA_HOME.
# Order: $JAVA_HOME, /usr/lib/jvm/*, /opt/*, ~/.sdkman, then the java on PATH.
d4j_java_major() { # prints the feature version of the java in $1/bin/java, or nothing
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
d4j_find_jdk() {
  local c v
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/* /opt/* /opt/java/* \
           "$HOME"/.sdkman/candidates/java/* \
           "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")"; do
    [ -n "$c" ] && [ -d "$c" ] || continue
    v=$(d4j_java_major "$c")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then echo "$c"; return 0; fi
  done
  return 1
}
if ! D4J_JDK=$(d4j_find_jdk); then
  echo "diffusion4j needs a JDK 25 or newer: set JAVA_HOME to one (looked in \$JAVA_HOME, /usr/lib/jvm, /opt, ~/.sdkman and the java on PATH)" >&2
  exit 1
fi
export JAVA_HOME="$D4J_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
# Objects on 64-byte boundaries: packed GEMM panels then start on a cache line (see ArrayAlignment; 5-15 % on GEMMs).
D4J_JVM_FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:ObjectAlignmentInBytes=64"
