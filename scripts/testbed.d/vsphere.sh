# shellcheck shell=bash
# The vSphere part of the test bed (sourced by scripts/testbed): a simulated vCenter, API 6.5, built
# from Debian's govmomi simulator by our own launcher (tests/vcsim), with the VMs of
# tests/fixtures/vms.yaml, real disk files, point-in-time snapshots, CBT and a test-control API.
#
# Settings (environment):
#   VMKIT_TESTBED_VSPHERE_PORT          SOAP https port on 127.0.0.1 (default 8989)
#   VMKIT_TESTBED_VSPHERE_CONTROL_PORT  test-control http port on 127.0.0.1 (default 8990)
#   VMKIT_TESTBED_VSPHERE_BULK          extra plain VMs bulk-0001... for benchmarks (default 0)
#   VMKIT_TESTBED_ESXI_PORT             SOAP port of the standalone ESXi simulator (default 8991)
#   VMKIT_TESTBED_ESXI_CONTROL_PORT     its test-control port (default 8992)
# A second launcher serves a standalone ESXi host (`-model esx`, tests/fixtures/esxi.yaml) beside the
# vCenter; both start, stop and are exported together.
# State: $VMKIT_TESTBED_DIR/vsphere (binaries, Go build cache, log, PID, datastores; esxi/ for the host).

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
ESXI_DIR=$VSPHERE_DIR/esxi
ESXI_PIDFILE=$ESXI_DIR/vcsim.pid
ESXI_READY=$ESXI_DIR/vcsim.json
ESXI_ENV=$ESXI_DIR/vcsim.env
ESXI_LOG=$ESXI_DIR/vcsim.log
ESXI_DATASTORES=$ESXI_DIR/datastores
ESXI_PORT=${VMKIT_TESTBED_ESXI_PORT:-8991}
ESXI_CONTROL_PORT=${VMKIT_TESTBED_ESXI_CONTROL_PORT:-8992}
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
esxi_running() { testbed_pid_alive "$ESXI_PIDFILE" "$VSPHERE_LAUNCHER"; }

# Starts one launcher in the background: pidfile ready log datastores, then its flags.
vsphere_start() {
  local pidfile=$1 ready=$2 log=$3 datastores=$4
  shift 4
  mkdir -p "$datastores"
  nohup "$VSPHERE_LAUNCHER" -datastores "$datastores" -ready "$ready" "$@" >"$log" 2>&1 </dev/null &
  echo "$!" >"$pidfile"
}

# Waits until the launcher wrote its ready file; on failure shows its log.
vsphere_wait() { # pidfile ready log
  local pid i
  pid=$(<"$1")
  for ((i = 0; i < 1200; i++)); do
    [[ -s $2 ]] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      vsphere_say "the launcher exited; its log ($3) ends with:"
      tail -n 20 "$3" >&2
      return 1
    fi
    sleep 0.1
  done
  vsphere_say "not ready after 120 s; see $3"
  return 1
}

# Stops one launcher and deletes its state: pidfile ready env datastores.
vsphere_stop() {
  testbed_stop_pid "$1" "$VSPHERE_LAUNCHER"
  rm -rf "$4"
  rm -f "$2" "$3"
}

vsphere_up() {
  local vcenter=0 esxi=0
  vsphere_running && [[ -s $VSPHERE_READY ]] && vcenter=1
  esxi_running && [[ -s $ESXI_READY ]] && esxi=1
  if [[ $vcenter == 1 && $esxi == 1 ]]; then
    vsphere_say "already up (pids $(<"$VSPHERE_PIDFILE") $(<"$ESXI_PIDFILE"))"
    return 0
  fi
  mkdir -p "$VSPHERE_DIR" "$ESXI_DIR"
  vsphere_build || return 1
  # Each starts unless it runs (a half-started or crashed one first leaves its files behind); both
  # start at once, and the ESXi host's few VMs are ready before the vCenter's.
  if [[ $vcenter == 0 ]]; then
    vsphere_stop "$VSPHERE_PIDFILE" "$VSPHERE_READY" "$VSPHERE_ENV" "$VSPHERE_DATASTORES"
    vsphere_start "$VSPHERE_PIDFILE" "$VSPHERE_READY" "$VSPHERE_LOG" "$VSPHERE_DATASTORES" \
      -listen "127.0.0.1:$VSPHERE_PORT" -control "127.0.0.1:$VSPHERE_CONTROL_PORT" \
      -fixtures "$TESTBED_REPO/tests/fixtures/vms.yaml" -bulk "$VSPHERE_BULK"
  fi
  if [[ $esxi == 0 ]]; then
    vsphere_stop "$ESXI_PIDFILE" "$ESXI_READY" "$ESXI_ENV" "$ESXI_DATASTORES"
    vsphere_start "$ESXI_PIDFILE" "$ESXI_READY" "$ESXI_LOG" "$ESXI_DATASTORES" -model esx \
      -listen "127.0.0.1:$ESXI_PORT" -control "127.0.0.1:$ESXI_CONTROL_PORT" \
      -fixtures "$TESTBED_REPO/tests/fixtures/esxi.yaml"
  fi
  if [[ $vcenter == 0 ]] && ! vsphere_wait "$VSPHERE_PIDFILE" "$VSPHERE_READY" "$VSPHERE_LOG"; then
    vsphere_down 2>/dev/null
    return 1
  fi
  if [[ $esxi == 0 ]] && ! vsphere_wait "$ESXI_PIDFILE" "$ESXI_READY" "$ESXI_LOG"; then
    vsphere_down 2>/dev/null
    return 1
  fi
  vsphere_say "up: https://127.0.0.1:$VSPHERE_PORT/sdk, control http://127.0.0.1:$VSPHERE_CONTROL_PORT (pid $(<"$VSPHERE_PIDFILE"))"
  vsphere_say "up: ESXi https://127.0.0.1:$ESXI_PORT/sdk, control http://127.0.0.1:$ESXI_CONTROL_PORT (pid $(<"$ESXI_PIDFILE"))"
}

vsphere_down() {
  if vsphere_running; then
    vsphere_say "stopping pid $(<"$VSPHERE_PIDFILE")"
  fi
  if esxi_running; then
    vsphere_say "stopping ESXi pid $(<"$ESXI_PIDFILE")"
  fi
  vsphere_stop "$VSPHERE_PIDFILE" "$VSPHERE_READY" "$VSPHERE_ENV" "$VSPHERE_DATASTORES"
  vsphere_stop "$ESXI_PIDFILE" "$ESXI_READY" "$ESXI_ENV" "$ESXI_DATASTORES"
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
  if ! esxi_running; then
    vsphere_say "ESXi simulator down"
    return 1
  fi
  content=$(curl -sk --max-time 10 -H 'Content-Type: text/xml' -H 'SOAPAction: urn:vim25/6.5' \
    --data "$envelope" "https://127.0.0.1:$ESXI_PORT/sdk") || {
    vsphere_say "unhealthy: no SOAP answer on the ESXi port $ESXI_PORT"
    return 1
  }
  if [[ $content != *"<apiType>HostAgent</apiType>"* ]]; then
    vsphere_say "unhealthy: the ESXi simulator is not a HostAgent"
    return 1
  fi
  vsphere_say "up: ESXi (HostAgent) at https://127.0.0.1:$ESXI_PORT/sdk"
}

vsphere_env() {
  if [[ ! -s $VSPHERE_ENV ]] || ! vsphere_running; then
    vsphere_say "not up: run scripts/testbed up vsphere"
    return 1
  fi
  cat "$VSPHERE_ENV"
  # A vCenter started by an older checkout runs alone: its tests still get their variables, the
  # ESXi tests fail saying how to start the host.
  if [[ -s $ESXI_ENV ]] && esxi_running; then
    cat "$ESXI_ENV"
  else
    vsphere_say "the ESXi simulator is not up: run scripts/testbed up vsphere"
  fi
}
