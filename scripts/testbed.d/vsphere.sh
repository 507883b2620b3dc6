# shellcheck shell=bash
# The vSphere part of the test bed (sourced by scripts/testbed): a simulated vCenter, API 6.5, built
# from Debian's govmomi simulator by our own launcher (tests/vcsim), with the VMs of
# tests/fixtures/vms.yaml, real disk files, point-in-time snapshots, CBT and a test-control API.
#
# Settings (environment):
#   VMKIT_TESTBED_VSPHERE_PORT          SOAP https port on 127.0.0.1 (default 8989)
#   VMKIT_TESTBED_VSPHERE_CONTROL_PORT  test-control http port on 127.0.0.1 (default 8990)
#   VMKIT_TESTBED_VSPHERE_BULK          extra plain VMs bulk-0001... for benchmarks (default 0)
# State: $VMKIT_TESTBED_DIR/vsphere (binaries, Go build cache, log, PID, datastores).

VSPHERE_DIR=$VMKIT_TESTBED_DIR/vsphere
VSPHERE_LAUNCHER=$VSPHERE_DIR/vcsim-launcher
VSPHERE_SMOKE=$VSPHERE_DIR/vcsim-smoke
VSPHERE_PIDFILE=$VSPHERE_DIR/vcsim.pid
VSPHERE_READY=$VSPHERE_DIR/vcsim.json
VSPHERE_ENV=$VSPHERE_DIR/vcsim.env
VSPHERE_LOG=$VSPHERE_DIR/vcsim.log
VSPHERE_DATASTORES=$VSPHERE_DIR/datastores
VSPHERE_PORT=${VMKIT_TESTBED_VSPHERE_PORT:-8989}
VSPHERE_CONTROL_PORT=${VMKIT_TESTBED_VSPHERE_CONTROL_PORT:-8990}
VSPHERE_BULK=${VMKIT_TESTBED_VSPHERE_BULK:-0}
VSPHERE_PACKAGES="golang-go golang-github-vmware-govmomi-dev golang-gopkg-yaml.v3-dev"

vsphere_say() { echo "vsphere: $*" >&2; }

# Builds a Go main package from the repo offline (GOPATH mode over Debian's Go libraries) when a
# source is newer than the binary.
vsphere_go_build() { # source-dir output
  local src=$TESTBED_REPO/$1 out=$2
  if [[ -x $out ]] && [[ -z $(find "$src" -maxdepth 1 -name '*.go' -newer "$out" -print -quit) ]]; then
    return 0
  fi
  if ! command -v go >/dev/null || [[ ! -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ]] ||
    [[ ! -d /usr/share/gocode/src/gopkg.in/yaml.v3 ]]; then
    vsphere_say "Go or a Go library is missing: apt-get install -y $VSPHERE_PACKAGES"
    return 1
  fi
  vsphere_say "building $1"
  mkdir -p "$VSPHERE_DIR/gopath"
  (cd "$src" && GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$VSPHERE_DIR/gopath:/usr/share/gocode" \
    GOCACHE="$VSPHERE_DIR/gocache" go build -o "$out" .)
}

vsphere_build() {
  vsphere_go_build tests/vcsim "$VSPHERE_LAUNCHER" && vsphere_go_build tests/vcsim/smoke "$VSPHERE_SMOKE"
}

vsphere_running() { testbed_pid_alive "$VSPHERE_PIDFILE" "$VSPHERE_LAUNCHER"; }

vsphere_up() {
  if vsphere_running && [[ -s $VSPHERE_READY ]]; then
    vsphere_say "already up (pid $(<"$VSPHERE_PIDFILE"))"
    return 0
  fi
  vsphere_down 2>/dev/null # a half-started or crashed launcher leaves files behind
  mkdir -p "$VSPHERE_DIR"
  vsphere_build || return 1
  mkdir -p "$VSPHERE_DATASTORES"
  nohup "$VSPHERE_LAUNCHER" \
    -listen "127.0.0.1:$VSPHERE_PORT" -control "127.0.0.1:$VSPHERE_CONTROL_PORT" \
    -fixtures "$TESTBED_REPO/tests/fixtures/vms.yaml" -datastores "$VSPHERE_DATASTORES" \
    -bulk "$VSPHERE_BULK" -ready "$VSPHERE_READY" >"$VSPHERE_LOG" 2>&1 </dev/null &
  local pid=$! i
  echo "$pid" >"$VSPHERE_PIDFILE"
  for ((i = 0; i < 1200; i++)); do
    [[ -s $VSPHERE_READY ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      vsphere_say "the launcher exited; its log ($VSPHERE_LOG) ends with:"
      tail -n 20 "$VSPHERE_LOG" >&2
      vsphere_down 2>/dev/null
      return 1
    fi
    sleep 0.1
  done
  if [[ ! -s $VSPHERE_READY ]]; then
    vsphere_say "not ready after 120 s; see $VSPHERE_LOG"
    vsphere_down
    return 1
  fi
  vsphere_say "up: https://127.0.0.1:$VSPHERE_PORT/sdk, control http://127.0.0.1:$VSPHERE_CONTROL_PORT (pid $(<"$VSPHERE_PIDFILE"))"
}

vsphere_down() {
  if vsphere_running; then
    vsphere_say "stopping pid $(<"$VSPHERE_PIDFILE")"
  fi
  testbed_stop_pid "$VSPHERE_PIDFILE" "$VSPHERE_LAUNCHER"
  rm -rf "$VSPHERE_DATASTORES"
  rm -f "$VSPHERE_READY" "$VSPHERE_ENV"
}

vsphere_status() {
  if ! vsphere_running; then
    vsphere_say "down"
    return 1
  fi
  local envelope='<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body></soapenv:Envelope>'
  local content health api
  content=$(curl -sk --max-time 10 -H 'Content-Type: text/xml' -H 'SOAPAction: urn:vim25/6.5' \
    --data "$envelope" "https://127.0.0.1:$VSPHERE_PORT/sdk") || {
    vsphere_say "unhealthy: no SOAP answer on port $VSPHERE_PORT"
    return 1
  }
  api=$(sed -n 's:.*<apiVersion>\([^<]*\)</apiVersion>.*:\1:p' <<<"$content")
  if [[ $api != 6.5 ]]; then
    vsphere_say "unhealthy: RetrieveServiceContent gave no API 6.5"
    return 1
  fi
  health=$(curl -s --max-time 10 "http://127.0.0.1:$VSPHERE_CONTROL_PORT/health") || {
    vsphere_say "unhealthy: no control API on port $VSPHERE_CONTROL_PORT"
    return 1
  }
  vsphere_say "up: API $api at https://127.0.0.1:$VSPHERE_PORT/sdk; control $health"
}

vsphere_env() {
  if [[ ! -s $VSPHERE_ENV ]] || ! vsphere_running; then
    vsphere_say "not up: run scripts/testbed up vsphere"
    return 1
  fi
  cat "$VSPHERE_ENV"
}
