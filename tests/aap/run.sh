#!/usr/bin/env bash
# Checks the execution environment (aee/) and the AAP configuration (aap/) without a container
# engine or a controller, and runs playbooks/verify.yml and playbooks/notify.yml for real:
# - ansible-builder create on aee/execution-environment.yml, then the build's galaxy and
#   introspection stages run here on the generated context: only this collection, no Python SDK;
# - aap/*.yml syntax-checked and linted (production profile, then every rule, including module
#   arguments against awx.awx's own argument specs);
# - the workflow's graph, and the variables each job template makes of a survey's answers and a
#   credential, evaluated by ansible-playbook as AAP passes them;
# - verify.yml against the test bed's OpenStack, notify.yml against a webhook receiver on loopback.
# Needs scripts/install-deps (ansible-builder, tests/aap/install-awx), scripts/build.sh --collection
# and the test bed's OpenStack. Prints "N passed, N failed".
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${VMKIT_VENV:-$HOME/.cache/vmkit/venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$venv/aap-collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
cd "$repo"

passed=0 failed=0 failures=()
check() {
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"
  else failed=$((failed + 1)); failures+=("$name"); echo "FAILED: $name"; fi
}
fail_with() { echo "$*" >&2; return 1; }

work=$(mktemp -d)
receiver_pid=
trap '[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null; rm -rf "$work"' EXIT

version=$(sed -n 's/^version: *//p' galaxy.yml)
tarball="build/os_migrate-vmware_migration_kit-$version.tar.gz"

# --- Execution environment -------------------------------------------------------------------
have_tools() {
  command -v ansible-builder >/dev/null || fail_with "ansible-builder missing: run scripts/install-deps"
  [ -f "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/awx/awx/MANIFEST.json" ] ||
    fail_with "awx.awx missing from $ANSIBLE_COLLECTIONS_PATH: run scripts/install-deps (tests/aap/install-awx)"
  [ -f "$tarball" ] || fail_with "$tarball missing: run scripts/build.sh --collection"
}
check "tools, awx.awx and the collection tarball are there" have_tools

ctx="$work/context"
check "ansible-builder create" bash -c \
  "ansible-builder create -f aee/execution-environment.yml -c '$ctx' --output-filename Containerfile >'$work/create.log' 2>&1 || { cat '$work/create.log'; exit 1; }"

ee_version_matches() {
  grep -q "os_migrate-vmware_migration_kit-$version.tar.gz" aee/execution-environment.yml &&
    grep -q "os_migrate-vmware_migration_kit-$version.tar.gz" aee/requirements.yml ||
    fail_with "aee/execution-environment.yml and aee/requirements.yml must name the tarball of galaxy.yml's version $version"
}
check "aee/ names the tarball of galaxy.yml's version" ee_version_matches

context_installs_the_collection() {
  grep -q 'ansible-galaxy collection install .* -r requirements.yml' "$ctx/Containerfile" &&
    grep -q 'name: os_migrate.vmware_migration_kit' "$ctx/_build/requirements.yml" &&
    [ -f "$ctx/_build/tmp/os_migrate-vmware_migration_kit-$version.tar.gz" ] &&
    grep -q '^ARG ANSIBLE_INSTALL_REFS="ansible-core==[0-9.]* ansible-runner==[0-9.]*"$' "$ctx/Containerfile"
}
check "Containerfile installs the collection from its tarball, with ansible-core and ansible-runner only" \
  context_installs_the_collection

no_sdk_in_context() {
  local hits
  # What the build installs, not what comments and prose say it leaves out.
  hits=$(grep -rIHiE 'pyvmomi|pyvim|openstacksdk|vmware\.vmware|python-openstackclient' \
    "$ctx/Containerfile" "$ctx/_build"/*.yml "$ctx/_build"/*.txt 2>/dev/null | grep -vE '^[^:]*:[[:space:]]*#')
  [ -z "$hits" ] || { fail_with "an SDK or another collection is named in: $hits"; return 1; }
  [ ! -e "$ctx/_build/requirements.txt" ] || fail_with "the context has Python requirements"
}
check "no Python SDK, no other collection in the build context" no_sdk_in_context

# The image build's galaxy stage, run here on the generated context.
collections="$work/collections"
galaxy_stage() {
  (cd "$ctx/_build" && ansible-galaxy collection install -r requirements.yml -p "$collections" >"$work/galaxy.log" 2>&1) ||
    { cat "$work/galaxy.log"; return 1; }
  local installed
  installed=$(cd "$collections/ansible_collections" && ls -d */*)
  [ "$installed" = "os_migrate/vmware_migration_kit" ] || fail_with "installed: $installed"
  local kit="$collections/ansible_collections/os_migrate/vmware_migration_kit"
  file -b "$kit/libexec/vmkit" | grep -qE 'statically linked|static-pie linked' ||
    fail_with "libexec/vmkit is not a static executable"
  [ "$(readlink -f "$kit/plugins/modules/validate")" = "$(readlink -f "$kit/libexec/vmkit")" ] ||
    fail_with "plugins/modules/validate is not the executable"
}
check "galaxy stage: only this collection, its static executable and module links" galaxy_stage

# The image build's introspection stage: what the final image installs with pip and dnf.
introspection_stage() {
  python3 "$ctx/_build/scripts/introspect.py" introspect "$collections" \
    --user-bindep="$ctx/_build/bindep.txt" >"$work/introspect.yml" 2>&1 || { cat "$work/introspect.yml"; return 1; }
  grep -qx 'python: \[\]' "$work/introspect.yml" || { cat "$work/introspect.yml"; fail_with "pip would install something"; }
  grep -q "openssh-clients" "$work/introspect.yml" || fail_with "no ssh client in the image"
}
check "introspection: nothing for pip, ssh client for the conversion hosts" introspection_stage

tarball_leaves_out_aap_aee() {
  ! tar tzf "$tarball" | grep -qE '^(aap|aee|tests)/' ||
    fail_with "$tarball holds aap/, aee/ or tests/ (galaxy.yml build_ignore)"
}
check "collection tarball leaves aap/ and aee/ out" tarball_leaves_out_aap_aee

# --- AAP configuration ------------------------------------------------------------------------
# verify.yml reads AAP's OpenStack credential with the collection's resolve_cloud.
if [ -f "$tarball" ]; then
  ansible-galaxy collection install -p "$work/collections" "$tarball" >/dev/null &&
    export ANSIBLE_COLLECTIONS_PATH="$work/collections:$ANSIBLE_COLLECTIONS_PATH"
fi
for playbook in aap/configure.yml playbooks/verify.yml playbooks/notify.yml; do
  check "syntax-check $playbook" ansible-playbook --syntax-check "$playbook"
done
lint_files=(aap/configure.yml aap/job_templates.yml aap/vars.example.yml aee/execution-environment.yml
  aee/requirements.yml playbooks/verify.yml playbooks/notify.yml)
check "ansible-lint --profile production" ansible-lint --offline --profile production "${lint_files[@]}"
# Without a profile every rule runs, args among them: each awx.awx task's arguments are checked
# against the module's argument spec; --strict fails on its warnings.
check "ansible-lint, every rule, strict" ansible-lint --offline --strict "${lint_files[@]}"

workflow_graph() {
  python3 - <<'EOF'
import os
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
play = yaml.load(open("aap/configure.yml"), Loader=Loader)[0]
job_templates = yaml.load(open("aap/job_templates.yml"), Loader=Loader)
steps = job_templates["aap_steps"]
task = next(t for t in play["tasks"] if "awx.awx.workflow_job_template" in t)
workflow = task["awx.awx.workflow_job_template"]
nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
errors = []
chain = ["validate", "export", "sync", "approve-cutover", "cutover", "verify", "notify-succeeded"]
if [s["id"] for s in steps] != [c for c in chain[:-1] if c != "approve-cutover"] + ["notify"]:
    errors.append(f"job templates: {[s['id'] for s in steps]}")
approval = nodes["approve-cutover"]["unified_job_template"]
if approval.get("type") != "workflow_approval" or "timeout" not in approval:
    errors.append(f"approve-cutover is no approval node: {approval}")
# The schedule repeats the sync job template; the webhook notification template is attached to the
# workflow on start, success, failure and approvals.
schedule = next((t["awx.awx.schedule"] for t in play["tasks"] if "awx.awx.schedule" in t), None)
if not schedule or not schedule["unified_job_template"].endswith(": sync") or "RRULE:" not in play["vars"]["aap_sync_schedule_rrule"] \
        or schedule["rrule"] != "{{ aap_sync_schedule_rrule }}" or schedule["extra_data"].get("migration_type") != "warm":
    errors.append(f"no schedule of warm sync rounds: {schedule}")
notification = next((t for t in play["tasks"] if "awx.awx.notification_template" in t), None)
if not notification or notification["awx.awx.notification_template"]["notification_type"] != "webhook" \
        or notification["awx.awx.notification_template"]["notification_configuration"]["url"] != "{{ aap_notify_webhook_url }}":
    errors.append(f"no webhook notification template on the webhook URL: {notification}")
for event in ("started", "success", "error", "approvals"):
    if workflow.get(f"notification_templates_{event}") != "{{ aap_notification_templates }}":
        errors.append(f"the workflow has no notification template on {event}")
if task.get("vars", {}).get("aap_notification_templates", "").find("aap_notification_template]") < 0:
    errors.append("aap_notification_templates does not name the notification template")
survey = {q["variable"]: q for q in job_templates["aap_survey"]["spec"]}
if "migration_type" not in survey or survey.get("os_migrate_cutover_at", {}).get("required") is not False:
    errors.append(f"the survey does not carry migration_type and an optional os_migrate_cutover_at: {list(survey)}")
for step, following in zip(chain, chain[1:]):
    related = nodes[step].get("related", {})
    if related.get("success_nodes") != [{"identifier": following}]:
        errors.append(f"{step}: on success goes to {related.get('success_nodes')}, not {following}")
    if related.get("failure_nodes") != [{"identifier": "notify-failed"}]:
        errors.append(f"{step}: on failure goes to {related.get('failure_nodes')}, not notify-failed")
for outcome in ("succeeded", "failed"):
    node = nodes[f"notify-{outcome}"]
    if node.get("extra_data") != {"migration_outcome": outcome} or node.get("related"):
        errors.append(f"notify-{outcome}: {node}")
for identifier, node in nodes.items():
    if node["unified_job_template"].get("type") == "workflow_approval":
        continue
    template = node["unified_job_template"]["name"].split(": ")[-1]
    if template not in [s["id"] for s in steps]:
        errors.append(f"{identifier} runs {template}, which is no job template")
for step in steps:
    if not os.path.isfile(step["playbook"]):
        errors.append(f"job template {step['id']}: {step['playbook']} does not exist")
print("\n".join(errors), file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
}
check "workflow: validate -> export -> sync -> approval -> cutover -> verify -> notify, failures to notify; schedule, notification templates, survey" workflow_graph

jobs="$work/jobs"
mkdir -p "$jobs"
check "job templates' extra_vars written" ansible-playbook tests/aap/job_vars.yml -e job_vars_dir="$jobs"

# The file AAP's built-in OpenStack credential writes (OS_CLIENT_CONFIG_FILE): one cloud,
# devstack, here made of a cloud of the test bed's clouds.yaml.
credential_file() { # cloud file
  python3 - "$OS_CLIENT_CONFIG_FILE" "$1" >"$2" <<'EOF'
import sys

import yaml

cloud = yaml.safe_load(open(sys.argv[1]))["clouds"][sys.argv[2]]
print(yaml.safe_dump({"clouds": {"devstack": cloud}}))
EOF
}

testbed_openstack() {
  [ -n "${OS_CLIENT_CONFIG_FILE:-}" ] && [ -n "${VMKIT_TEST_CONVERSION_HOST_NAME:-}" ] ||
    fail_with "the test bed's OpenStack is not up: scripts/testbed up openstack; eval \"\$(scripts/testbed env)\""
}
check "test bed OpenStack" testbed_openstack
if testbed_openstack 2>/dev/null; then
  credential_file testbed "$work/cred-password.yml"
  credential_file testbed-appcred "$work/cred-appcred.yml"
fi

job_sees() { # step migration_type expected-json
  ansible-playbook tests/aap/check_job_vars.yml -e @"$jobs/$1.json" \
    -e "{\"vm_name\": \"web-1, web-2,\", \"migration_type\": \"$2\"}" -e "{\"expected\": $3}"
}
check "validate job: vms_list from vm_name" job_sees validate cold '{"vms_list": ["web-1", "web-2"], "cbt_sync": false}'
check "validate job, warm: warm prerequisites are checked" job_sees validate warm '{"cbt_sync": true}'
check "export job: metadata only" job_sees export cold '{"run_full_migration": false}'
check "sync job, cold: copies nothing" job_sees sync cold '{"run_full_migration": false, "cbt_sync": false, "cutover": false}'
check "sync job, warm: a CBT round" job_sees sync warm '{"run_full_migration": true, "cbt_sync": true, "cutover": false}'
check "cutover job, cold: one cold copy" job_sees cutover cold '{"os_migrate_mode": "cold", "cbt_sync": false, "cutover": false}'
check "cutover job, warm: CBT cutover" job_sees cutover warm '{"os_migrate_mode": "cutover", "cbt_sync": true, "cutover": true}'
# --- verify.yml, as the verify job runs it, against the test bed ------------------------------
verify_job() { # credential vm_name
  env -u OS_CLOUD OS_CLIENT_CONFIG_FILE="$work/cred-$1.yml" ansible-playbook playbooks/verify.yml -e @"$jobs/verify.json" \
    -e "{\"vm_name\": \"$2\", \"migration_type\": \"cold\"}" -e verify_delay=2 >"$work/verify.log" 2>&1
  local rc=$?
  grep -q 'gAAAA' "$work/verify.log" && { echo "a Keystone token reached the job log" >&2; return 1; }
  return $rc
}
verify_finds_active() {
  verify_job "$1" "$VMKIT_TEST_CONVERSION_HOST_NAME" || { tail -20 "$work/verify.log"; return 1; }
  grep -q "$VMKIT_TEST_CONVERSION_HOST_NAME: server .* ACTIVE, flavor" "$work/verify.log"
}
verify_refuses_missing() {
  ! verify_job password "aap-verify-no-such-vm" &&
    grep -q 'aap-verify-no-such-vm: no server of that name in the project' "$work/verify.log"
}
check "verify job (password credential): the test bed's ACTIVE server" verify_finds_active password
check "verify job (a one-cloud clouds.yaml with an application credential): the test bed's ACTIVE server" verify_finds_active appcred
check "verify job: a VM with no server fails saying so" verify_refuses_missing

# --- notify.yml against a webhook receiver on loopback ----------------------------------------
start_receiver() { # status
  [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null && wait "$receiver_pid" 2>/dev/null
  rm -f "$work/port" "$work/body"
  python3 tests/aap/webhook_receiver.py "$work/port" "$work/body" "$1" &
  receiver_pid=$!
  for _ in $(seq 50); do [ -s "$work/port" ] && return 0; sleep 0.1; done
  fail_with "the webhook receiver did not start"
}
notify_job() { # outcome [url]
  ansible-playbook playbooks/notify.yml -e @"$jobs/notify.json" \
    -e '{"vm_name": "web-1", "migration_type": "warm", "awx_workflow_job_id": 156}' \
    -e "{\"migration_outcome\": \"$1\", \"notify_webhook_url\": \"${2:-}\",
         \"vmkit_verify\": [{\"vm\": \"web-1\", \"server_id\": \"0f1e\", \"status\": \"ACTIVE\"}]}" \
    >"$work/notify.log" 2>&1
}
notify_posts_success() {
  start_receiver 204 && notify_job succeeded "http://127.0.0.1:$(cat "$work/port")/hook/s3cret" &&
    python3 - "$work/body" <<'EOF'
import json
import sys

body = json.loads(open(sys.argv[1]).read())
assert body["outcome"] == "succeeded" and body["vms"] == ["web-1"], body
assert body["workflow_job_id"] == "156" and body["servers"][0]["server_id"] == "0f1e", body
assert body["text"] == ("Migration of web-1 to OpenStack succeeded (warm) (AAP workflow job 156): "
                        "web-1 is server 0f1e"), body["text"]
EOF
  local rc=$?
  ! grep -q s3cret "$work/notify.log" || fail_with "the webhook URL reached the job log"
  return $rc
}
notify_posts_failure_then_fails() {
  start_receiver 200 && ! notify_job failed "http://127.0.0.1:$(cat "$work/port")/hook" &&
    grep -q '"outcome": "failed"' "$work/body" && grep -q 'failed at an earlier step of AAP workflow job 156' "$work/notify.log"
}
notify_skips_without_url() { notify_job succeeded "" && grep -q 'skipping' "$work/notify.log"; }
notify_fails_when_refused() {
  start_receiver 500 && ! notify_job succeeded "http://127.0.0.1:$(cat "$work/port")/hook" &&
    grep -q 'The webhook refused the post (HTTP 500)' "$work/notify.log"
}
check "notify job: posts the outcome, servers and workflow job" notify_posts_success
check "notify job: a failed migration is posted, then fails the workflow" notify_posts_failure_then_fails
check "notify job: no webhook URL, no post" notify_skips_without_url
check "notify job: a refused post fails" notify_fails_when_refused

[ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "aap: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
