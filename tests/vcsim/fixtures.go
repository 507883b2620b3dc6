package main

// The fixture file (tests/fixtures/vms.yaml): its schema is documented at the top of that file.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

type Fixtures struct {
	Inventory Inventory `yaml:"inventory"`
	VMs       []VMSpec  `yaml:"vms"`
}

type Inventory struct {
	Datacenter string   `yaml:"datacenter"`
	Datastores []string `yaml:"datastores"`
	// DatastoreTypes gives a datastore the summary.type of another file system ("vsan", "VVOL");
	// the files stay local directories, only what vSphere reports changes.
	DatastoreTypes map[string]string `yaml:"datastore_types"`
	Networks       []NetworkSpec     `yaml:"networks"`
}

type NetworkSpec struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // standard | distributed
}

type VMSpec struct {
	Name                string         `yaml:"name"`
	Folder              string         `yaml:"folder"`
	GuestID             string         `yaml:"guest_id"`
	GuestFullName       string         `yaml:"guest_full_name"`
	Firmware            string         `yaml:"firmware"`
	SecureBoot          bool           `yaml:"secure_boot"`
	CPU                 CPUSpec        `yaml:"cpu"`
	MemoryMiB           int32          `yaml:"memory_mib"`
	Power               string         `yaml:"power"`
	CBT                 bool           `yaml:"cbt"`
	Hostname            string         `yaml:"hostname"`
	Datastore           string         `yaml:"datastore"`
	Host                string         `yaml:"host"` // the ESXi host it runs on ("": the simulator picks one of the cluster)
	ConsolidationNeeded bool           `yaml:"consolidation_needed"`
	Devices             []string       `yaml:"devices"`
	Snapshots           []SnapshotSpec `yaml:"snapshots"`
	Disks               []DiskSpec     `yaml:"disks"`
	NICs                []NICSpec      `yaml:"nics"`

	// runtime: made through the control API (larger disks allowed), not from the fixture file.
	runtime bool
}

type CPUSpec struct {
	Sockets        int32 `yaml:"sockets"`
	CoresPerSocket int32 `yaml:"cores_per_socket"`
}

type SnapshotSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

type DiskSpec struct {
	SizeBytes  int64       `yaml:"size_bytes"`
	Controller string      `yaml:"controller"`
	Datastore  string      `yaml:"datastore"`
	Mode       string      `yaml:"mode"`
	Thin       *bool       `yaml:"thin"`
	Sharing    string      `yaml:"sharing"`
	RDM        string      `yaml:"rdm"`
	CTK        *bool       `yaml:"ctk"`
	Content    ContentSpec `yaml:"content"`
}

type ContentSpec struct {
	Kind       string      `yaml:"kind"` // zeros | random | sparse_random | text
	Seed       uint64      `yaml:"seed"`
	Percent    uint64      `yaml:"percent"`
	BlockBytes int64       `yaml:"block_bytes"`
	Writes     []TextWrite `yaml:"writes"`
}

type TextWrite struct {
	Offset int64  `yaml:"offset"`
	Text   string `yaml:"text"`
}

type NICSpec struct {
	Adapter   string   `yaml:"adapter"`
	Portgroup string   `yaml:"portgroup"`
	MAC       string   `yaml:"mac"`
	IPs       []string `yaml:"ips"`
}

// maxDiskBytes keeps every fixture disk small enough for CI; VMs made at runtime for benchmarks
// (POST /vms/create) may have disks up to maxRuntimeDiskBytes.
const (
	maxDiskBytes        = 256 << 20
	maxRuntimeDiskBytes = 64 << 30
)

var (
	controllerKinds = setOf("pvscsi", "lsilogic", "lsilogic-sas", "buslogic", "nvme", "sata", "ide")
	adapterKinds    = setOf("vmxnet3", "vmxnet2", "e1000", "e1000e", "pcnet32", "sriov")
	contentKinds    = setOf("zeros", "random", "sparse_random", "text")
	diskModes       = setOf("persistent", "independent_persistent", "independent_nonpersistent")
	extraDevices    = setOf("pci_passthrough", "usb", "tpm")
)

func setOf(items ...string) map[string]bool {
	set := make(map[string]bool, len(items))
	for _, item := range items {
		set[item] = true
	}
	return set
}

// LoadFixtures reads and checks the fixture file, filling in documented defaults.
func LoadFixtures(path string) (*Fixtures, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	decoder.KnownFields(true)
	var fixtures Fixtures
	if err := decoder.Decode(&fixtures); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := fixtures.normalize(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fixtures, nil
}

func (f *Fixtures) normalize() error {
	inv := &f.Inventory
	if inv.Datacenter == "" || len(inv.Datastores) == 0 {
		return fmt.Errorf("inventory needs a datacenter and at least one datastore")
	}
	datastores := setOf(inv.Datastores...)
	for name := range inv.DatastoreTypes {
		if !datastores[name] {
			return fmt.Errorf("datastore_types names %q, which is not in datastores", name)
		}
	}
	networks := map[string]bool{}
	for _, n := range inv.Networks {
		if n.Type != "standard" && n.Type != "distributed" {
			return fmt.Errorf("network %q: type must be standard or distributed", n.Name)
		}
		networks[n.Name] = true
	}

	names := map[string]bool{}
	for i := range f.VMs {
		vm := &f.VMs[i]
		if vm.Name == "" || names[vm.Name] {
			return fmt.Errorf("vm #%d: missing or duplicate name %q", i, vm.Name)
		}
		names[vm.Name] = true
		if err := vm.normalize(inv.Datastores[0], datastores, networks); err != nil {
			return fmt.Errorf("vm %s: %w", vm.Name, err)
		}
	}
	return nil
}

func (vm *VMSpec) normalize(defaultDatastore string, datastores, networks map[string]bool) error {
	if vm.GuestID == "" {
		return fmt.Errorf("guest_id is required")
	}
	if vm.GuestFullName == "" {
		vm.GuestFullName = vm.GuestID
	}
	if vm.Firmware != "bios" && vm.Firmware != "efi" {
		return fmt.Errorf("firmware must be bios or efi")
	}
	if vm.SecureBoot && vm.Firmware != "efi" {
		return fmt.Errorf("secure_boot needs efi firmware")
	}
	if vm.CPU.Sockets < 1 || vm.CPU.CoresPerSocket < 1 || vm.MemoryMiB < 4 {
		return fmt.Errorf("cpu sockets/cores_per_socket and memory_mib must be positive")
	}
	if vm.Power != "on" && vm.Power != "off" {
		return fmt.Errorf("power must be on or off")
	}
	if vm.Datastore == "" {
		vm.Datastore = defaultDatastore
	}
	if !datastores[vm.Datastore] {
		return fmt.Errorf("unknown datastore %q", vm.Datastore)
	}
	for _, d := range vm.Devices {
		if !extraDevices[d] {
			return fmt.Errorf("unknown device %q", d)
		}
	}
	for i := range vm.Disks {
		if err := vm.Disks[i].normalize(datastores, vm.diskLimit()); err != nil {
			return fmt.Errorf("disk %d: %w", i, err)
		}
		if vm.Disks[i].CTK != nil && !vm.CBT {
			return fmt.Errorf("disk %d: ctk needs cbt: true (with CBT off no disk is tracked)", i)
		}
	}
	for i := range vm.NICs {
		nic := &vm.NICs[i]
		if !adapterKinds[nic.Adapter] {
			return fmt.Errorf("nic %d: unknown adapter %q", i, nic.Adapter)
		}
		if !networks[nic.Portgroup] {
			return fmt.Errorf("nic %d: unknown portgroup %q", i, nic.Portgroup)
		}
		if _, err := net.ParseMAC(nic.MAC); err != nil {
			return fmt.Errorf("nic %d: %w", i, err)
		}
		nic.MAC = strings.ToLower(nic.MAC)
		for _, cidr := range nic.IPs {
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				return fmt.Errorf("nic %d: %w", i, err)
			}
		}
	}
	return nil
}

func (d *DiskSpec) normalize(datastores map[string]bool, maxBytes int64) error {
	if d.SizeBytes <= 0 || d.SizeBytes%1024 != 0 || d.SizeBytes > maxBytes {
		return fmt.Errorf("size_bytes must be a positive multiple of 1024, at most %d", maxBytes)
	}
	if !controllerKinds[d.Controller] {
		return fmt.Errorf("unknown controller %q", d.Controller)
	}
	if !datastores[d.Datastore] {
		return fmt.Errorf("unknown datastore %q", d.Datastore)
	}
	if d.Mode == "" {
		d.Mode = "persistent"
	}
	if !diskModes[d.Mode] {
		return fmt.Errorf("unknown mode %q", d.Mode)
	}
	if d.Thin == nil {
		thin := true
		d.Thin = &thin
	}
	switch d.Sharing {
	case "":
		d.Sharing = "none"
	case "none", "multi_writer":
	default:
		return fmt.Errorf("unknown sharing %q", d.Sharing)
	}
	switch d.RDM {
	case "", "physical", "virtual":
	default:
		return fmt.Errorf("rdm must be physical or virtual")
	}
	c := &d.Content
	if c.Kind == "" {
		c.Kind = "zeros"
	}
	if !contentKinds[c.Kind] {
		return fmt.Errorf("unknown content kind %q", c.Kind)
	}
	if c.BlockBytes == 0 {
		c.BlockBytes = 65536
	}
	if c.BlockBytes < 512 || c.Percent > 100 {
		return fmt.Errorf("content: block_bytes must be at least 512 and percent at most 100")
	}
	for _, w := range c.Writes {
		if w.Offset < 0 || w.Offset+int64(len(w.Text)) > d.SizeBytes {
			return fmt.Errorf("content write at %d does not fit the disk", w.Offset)
		}
	}
	return nil
}

// Tracked says whether the disk's scsiX:Y.ctkEnabled is TRUE once the VM's CBT is on.
// diskLimit is the largest disk this VM may declare.
func (vm *VMSpec) diskLimit() int64 {
	if vm.runtime {
		return maxRuntimeDiskBytes
	}
	return maxDiskBytes
}

func (d *DiskSpec) Tracked() bool { return d.CTK == nil || *d.CTK }

func (d *DiskSpec) Independent() bool { return strings.HasPrefix(d.Mode, "independent") }
