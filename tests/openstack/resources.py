"""Creates, idempotently, what the vmkit test bed offers on its OpenStack, and checks it.

usage: resources.py STATE_DIR identity   -- service users, roles, endpoints, test project + user
       resources.py STATE_DIR resources  -- flavors, volume types, networks, key, app credential,
                                            conversion host; writes clouds.yaml, resources.env,
                                            meta_data.json
       resources.py STATE_DIR status     -- one real request per service

The admin password is in STATE_DIR/password. Run with Debian's python3 (openstacksdk 0.101).
"""

import base64
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import urllib.request

import openstack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

KEYSTONE = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
METADATA_URL = "http://127.0.0.1:8775/openstack/latest/meta_data.json"
SERVICE_USERS = ["nova", "placement", "cinder", "neutron", "glance"]
ENDPOINTS = {
    "placement": ("placement", "http://127.0.0.1:8778"),
    "nova": ("compute", "http://127.0.0.1:8774/v2.1"),
    "cinderv3": ("volumev3", "http://127.0.0.1:8776/v3/%(project_id)s"),
    "cinder": ("block-storage", "http://127.0.0.1:8776/v3/%(project_id)s"),
    "neutron": ("network", "http://127.0.0.1:9696"),
    "glance": ("image", "http://127.0.0.1:9292"),
}
PROJECT = "testbed"
USER = "testbed"
# (name, vcpus, ram MiB, disk GiB)
FLAVORS = [
    ("m1.tiny", 1, 512, 1),
    ("m1.small", 1, 2048, 20),
    ("m1.medium", 2, 4096, 40),
    ("m1.large", 4, 8192, 80),
    ("m1.xlarge", 8, 16384, 160),
    ("2vcpu-4gib-disk0", 2, 4096, 0),
    ("2vcpu-4gib-disk20", 2, 4096, 20),
]
VOLUME_TYPES = ["standard", "fast"]
NETWORK = "testbed-net"
NETWORK2 = "testbed-net2"
SUBNET_V4 = "testbed-subnet-v4"
SUBNET_V6 = "testbed-subnet-v6"
SUBNET2_V4 = "testbed-net2-subnet-v4"
SECURITY_GROUP = "testbed-sg"
KEYPAIR = "testbed-key"
APPCRED = "testbed-appcred"
CONVERSION_HOST = "testbed-conversion-host"
CONVERSION_HOST_FLAVOR = "m1.small"


def log(message):
    print(f"[resources] {message}", flush=True)


class TestBed:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        with open(os.path.join(state_dir, "password")) as f:
            self.password = f.read().strip()
        self.clouds_yaml = os.path.join(state_dir, "clouds.yaml")

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def password_auth(self, user, project):
        return {
            "auth_url": KEYSTONE,
            "username": user,
            "password": self.password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def connect(self, user, project):
        return openstack.connect(auth=self.password_auth(user, project), region_name=REGION,
                                 identity_api_version="3", interface="public")

    # --- identity -------------------------------------------------------------------------
    def identity(self):
        admin = self.connect("admin", "admin")
        idn = admin.identity
        service_project = idn.find_project("service", domain_id="default") or \
            idn.create_project(name="service", domain_id="default")
        for role in ["member", "reader", "service"]:
            idn.find_role(role) or idn.create_role(name=role)
        admin_role, service_role = idn.find_role("admin"), idn.find_role("service")
        member_role, reader_role = idn.find_role("member"), idn.find_role("reader")
        for name in SERVICE_USERS:
            user = idn.find_user(name, domain_id="default") or \
                idn.create_user(name=name, password=self.password, domain_id="default")
            idn.assign_project_role_to_user(service_project, user, admin_role)
            # Cinder lets Nova delete an in-use attachment only with a service token (OSSA-2023-003).
            idn.assign_project_role_to_user(service_project, user, service_role)
        for name, (service_type, url) in ENDPOINTS.items():
            service = idn.find_service(name) or idn.create_service(name=name, type=service_type)
            if not list(idn.endpoints(service_id=service.id)):
                for interface in ("public", "internal", "admin"):
                    idn.create_endpoint(service_id=service.id, interface=interface, url=url,
                                        region_id=REGION)
        project = idn.find_project(PROJECT, domain_id="default") or \
            idn.create_project(name=PROJECT, domain_id="default",
                               description="vmkit tests (non-admin)")
        user = idn.find_user(USER, domain_id="default") or \
            idn.create_user(name=USER, password=self.password, domain_id="default",
                            default_project_id=project.id)
        idn.assign_project_role_to_user(project, user, member_role)
        idn.assign_project_role_to_user(project, user, reader_role)
        log("identity ok")

    # --- resources ------------------------------------------------------------------------
    def write_clouds_yaml(self, appcred=None):
        def password_cloud(user, project):
            lines = [f"    auth:"]
            lines += [f"      {k}: {v}" for k, v in self.password_auth(user, project).items()]
            return "\n".join(lines)

        common = f"    region_name: {REGION}\n    interface: public\n    identity_api_version: 3\n"
        text = "clouds:\n"
        text += "  testbed-admin:\n" + password_cloud("admin", "admin") + "\n" + common
        text += "  testbed:\n" + password_cloud(USER, PROJECT) + "\n" + common
        if appcred:
            text += ("  testbed-appcred:\n    auth_type: v3applicationcredential\n    auth:\n"
                     f"      auth_url: {KEYSTONE}\n"
                     f"      application_credential_id: {appcred['id']}\n"
                     f"      application_credential_secret: {appcred['secret']}\n" + common)
        write_private(self.clouds_yaml, text)

    def resources(self):
        self.write_clouds_yaml(self.read_json("appcred.json"))
        admin = self.connect("admin", "admin")
        project = admin.identity.find_project(PROJECT, domain_id="default")
        user_conn = self.connect(USER, PROJECT)

        for name, vcpus, ram, disk in FLAVORS:
            if not admin.compute.find_flavor(name, ignore_missing=True):
                admin.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk,
                                            is_public=True)
        for name in VOLUME_TYPES:
            if not admin.block_storage.find_type(name, ignore_missing=True):
                admin.block_storage.create_type(
                    name=name, extra_specs={"volume_backend_name": "nfs1"},
                    description=f"test bed volume type {name} (NFS over a local folder)")
        # Large enough for tests that create many servers of the big flavors.
        admin.set_compute_quotas(project.id, instances=100, cores=1000, ram=2048000,
                                 key_pairs=100)
        admin.set_volume_quotas(project.id, volumes=500, gigabytes=100000, snapshots=500,
                                backups=100, backup_gigabytes=100000)
        admin.set_network_quotas(project.id, network=100, subnet=200, port=1000,
                                 security_group=100, security_group_rule=1000)

        net = user_conn.network
        network = net.find_network(NETWORK) or net.create_network(name=NETWORK)
        if not net.find_subnet(SUBNET_V4):
            net.create_subnet(name=SUBNET_V4, network_id=network.id, ip_version=4,
                              cidr="10.20.0.0/24", gateway_ip="10.20.0.1",
                              allocation_pools=[{"start": "10.20.0.100", "end": "10.20.0.250"}])
        if not net.find_subnet(SUBNET_V6):
            net.create_subnet(name=SUBNET_V6, network_id=network.id, ip_version=6,
                              cidr="fd00:20::/64", gateway_ip="fd00:20::1",
                              ipv6_address_mode="dhcpv6-stateful",
                              ipv6_ra_mode="dhcpv6-stateful")
        network2 = net.find_network(NETWORK2) or net.create_network(name=NETWORK2)
        if not net.find_subnet(SUBNET2_V4):
            net.create_subnet(name=SUBNET2_V4, network_id=network2.id, ip_version=4,
                              cidr="10.30.0.0/24", gateway_ip="10.30.0.1")
        group = net.find_security_group(SECURITY_GROUP, project_id=project.id)
        if not group:
            group = net.create_security_group(name=SECURITY_GROUP,
                                              description="vmkit test bed: ssh and icmp in")
            for ethertype in ("IPv4", "IPv6"):
                net.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                               ethertype=ethertype, protocol="tcp",
                                               port_range_min=22, port_range_max=22)
            net.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                           ethertype="IPv4", protocol="icmp")

        public_key = self.keypair_public_key()
        keypair = user_conn.compute.find_keypair(KEYPAIR)
        if keypair and keypair.public_key.strip() != public_key:
            user_conn.compute.delete_keypair(keypair)
            keypair = None
        if not keypair:
            user_conn.compute.create_keypair(name=KEYPAIR, public_key=public_key)

        appcred = self.application_credential(user_conn)
        self.write_clouds_yaml(appcred)

        server = self.conversion_host(admin, user_conn, network)
        self.write_meta_data(server, project.id, public_key)
        self.write_env(server, project, network, network2, group)
        log(f"resources ok; conversion host {server.id}")

    def keypair_public_key(self):
        private_path = self.path(KEYPAIR)
        if not os.path.exists(private_path):
            key = ed25519.Ed25519PrivateKey.generate()
            write_private(private_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption()).decode())
            public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH)
            with open(private_path + ".pub", "w") as f:
                f.write(public.decode() + " vmkit-testbed\n")
        with open(private_path + ".pub") as f:
            return f.read().strip()

    def application_credential(self, user_conn):
        identity = user_conn.identity
        user_id = user_conn.current_user_id
        stored = self.read_json("appcred.json")
        existing = identity.find_application_credential(user_id, APPCRED)
        if existing and stored and stored["id"] == existing.id:
            return stored
        if existing:
            identity.delete_application_credential(user_id, existing.id)
        secret = secrets.token_urlsafe(24)
        created = identity.create_application_credential(
            user_id, name=APPCRED, secret=secret,
            description="vmkit test bed: the testbed user in the testbed project")
        stored = {"id": created.id, "secret": secret}
        write_private(self.path("appcred.json"), json.dumps(stored))
        return stored

    def conversion_host(self, admin, user_conn, network):
        compute = user_conn.compute
        server = compute.find_server(CONVERSION_HOST)
        if server:
            server = compute.get_server(server.id)  # find_server's result lacks the status
        if server and server.status != "ACTIVE":
            log(f"conversion host is {server.status}: recreating it")
            compute.delete_server(server)
            compute.wait_for_delete(server, wait=120)
            server = None
        if server:
            return server
        wait_for(lambda: any(True for _ in admin.compute.hypervisors()), "a hypervisor", 120)
        # Map the compute host into cell1 now rather than at the scheduler's next periodic run.
        subprocess.run(["nova-manage", "--config-file", self.path("etc/nova/nova.conf"),
                        "cell_v2", "discover_hosts"], check=True, capture_output=True)
        wait_for(lambda: any(s["binary"] == "cinder-volume" and s["state"] == "up"
                             for s in volume_services(admin)), "cinder-volume up", 120)
        root = user_conn.block_storage.find_volume(CONVERSION_HOST + "-root")
        if root and root.status != "available":
            user_conn.block_storage.delete_volume(root)
            user_conn.block_storage.wait_for_delete(root, wait=120)
            root = None
        if not root:
            root = user_conn.block_storage.create_volume(name=CONVERSION_HOST + "-root", size=1,
                                                         volume_type=VOLUME_TYPES[0])
            user_conn.block_storage.wait_for_status(root, "available", failures=["error"],
                                                    wait=120)
            user_conn.block_storage.set_volume_bootable_status(root, True)
        flavor = compute.find_flavor(CONVERSION_HOST_FLAVOR)
        server = compute.create_server(
            name=CONVERSION_HOST, flavor_id=flavor.id, networks=[{"uuid": network.id}],
            security_groups=[{"name": SECURITY_GROUP}], key_name=KEYPAIR,
            block_device_mapping_v2=[{"boot_index": 0, "uuid": root.id, "source_type": "volume",
                                      "destination_type": "volume",
                                      "delete_on_termination": False}],
            metadata={"vmkit-testbed": "conversion-host"})
        return compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=180)

    def write_meta_data(self, server, project_id, public_key):
        document = {
            "uuid": server.id,
            "meta": server.metadata or {},
            "public_keys": {KEYPAIR: public_key},
            "keys": [{"name": KEYPAIR, "type": "ssh", "data": public_key}],
            "hostname": f"{server.name}.novalocal",
            "name": server.name,
            "launch_index": 0,
            "availability_zone": server.availability_zone or "nova",
            "random_seed": base64.b64encode(os.urandom(64)).decode(),
            "project_id": project_id,
            "devices": [],
            "dedicated_cpus": [],
        }
        write_private(self.path("meta_data.json"), json.dumps(document), mode=0o644)

    def write_env(self, server, project, network, network2, group):
        subnet = {s.name: s.id for s in self.connect(USER, PROJECT).network.subnets()}
        values = {
            "OS_CLIENT_CONFIG_FILE": self.clouds_yaml,
            "VMKIT_TEST_CLOUD": "testbed",
            "VMKIT_TEST_CLOUD_ADMIN": "testbed-admin",
            "VMKIT_TEST_CLOUD_APPCRED": "testbed-appcred",
            "VMKIT_TEST_PROJECT_ID": project.id,
            "VMKIT_TEST_CONVERSION_HOST_ID": server.id,
            "VMKIT_TEST_CONVERSION_HOST_NAME": server.name,
            "VMKIT_TEST_METADATA_URL": METADATA_URL,
            "VMKIT_TEST_NETWORK": NETWORK,
            "VMKIT_TEST_NETWORK_ID": network.id,
            "VMKIT_TEST_NETWORK2": NETWORK2,
            "VMKIT_TEST_NETWORK2_ID": network2.id,
            "VMKIT_TEST_SUBNET_V4": SUBNET_V4,
            "VMKIT_TEST_SUBNET_V4_ID": subnet[SUBNET_V4],
            "VMKIT_TEST_SUBNET_V6": SUBNET_V6,
            "VMKIT_TEST_SUBNET_V6_ID": subnet[SUBNET_V6],
            "VMKIT_TEST_SECURITY_GROUP": SECURITY_GROUP,
            "VMKIT_TEST_SECURITY_GROUP_ID": group.id,
            "VMKIT_TEST_KEYPAIR": KEYPAIR,
            "VMKIT_TEST_FLAVORS": ",".join(name for name, *_ in FLAVORS),
            "VMKIT_TEST_VOLUME_TYPES": ",".join(VOLUME_TYPES),
            "VMKIT_TEST_LOOP_VOLUME_DIR": self.path("volumes"),
        }
        text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
        write_private(self.path("resources.env"), text, mode=0o644)

    def read_json(self, name):
        try:
            with open(self.path(name)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    # --- status ---------------------------------------------------------------------------
    def status(self):
        failures = 0
        admin = self.connect("admin", "admin")
        stored = self.read_json("appcred.json") or {}
        checks = [
            ("keystone", lambda: f"token for admin, project {admin.current_project_id}"),
            ("placement", lambda: "%d resource providers" % len(
                admin.placement.get("/resource_providers").json()["resource_providers"])),
            ("nova", lambda: "compute services: " + ", ".join(
                f"{s.binary}={s.state}" for s in admin.compute.services())),
            ("cinder", lambda: "volume services: " + ", ".join(
                f"{s['binary']}={s['state']}" for s in volume_services(admin))),
            ("neutron", lambda: "%d networks" % len(list(admin.network.networks()))),
            ("glance", lambda: "%d images" % len(list(admin.image.images()))),
            ("metadata", lambda: "uuid " + json.load(
                urllib.request.urlopen(METADATA_URL, timeout=10))["uuid"]),
            ("appcred", lambda: "token via application credential " + openstack.connect(
                auth={"auth_url": KEYSTONE, "application_credential_id": stored["id"],
                      "application_credential_secret": stored["secret"]},
                auth_type="v3applicationcredential", region_name=REGION).current_project_id),
        ]
        for name, check in checks:
            try:
                print(f"openstack/{name}: ok ({check()})")
            except Exception as error:  # report every service, not just the first broken one
                failures += 1
                print(f"openstack/{name}: FAILED ({type(error).__name__}: {error})")
        return failures


def volume_services(conn):
    # openstacksdk 0.101 has no block-storage service resource.
    return conn.block_storage.get("/os-services").json()["services"]


def wait_for(predicate, what, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except openstack.exceptions.SDKException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout} s")
        time.sleep(2)


def write_private(path, text, mode=0o600):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    state_dir, command = sys.argv[1], sys.argv[2]
    bed = TestBed(state_dir)
    if command == "identity":
        bed.identity()
    elif command == "resources":
        bed.resources()
    elif command == "status":
        sys.exit(1 if bed.status() else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
