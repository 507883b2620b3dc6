# shellcheck shell=bash
# The test bed's OpenStack: a real control plane from Debian 12's packages (OpenStack Zed) on
# 127.0.0.1 — Keystone, Placement, Nova (fake hypervisor), Cinder (NFS driver over a local folder, so
# volumes are real sparse files), Neutron (ML2 with a driver that binds every port), Glance — with
# MariaDB and RabbitMQ, all started without systemd, every PID recorded in the state dir.
#
# Sourced by scripts/testbed, which calls openstack_up | openstack_down | openstack_status |
# openstack_env (and openstack_wipe to start over). The functions run this same file as a script,
# so `set -e` and the helpers below never leak into the caller's shell:
#   bash scripts/testbed.d/openstack.sh up|down|status|env|wipe
# State: ${VMKIT_TESTBED_DIR:-<repo>/.testbed}/openstack. Supporting files: tests/openstack/.

_openstack_sh=$(realpath "${BASH_SOURCE[0]}")
openstack_up() { VMKIT_TESTBED_DIR="${VMKIT_TESTBED_DIR:-}" bash "$_openstack_sh" up; }
openstack_down() { VMKIT_TESTBED_DIR="${VMKIT_TESTBED_DIR:-}" bash "$_openstack_sh" down; }
openstack_status() { VMKIT_TESTBED_DIR="${VMKIT_TESTBED_DIR:-}" bash "$_openstack_sh" status; }
openstack_env() { VMKIT_TESTBED_DIR="${VMKIT_TESTBED_DIR:-}" bash "$_openstack_sh" env; }
openstack_wipe() { VMKIT_TESTBED_DIR="${VMKIT_TESTBED_DIR:-}" bash "$_openstack_sh" wipe; }
[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0

set -euo pipefail
# Debian's python3 and OpenStack tools, whatever interpreter a developer put first on PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

REPO=$(cd "$(dirname "$_openstack_sh")/../.." && pwd)
FILES=$REPO/tests/openstack
S=${VMKIT_TESTBED_DIR:-$REPO/.testbed}
S=$(mkdir -p "$S" && cd "$S" && pwd)/openstack
HOST=vmkit-testbed
KEYSTONE=http://127.0.0.1:5000
PACKAGES="mariadb-server python3-pymysql rabbitmq-server keystone python3-openstackclient
 placement-api nova-api nova-conductor nova-scheduler nova-compute nova-compute-ironic
 cinder-api cinder-scheduler cinder-volume neutron-server glance-api
 jq curl"  # jq and curl: tests/smoke/openstack.sh
DATABASES="keystone placement nova_api nova nova_cell0 cinder neutron glance"
# name:port of everything that listens; ports are fixed so clouds.yaml and endpoints stay valid.
PORTS="epmd:4369 rabbitmq:5672 mariadb:3306 keystone:5000 placement:8778 nova-api:8774
 cinder-api:8776 neutron-server:9696 glance-api:9292 metadata:8775"
# RabbitMQ on loopback only, its node name and files in the state dir, nothing in /var/lib.
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672
export ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=4369 RABBITMQ_DIST_PORT=25672
export RABBITMQ_MNESIA_BASE=$S/rabbitmq/mnesia RABBITMQ_LOG_BASE=$S/log/rabbitmq
export RABBITMQ_ENABLED_PLUGINS_FILE=$S/rabbitmq/enabled_plugins RABBITMQ_PID_FILE=$S/rabbitmq/pid
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CONFIG_FILE=$S/rabbitmq/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$S/rabbitmq/advanced.config
export RABBITMQ_CONF_ENV_FILE=$S/rabbitmq/rabbitmq-env.conf

say() { echo "[openstack $(date +%T)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
password() { cat "$S/password"; }
db_url() { echo "mysql+pymysql://openstack:$(password)@127.0.0.1"; }
mysql_root() { mysql --socket="$S/run/mysqld.sock" -uroot "$@"; }
rabbitmqctl() { HOME=$S/rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl "$@"; }

install_packages() {
  local missing=() p
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (a few minutes)"
  local t0=$SECONDS
  [ -n "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null)" ] || apt-get update -q
  # nova-compute-ironic: the lightest provider of nova-compute-hypervisor (no libvirt, no qemu).
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q \
    --no-install-recommends "${missing[@]}" >"$S/log/apt-install.log" 2>&1 ||
    die "apt-get install failed, see $S/log/apt-install.log"
  say "packages installed in $((SECONDS - t0)) s"
}

install_mount_shim() {
  # Cinder's NFS driver mounts through mount(8), which runs /sbin/mount.nfs: the helper must live there.
  if [ -e /sbin/mount.nfs ] && ! cmp -s "$FILES/mount.nfs" /sbin/mount.nfs; then
    grep -q 'vmkit test bed shim' /sbin/mount.nfs ||
      die "/sbin/mount.nfs is a real NFS helper (nfs-common?); the test bed needs its bind-mount shim there"
  fi
  cmp -s "$FILES/mount.nfs" /sbin/mount.nfs || install -m 0755 "$FILES/mount.nfs" /sbin/mount.nfs
}

configure() {
  [ -e "$S/configured" ] && return 0
  say "configuring $S"
  mkdir -p "$S"/{etc,run,log,volumes,rabbitmq/mnesia} \
    "$S"/lib/{keystone,nova/instances,cinder/mnt,neutron,glance/images,glance/staging,glance/tasks}
  [ -s "$S/password" ] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$S/password")
  local svc f
  for svc in keystone placement nova cinder neutron glance; do mkdir -p "$S/etc/$svc"; done
  for f in "$FILES"/etc/*.conf; do
    svc=$(basename "$f" .conf); svc=${svc%-api}
    sed -e "s|@STATE@|$S|g" -e "s|@DB@|$(db_url)|g" -e "s|@PASSWORD@|$(password)|g" \
      -e "s|@KEYSTONE@|$KEYSTONE|g" -e "s|@HOST@|$HOST|g" \
      -e "s|@RABBIT@|rabbit://openstack:$(password)@127.0.0.1:5672/|g" \
      "$f" >"$S/etc/$svc/$(basename "$f")"
  done
  chmod -R go-rwx "$S/etc"
  # nova-api-wsgi loads its paste pipeline from the first of its configuration files.
  cp /etc/nova/api-paste.ini "$S/etc/nova/api-paste.ini"
  echo "127.0.0.1:$S/volumes" >"$S/etc/cinder/nfs_shares"
  : >"$S/rabbitmq/rabbitmq-env.conf"
  echo '[].' >"$S/rabbitmq/enabled_plugins"
  echo 'listeners.tcp.default = 127.0.0.1:5672' >"$S/rabbitmq/rabbitmq.conf"
  echo '[].' >"$S/rabbitmq/advanced.config"
  [ -d "$S/mysql/mysql" ] || mariadb-install-db --datadir="$S/mysql" --user=root --skip-test-db \
    --auth-root-authentication-method=socket >"$S/log/mariadb-install-db.log" 2>&1 ||
    die "mariadb-install-db failed, see $S/log/mariadb-install-db.log"
}

# --- processes ------------------------------------------------------------------------------------
# Each service runs in its own session (setsid), so its PID is also its process group and `down`
# stops workers and children with it.
# A PID file holds "PID START-TIME": the start time (clock ticks since boot, /proc/PID/stat field 22)
# tells our process from a later one that got the same PID, whatever it rewrote its title to.
start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
pid_of() { # name -> pid if the process we started under that name is alive
  local f=$S/run/$1.pid pid started
  [ -s "$f" ] || return 1
  read -r pid started <"$f"
  [ -n "$pid" ] && [ "$(start_time "$pid")" = "$started" ] && echo "$pid"
}
record() { # name pid
  echo "$2 $(start_time "$2")" >"$S/run/$1.pid"
}
start() { # name command...
  local name=$1; shift
  pid_of "$name" >/dev/null && return 0
  setsid "$@" >>"$S/log/$name.out" 2>&1 </dev/null &
  record "$name" $!
}
start_uwsgi() { # name port wsgi-script processes threads [env...]
  local name=$1 port=$2 script=$3 processes=$4 threads=$5; shift 5
  pid_of "$name" >/dev/null && return 0
  setsid env "$@" uwsgi --plugins python3 --http-socket "127.0.0.1:$port" --wsgi-file "$script" \
    --master --processes "$processes" --threads "$threads" --enable-threads --lazy-apps --buffer-size 65535 \
    --die-on-term --need-app --worker-reload-mercy 10 --reload-mercy 10 --add-header "Connection: close" --procname-prefix "vmkit-testbed-$name " \
    --logto "$S/log/$name-uwsgi.log" >>"$S/log/$name.out" 2>&1 </dev/null &
  record "$name" $!
}
wait_port() { # name port [seconds]
  local deadline=$((SECONDS + ${3:-180}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
    [ $SECONDS -lt "$deadline" ] || die "$1 not listening on 127.0.0.1:$2, see $S/log/$1*"
    pid_of "$1" >/dev/null || die "$1 exited, see $S/log/$1*"
    sleep 0.5
  done
}

start_infra() {
  mkdir -p "$S/run" "$S/log/rabbitmq"
  start epmd epmd -address 127.0.0.1 -port 4369
  start mariadb mariadbd --no-defaults --datadir="$S/mysql" --user=root --bind-address=127.0.0.1 \
    --port=3306 --socket="$S/run/mysqld.sock" --pid-file="$S/mysql/mariadbd.pid" \
    --log-error="$S/log/mariadb.log" --innodb-buffer-pool-size=128M --max-connections=500 \
    --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --sync-frm=0
  wait_port epmd 4369 30
  HOME=$S/rabbitmq start rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
  wait_port mariadb 3306 60
  wait_port rabbitmq 5672 120
}

create_databases() {
  [ -e "$S/databases-synced" ] && return 0
  local d pw; pw=$(password)
  {
    for d in $DATABASES; do echo "CREATE DATABASE IF NOT EXISTS $d;"; done
    echo "CREATE USER IF NOT EXISTS 'openstack'@'127.0.0.1' IDENTIFIED BY '$pw';"
    echo "GRANT ALL ON *.* TO 'openstack'@'127.0.0.1';"
  } | mysql_root
  rabbitmqctl list_users -q | grep -q '^openstack' || rabbitmqctl add_user openstack "$pw" >/dev/null
  rabbitmqctl set_permissions openstack '.*' '.*' '.*' >/dev/null
  say "creating schemas (parallel db syncs)"
  local e=$S/etc pids=() p
  (keystone-manage --config-file "$e/keystone/keystone.conf" db_sync &&
    keystone-manage --config-file "$e/keystone/keystone.conf" fernet_setup --keystone-user root --keystone-group root &&
    keystone-manage --config-file "$e/keystone/keystone.conf" credential_setup --keystone-user root --keystone-group root &&
    keystone-manage --config-file "$e/keystone/keystone.conf" bootstrap --bootstrap-password "$pw" \
      --bootstrap-admin-url $KEYSTONE/v3 --bootstrap-internal-url $KEYSTONE/v3 \
      --bootstrap-public-url $KEYSTONE/v3 --bootstrap-region-id RegionOne
  ) >"$S/log/sync-keystone.log" 2>&1 & pids+=($!)
  placement-manage --config-file "$e/placement/placement.conf" db sync >"$S/log/sync-placement.log" 2>&1 & pids+=($!)
  (nova-manage --config-file "$e/nova/nova.conf" api_db sync &&
    nova-manage --config-file "$e/nova/nova.conf" cell_v2 map_cell0 --database_connection "$(db_url)/nova_cell0" &&
    nova-manage --config-file "$e/nova/nova.conf" cell_v2 create_cell --name cell1 &&
    nova-manage --config-file "$e/nova/nova.conf" db sync
  ) >"$S/log/sync-nova.log" 2>&1 & pids+=($!)
  cinder-manage --config-file "$e/cinder/cinder.conf" db sync >"$S/log/sync-cinder.log" 2>&1 & pids+=($!)
  glance-manage --config-file "$e/glance/glance-api.conf" db_sync >"$S/log/sync-glance.log" 2>&1 & pids+=($!)
  neutron-db-manage --config-file "$e/neutron/neutron.conf" upgrade heads >"$S/log/sync-neutron.log" 2>&1 & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || die "a db sync failed, see $S/log/sync-*.log"; done
  touch "$S/databases-synced"
}

start_services() {
  local e=$S/etc
  start_uwsgi keystone 5000 /usr/bin/keystone-wsgi-public 1 4 OS_KEYSTONE_CONFIG_DIR="$e/keystone"
  start_uwsgi placement 8778 /usr/bin/placement-api 1 4 OS_PLACEMENT_CONFIG_DIR="$e/placement"
  wait_port keystone 5000
  if [ ! -e "$S/identity-created" ]; then
    python3 "$FILES/resources.py" "$S" identity >>"$S/log/resources.log" 2>&1 ||
      die "creating Keystone objects failed, see $S/log/resources.log"
    touch "$S/identity-created"
  fi
  # nova-api is eventlet-patched: several threads in one uwsgi worker deadlock on RPC (Debian's own
  # uwsgi file says threads = 1), so it gets two single-threaded workers instead.
  start_uwsgi nova-api 8774 /usr/bin/nova-api-wsgi 2 1 OS_NOVA_CONFIG_DIR="$e/nova" "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf"
  start nova-conductor nova-conductor --config-file "$e/nova/nova.conf"
  start nova-scheduler nova-scheduler --config-file "$e/nova/nova.conf"
  start nova-compute nova-compute --config-file "$e/nova/nova.conf"
  # cinder's WSGI application reads its configuration file from the command line it sees.
  start_uwsgi cinder-api 8776 /usr/bin/cinder-wsgi 1 4 UWSGI_PYARGV="--config-file $e/cinder/cinder.conf"
  start cinder-scheduler cinder-scheduler --config-file "$e/cinder/cinder.conf"
  start cinder-volume cinder-volume --config-file "$e/cinder/cinder.conf"
  PYTHONPATH=$FILES/ml2 start neutron-server neutron-server --config-file "$e/neutron/neutron.conf"
  start glance-api glance-api --config-file "$e/glance/glance-api.conf"
  start metadata python3 "$FILES/metadata_stub.py" 8775 "$S/meta_data.json"
  local name_port
  for name_port in $PORTS; do wait_port "${name_port%%:*}" "${name_port##*:}"; done
}

check_ports_free() {
  # The ports are fixed, so only one test bed OpenStack runs on a machine at a time.
  local name_port name port holder
  for name_port in $PORTS; do
    name=${name_port%%:*} port=${name_port##*:}
    pid_of "$name" >/dev/null && continue
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)
    [ -z "$holder" ] || die "127.0.0.1:$port (for $name) is taken: $holder — is another test bed's" \
      "OpenStack up? Stop it with its own VMKIT_TESTBED_DIR: scripts/testbed down openstack"
  done
}

cmd_up() {
  local t0=$SECONDS
  mkdir -p "$S/log" "$S/run"
  install_packages
  install_mount_shim
  configure
  touch "$S/configured"
  check_ports_free
  start_infra
  create_databases
  start_services
  python3 "$FILES/resources.py" "$S" resources >>"$S/log/resources.log" 2>&1 ||
    die "creating test resources failed, see $S/log/resources.log"
  say "up in $((SECONDS - t0)) s; clouds: testbed-admin testbed testbed-appcred in $S/clouds.yaml"
}

# --- stopping -------------------------------------------------------------------------------------
stop_names() { # name... : TERM each process group, wait up to 30 s, then KILL what is left
  local name pid alive=() still deadline=$((SECONDS + 30))
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      say "stopping $name ($pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      alive+=("$pid")
    fi
    rm -f "$S/run/$name.pid"
  done
  while [ ${#alive[@]} -gt 0 ] && [ $SECONDS -lt $deadline ]; do
    still=()
    for pid in "${alive[@]}"; do kill -0 -- "-$pid" 2>/dev/null && still+=("$pid"); done
    alive=("${still[@]+"${still[@]}"}")
    [ ${#alive[@]} -gt 0 ] && sleep 0.5
  done
  for pid in "${alive[@]+"${alive[@]}"}"; do
    say "killing process group $pid"
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}

stop_all() {
  local f name services=()
  for f in "$S"/run/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    case $name in mariadb | rabbitmq | epmd) ;; *) services+=("$name") ;; esac
  done
  # OpenStack services first, while their database and message bus still answer.
  stop_names "${services[@]+"${services[@]}"}"
  stop_names rabbitmq mariadb
  stop_names epmd
}

release_mounts_and_loops() {
  local m dev
  while read -r m; do
    umount "$m" && say "unmounted $m"
  done < <(awk -v base="$S/" 'index($2, base) == 1 {print $2}' /proc/self/mounts | sort -r)
  # Loop devices over volume files, left by a test that died before detaching them.
  while read -r dev; do
    losetup -d "$dev" && say "detached $dev"
  done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v dir="$S/volumes/" 'index($2, dir) == 1 {print $1}')
}

cmd_down() {
  [ -d "$S" ] || return 0
  stop_all
  release_mounts_and_loops
  say "down"
}

cmd_status() {
  [ -e "$S/resources.env" ] || die "not set up: scripts/testbed up openstack"
  local name_port name bad=0 all=() stopped=()
  for name_port in $PORTS nova-conductor nova-scheduler nova-compute cinder-scheduler cinder-volume; do
    name=${name_port%%:*}
    all+=("$name")
    pid_of "$name" >/dev/null || stopped+=("$name")
  done
  if [ ${#stopped[@]} -eq ${#all[@]} ]; then
    echo "openstack: not running (scripts/testbed up openstack)"
    return 1
  fi
  for name in "${stopped[@]+"${stopped[@]}"}"; do echo "openstack/$name: NOT RUNNING"; bad=1; done
  echo "openstack/mariadb: $(mysqladmin --socket="$S/run/mysqld.sock" -uroot ping 2>&1)"
  python3 "$FILES/resources.py" "$S" status || bad=1
  return $bad
}

cmd_env() {
  [ -e "$S/resources.env" ] || die "not set up: scripts/testbed up openstack"
  cat "$S/resources.env"
}

cmd_wipe() {
  cmd_down
  rm -rf "$S"
  say "wiped $S"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  wipe) cmd_wipe ;;
  *) die "usage: $0 up|down|status|env|wipe" ;;
esac
