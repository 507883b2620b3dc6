// Command vcsim-smoke proves the test bed's vSphere simulator with a client we did not write
// (govmomi): login, properties against the fixture file, point-in-time snapshots, changed-block
// tracking, hooks and session ends. It writes into lab-scratch's first disk (that VM exists for it).
//
// Configuration comes from `scripts/testbed env vsphere`. Prints one line per check and
// "N passed, N failed"; exits 1 when a check failed.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"gopkg.in/yaml.v3"
)

const (
	scratchVM = "lab-scratch"
	block     = 64 << 10
)

type smoke struct {
	ctx            context.Context
	env            map[string]string
	client         *vim25.Client
	finder         *find.Finder
	passed, failed int
}

func main() {
	s := &smoke{ctx: context.Background(), env: map[string]string{}}
	for _, name := range []string{"URL", "USER", "PASSWORD", "THUMBPRINT_SHA1", "CONTROL", "DATACENTER"} {
		value := os.Getenv("VMKIT_TEST_VSPHERE_" + name)
		if value == "" {
			fmt.Fprintf(os.Stderr, "VMKIT_TEST_VSPHERE_%s is not set: run scripts/testbed up vsphere; eval \"$(scripts/testbed env vsphere)\"\n", name)
			os.Exit(2)
		}
		s.env[name] = value
	}
	s.env["FIXTURES"] = os.Getenv("VMKIT_TEST_VM_FIXTURES")

	s.run()
	fmt.Printf("%d passed, %d failed\n", s.passed, s.failed)
	if s.failed > 0 || s.passed == 0 {
		os.Exit(1)
	}
}

func (s *smoke) check(name string, err error) bool {
	if err != nil {
		s.failed++
		fmt.Printf("not ok - %s: %v\n", name, err)
		return false
	}
	s.passed++
	fmt.Printf("ok - %s\n", name)
	return true
}

func (s *smoke) run() {
	s.check("a wrong password is rejected", s.wrongPassword())
	if !s.check("login with the thumbprint pinned (SHA-1)", s.login()) {
		return
	}
	s.check("about: vCenter, API 6.5", s.about())
	s.check("every fixture VM matches tests/fixtures/vms.yaml", s.fixtures())
	s.check(`"*" on a live 200 MiB disk: exactly its allocated blocks, over several answers`, s.allocatedLive())
	s.check("ReconfigVM_Task, RefreshStorageInfo and a snapshot on a VM with an RDM disk", s.rawDiskVM())
	s.check("a snapshot freezes persistent disks only (independent ones stay live)", s.independentDiskVM())
	s.pointInTime()
	s.inflightRecord()
	s.check("a session ended server-side needs a new login", s.sessionEnd())
}

func (s *smoke) newClient(password string, thumbprint string) (*vim25.Client, error) {
	u, err := soap.ParseURL(s.env["URL"])
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword(s.env["USER"], password)
	soapClient := soap.NewClient(u, false)
	soapClient.SetThumbprint(u.Host, thumbprint)
	client, err := vim25.NewClient(s.ctx, soapClient)
	if err != nil {
		return nil, err
	}
	return client, session.NewManager(client).Login(s.ctx, u.User)
}

func (s *smoke) wrongPassword() error {
	_, err := s.newClient(s.env["PASSWORD"]+"-wrong", s.env["THUMBPRINT_SHA1"])
	if err == nil {
		return fmt.Errorf("login succeeded")
	}
	if !soap.IsSoapFault(err) {
		return fmt.Errorf("not a SOAP fault: %v", err)
	}
	if _, ok := soap.ToSoapFault(err).VimFault().(types.InvalidLogin); !ok {
		return fmt.Errorf("fault is not InvalidLogin: %v", err)
	}
	return nil
}

func (s *smoke) login() error {
	client, err := s.newClient(s.env["PASSWORD"], s.env["THUMBPRINT_SHA1"])
	if err != nil {
		return err
	}
	s.client = client
	s.finder = find.NewFinder(client, true)
	dc, err := s.finder.Datacenter(s.ctx, s.env["DATACENTER"])
	if err != nil {
		return err
	}
	s.finder.SetDatacenter(dc)
	return nil
}

func (s *smoke) about() error {
	about := s.client.ServiceContent.About
	if about.ApiVersion != "6.5" || about.ApiType != "VirtualCenter" {
		return fmt.Errorf("got %s %s", about.ApiType, about.ApiVersion)
	}
	return nil
}

// fixtureFile is the part of the fixture schema this smoke test compares.
type fixtureFile struct {
	VMs []struct {
		Name          string `yaml:"name"`
		Folder        string `yaml:"folder"`
		GuestID       string `yaml:"guest_id"`
		GuestFullName string `yaml:"guest_full_name"`
		Firmware      string `yaml:"firmware"`
		SecureBoot    bool   `yaml:"secure_boot"`
		Datastore     string `yaml:"datastore"`
		CPU           struct {
			Sockets        int32 `yaml:"sockets"`
			CoresPerSocket int32 `yaml:"cores_per_socket"`
		} `yaml:"cpu"`
		MemoryMiB           int32    `yaml:"memory_mib"`
		Power               string   `yaml:"power"`
		CBT                 bool     `yaml:"cbt"`
		Hostname            string   `yaml:"hostname"`
		ConsolidationNeeded bool     `yaml:"consolidation_needed"`
		Devices             []string `yaml:"devices"`
		Disks               []struct {
			SizeBytes  int64  `yaml:"size_bytes"`
			Mode       string `yaml:"mode"`
			Sharing    string `yaml:"sharing"`
			RDM        string `yaml:"rdm"`
			CTK        *bool  `yaml:"ctk"`
			Controller string `yaml:"controller"`
			Datastore  string `yaml:"datastore"`
			Thin       *bool  `yaml:"thin"`
		} `yaml:"disks"`
		NICs []struct {
			Adapter string   `yaml:"adapter"`
			MAC     string   `yaml:"mac"`
			IPs     []string `yaml:"ips"`
		} `yaml:"nics"`
		Snapshots []struct {
			Name string `yaml:"name"`
		} `yaml:"snapshots"`
	} `yaml:"vms"`
}

func (s *smoke) fixtures() error {
	raw, err := os.ReadFile(s.env["FIXTURES"])
	if err != nil {
		return err
	}
	var file fixtureFile
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return err
	}
	for _, want := range file.VMs {
		vm, err := s.finder.VirtualMachine(s.ctx, want.Name)
		if err != nil {
			return err
		}
		var got mo.VirtualMachine
		if err := vm.Properties(s.ctx, vm.Reference(), []string{"config", "guest", "runtime", "snapshot"}, &got); err != nil {
			return err
		}
		c := got.Config
		var problems []string
		expect := func(field string, got, want interface{}) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				problems = append(problems, fmt.Sprintf("%s = %v, want %v", field, got, want))
			}
		}
		expect("inventory path", vm.InventoryPath, strings.TrimSuffix(fmt.Sprintf("/%s/vm/%s", s.env["DATACENTER"], want.Folder), "/")+"/"+want.Name)
		expect("guestId", c.GuestId, want.GuestID)
		expect("firmware", c.Firmware, want.Firmware)
		expect("numCPU", c.Hardware.NumCPU, want.CPU.Sockets*want.CPU.CoresPerSocket)
		expect("numCoresPerSocket", c.Hardware.NumCoresPerSocket, want.CPU.CoresPerSocket)
		expect("memoryMB", c.Hardware.MemoryMB, want.MemoryMiB)
		expect("powerState", got.Runtime.PowerState, map[string]string{"on": "poweredOn", "off": "poweredOff"}[want.Power])
		expect("changeTrackingEnabled", *c.ChangeTrackingEnabled, want.CBT)
		expect("guest.hostName", got.Guest.HostName, want.Hostname)
		devices := object.VirtualDeviceList(c.Hardware.Device)
		var sizes, wantSizes, macs, wantMACs, ips, wantIPs []string
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			sizes = append(sizes, fmt.Sprint(d.(*types.VirtualDisk).CapacityInBytes))
		}
		for _, d := range want.Disks {
			wantSizes = append(wantSizes, fmt.Sprint(d.SizeBytes))
		}
		for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
			macs = append(macs, d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress)
		}
		for _, n := range got.Guest.Net {
			ips = append(ips, n.IpAddress...)
		}
		for _, n := range want.NICs {
			wantMACs = append(wantMACs, n.MAC)
			for _, cidr := range n.IPs {
				wantIPs = append(wantIPs, strings.Split(cidr, "/")[0])
			}
		}
		var disks, wantDisks, adapters, wantAdapters, extras, wantExtras []string
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			switch b := d.(*types.VirtualDisk).Backing.(type) {
			case *types.VirtualDiskFlatVer2BackingInfo:
				disks = append(disks, fmt.Sprintf("%s/%s/-", b.DiskMode, b.Sharing))
			case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
				disks = append(disks, fmt.Sprintf("%s/%s/%s", b.DiskMode, b.Sharing, b.CompatibilityMode))
			}
		}
		for _, d := range want.Disks {
			mode := map[string]string{"": "persistent", "independent_persistent": "independent_persistent"}[d.Mode]
			sharing := map[string]string{"": "sharingNone", "multi_writer": "sharingMultiWriter"}[d.Sharing]
			rdm := map[string]string{"": "-", "physical": "physicalMode", "virtual": "virtualMode"}[d.RDM]
			if d.RDM != "" {
				mode = "independent_persistent"
			}
			wantDisks = append(wantDisks, mode+"/"+sharing+"/"+rdm)
		}
		for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
			adapters = append(adapters, adapterName(d))
		}
		for _, n := range want.NICs {
			wantAdapters = append(wantAdapters, n.Adapter)
		}
		for _, d := range devices {
			switch d.(type) {
			case *types.VirtualPCIPassthrough:
				extras = append(extras, "pci_passthrough")
			case *types.VirtualUSB:
				extras = append(extras, "usb")
			case *types.VirtualTPM:
				extras = append(extras, "tpm")
			}
		}
		wantExtras = append(wantExtras, want.Devices...)
		var ctk, wantCTK []string
		extra := map[string]string{}
		for _, option := range c.ExtraConfig {
			o := option.GetOptionValue()
			extra[o.Key] = fmt.Sprint(o.Value)
		}
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			ctk = append(ctk, extra[diskSlot(devices, d.(*types.VirtualDisk))+".ctkEnabled"])
		}
		for _, d := range want.Disks {
			wantCTK = append(wantCTK, map[bool]string{true: "TRUE", false: "FALSE"}[d.CTK == nil || *d.CTK])
			if !want.CBT {
				wantCTK[len(wantCTK)-1] = ""
			}
		}
		expect("disks' ctkEnabled", ctk, wantCTK)
		expect("disk sizes", sizes, wantSizes)
		expect("disk modes/sharing/rdm", disks, wantDisks)
		var placement, wantPlacement []string
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			file := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName
			thin := "-"
			if flat, ok := d.GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				thin = fmt.Sprint(*flat.ThinProvisioned)
			}
			controller := devices.FindByKey(d.GetVirtualDevice().ControllerKey)
			placement = append(placement, fmt.Sprintf("%s %s %s", strings.SplitN(file, "]", 2)[0]+"]", controllerName(controller), thin))
		}
		for _, d := range want.Disks {
			thin := "-"
			if d.RDM == "" {
				thin = fmt.Sprint(d.Thin == nil || *d.Thin)
			}
			wantPlacement = append(wantPlacement, fmt.Sprintf("[%s] %s %s", d.Datastore, d.Controller, thin))
		}
		expect("disk datastore/controller/thin", placement, wantPlacement)
		home := want.Datastore
		if home == "" {
			home = "datastore1"
		}
		expect("vmPathName", c.Files.VmPathName, fmt.Sprintf("[%s] %s/%s.vmx", home, want.Name, want.Name))
		fullName := want.GuestFullName
		if fullName == "" {
			fullName = want.GuestID
		}
		expect("guestFullName", c.GuestFullName, fullName)
		expect("efiSecureBootEnabled", c.BootOptions != nil && c.BootOptions.EfiSecureBootEnabled != nil && *c.BootOptions.EfiSecureBootEnabled, want.SecureBoot)
		expect("NIC adapters", adapters, wantAdapters)
		expect("problem devices", extras, wantExtras)
		expect("consolidationNeeded", got.Runtime.ConsolidationNeeded != nil && *got.Runtime.ConsolidationNeeded, want.ConsolidationNeeded)
		expect("MACs", macs, wantMACs)
		expect("guest IPs", ips, wantIPs)
		snapshots := 0
		if got.Snapshot != nil {
			snapshots = len(got.Snapshot.RootSnapshotList)
		}
		if want.Name != scratchVM {
			expect("root snapshots", snapshots, len(want.Snapshots))
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %s", want.Name, strings.Join(problems, "; "))
		}
	}
	return nil
}

func controllerName(device types.BaseVirtualDevice) string {
	switch device.(type) {
	case *types.ParaVirtualSCSIController:
		return "pvscsi"
	case *types.VirtualLsiLogicController:
		return "lsilogic"
	case *types.VirtualLsiLogicSASController:
		return "lsilogic-sas"
	case *types.VirtualBusLogicController:
		return "buslogic"
	case *types.VirtualNVMEController:
		return "nvme"
	case *types.VirtualAHCIController:
		return "sata"
	case *types.VirtualIDEController:
		return "ide"
	default:
		return fmt.Sprintf("%T", device)
	}
}

func adapterName(device types.BaseVirtualDevice) string {
	switch device.(type) {
	case *types.VirtualVmxnet3:
		return "vmxnet3"
	case *types.VirtualVmxnet2:
		return "vmxnet2"
	case *types.VirtualE1000:
		return "e1000"
	case *types.VirtualE1000e:
		return "e1000e"
	case *types.VirtualPCNet32:
		return "pcnet32"
	case *types.VirtualSriovEthernetCard:
		return "sriov"
	default:
		return fmt.Sprintf("%T", device)
	}
}

// image is what a test believes one disk holds.
type image []byte

type write struct {
	offset int64
	data   []byte
}

func randomWrite(offset int64, length int) write {
	data := make([]byte, length)
	_, _ = rand.Read(data)
	return write{offset, data}
}

func (img image) apply(writes []write) image {
	out := append(image(nil), img...)
	for _, w := range writes {
		copy(out[w.offset:], w.data)
	}
	return out
}

// pointInTime is issue 3's "done when": write, snapshot 1, write more, snapshot 2; snapshot 1 reads
// that moment; the changes since snapshot 1 cover every written byte and no unwritten 64 KiB block.
func (s *smoke) pointInTime() {
	vm, err := s.finder.VirtualMachine(s.ctx, scratchVM)
	if !s.check("find "+scratchVM, err) {
		return
	}
	disk, err := s.firstDisk(vm)
	if !s.check("read the first disk of "+scratchVM, err) {
		return
	}
	backing := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	size := disk.CapacityInBytes
	base, err := s.download(backing.FileName, -1, 0)
	if !s.check("download the live disk over /folder", err) {
		return
	}
	s.check("enable CBT with ReconfigVM_Task", s.reconfigCBT(vm, true))

	first := []write{randomWrite(0, 4096), randomWrite(5<<20+123, 200000), randomWrite(size-100, 100)}
	second := []write{randomWrite(5<<20+1000, 3000), randomWrite(40<<20+7, 100), randomWrite(63<<20, block)}
	for _, w := range first {
		if !s.check(fmt.Sprintf("guest write %d bytes at %d", len(w.data), w.offset), s.guestWrite(w)) {
			return
		}
	}
	snap1, err := s.snapshot(vm, "smoke-1")
	if !s.check("snapshot 1", err) {
		return
	}
	for _, w := range second {
		if !s.check(fmt.Sprintf("guest write %d bytes at %d", len(w.data), w.offset), s.guestWrite(w)) {
			return
		}
	}
	// A hook writes at the very moment snapshot 2 is requested: the write must be in snapshot 2.
	raced := randomWrite(20<<20, 512)
	s.check("register a write hook on CreateSnapshot_Task", s.hook("CreateSnapshot_Task", raced))
	snap2, err := s.snapshot(vm, "smoke-2")
	if !s.check("snapshot 2", err) {
		return
	}
	second = append(second, raced)

	at1, at2 := image(base).apply(first), image(base).apply(first).apply(second)
	d1, err := s.snapshotDisk(snap1, disk.Key)
	if !s.check("snapshot 1's disk has its own backing and a change id", err) {
		return
	}
	d2, err := s.snapshotDisk(snap2, disk.Key)
	if !s.check("snapshot 2's disk has its own backing and a change id", err) {
		return
	}
	s.check("(a) snapshot 1's disk (via /folder) holds the bytes of that moment", s.compareFile(d1.FileName, at1))
	s.check("snapshot 2's disk holds the bytes of its moment, hook write included", s.compareFile(d2.FileName, at2))
	s.check("the live disk still has its own file", s.compareFile(backing.FileName, at2))
	s.check("Range requests on /folder", s.compareRange(d1.FileName, at1, 5<<20+100, 1000))

	areas, err := s.changedAreas(vm, snap2, disk.Key, d1.ChangeId, size)
	if s.check("QueryChangedDiskAreas(snapshot 2, change id of snapshot 1)", err) {
		s.check("(b) the areas cover every written byte and no unwritten 64 KiB block", coverExactly(areas, second, size))
	}
	all, err := s.changedAreas(vm, snap1, disk.Key, "*", size)
	if s.check(`QueryChangedDiskAreas(snapshot 1, "*")`, err) {
		s.check(`"*" covers every allocated byte of snapshot 1`, coversAll(all, first))
	}
	_, err = s.changedAreas(vm, snap2, disk.Key, "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1", size)
	s.check("an unknown change id is a FileFault", expectFault(err, func(f types.AnyType) bool { _, ok := f.(types.FileFault); return ok }))
	_, err = s.changedAreas(vm, snap2, disk.Key, "not-a-change-id", size)
	s.check("a malformed change id is InvalidArgument", expectFault(err, func(f types.AnyType) bool { _, ok := f.(types.InvalidArgument); return ok }))

	s.check("remove snapshot 1 deletes its frozen files", s.removeSnapshot(snap1, d1.FileName))
	areas, err = s.changedAreas(vm, snap2, disk.Key, d1.ChangeId, size)
	if s.check("snapshot 1's change id stays valid after its removal", err) {
		s.check("... with the same answer", coverExactly(areas, second, size))
	}
	s.check("revert to snapshot 2 restores the live disk", s.revert(snap2, backing.FileName, at2))
	s.check("rename snapshot 2", s.rename(vm, snap2, "smoke-2-renamed"))
	s.check("remove all snapshots", s.removeAll(vm))
	s.check("remove a snapshot with its children", s.removeWithChildren(vm, disk.Key))
}

func (s *smoke) rename(vm *object.VirtualMachine, snapshot types.ManagedObjectReference, name string) error {
	if _, err := methods.RenameSnapshot(s.ctx, s.client, &types.RenameSnapshot{This: snapshot, Name: name}); err != nil {
		return err
	}
	var got mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"snapshot"}, &got); err != nil {
		return err
	}
	var names []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(tree []types.VirtualMachineSnapshotTree) {
		for _, node := range tree {
			names = append(names, node.Name)
			walk(node.ChildSnapshotList)
		}
	}
	walk(got.Snapshot.RootSnapshotList)
	if !strings.Contains(strings.Join(names, ","), name) {
		return fmt.Errorf("snapshot names %v", names)
	}
	return nil
}

func (s *smoke) removeWithChildren(vm *object.VirtualMachine, key int32) error {
	parent, err := s.snapshot(vm, "smoke-parent")
	if err != nil {
		return err
	}
	child, err := s.snapshot(vm, "smoke-child")
	if err != nil {
		return err
	}
	childDisk, err := s.snapshotDisk(child, key)
	if err != nil {
		return err
	}
	res, err := methods.RemoveSnapshot_Task(s.ctx, s.client, &types.RemoveSnapshot_Task{This: parent, RemoveChildren: true})
	if err != nil {
		return err
	}
	if err := object.NewTask(s.client, res.Returnval).Wait(s.ctx); err != nil {
		return err
	}
	var got mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"snapshot"}, &got); err != nil {
		return err
	}
	if got.Snapshot != nil {
		return fmt.Errorf("snapshots remain")
	}
	if _, err := s.download(childDisk.FileName, 1, 0); err == nil {
		return fmt.Errorf("the child's frozen disk is still served")
	}
	return nil
}

func (s *smoke) rawDiskVM() error {
	vm, err := s.finder.VirtualMachine(s.ctx, "bad-rdm")
	if err != nil {
		return err
	}
	if err := s.reconfigCBT(vm, true); err != nil {
		return err
	}
	if _, err := methods.RefreshStorageInfo(s.ctx, s.client, &types.RefreshStorageInfo{This: vm.Reference()}); err != nil {
		return err
	}
	snap, err := s.snapshot(vm, "smoke-rdm")
	if err != nil {
		return err
	}
	if _, err := s.snapshotDisk(snap, 2000); err != nil {
		return err
	}
	return s.removeAll(vm)
}

func (s *smoke) independentDiskVM() error {
	vm, err := s.finder.VirtualMachine(s.ctx, "bad-independent-disk")
	if err != nil {
		return err
	}
	snap, err := s.snapshot(vm, "smoke-independent")
	if err != nil {
		return err
	}
	if _, err := s.snapshotDisk(snap, 2000); err != nil {
		return err
	}
	var got mo.VirtualMachineSnapshot
	if err := property.DefaultCollector(s.client).RetrieveOne(s.ctx, snap, []string{"config.hardware.device"}, &got); err != nil {
		return err
	}
	independent := object.VirtualDeviceList(got.Config.Hardware.Device).FindByKey(2001).(*types.VirtualDisk)
	if name := independent.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName; strings.Contains(name, "-snapshot") {
		return fmt.Errorf("the independent disk was frozen: %s", name)
	}
	return s.removeAll(vm)
}

func (s *smoke) firstDisk(vm *object.VirtualMachine) (*types.VirtualDisk, error) {
	devices, err := vm.Device(s.ctx)
	if err != nil {
		return nil, err
	}
	disks := devices.SelectByType((*types.VirtualDisk)(nil))
	if len(disks) == 0 {
		return nil, fmt.Errorf("no disk")
	}
	return disks[0].(*types.VirtualDisk), nil
}

func (s *smoke) reconfigCBT(vm *object.VirtualMachine, on bool) error {
	task, err := vm.Reconfigure(s.ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(on)})
	if err != nil {
		return err
	}
	if err := task.Wait(s.ctx); err != nil {
		return err
	}
	var got mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"config.changeTrackingEnabled"}, &got); err != nil {
		return err
	}
	if got.Config.ChangeTrackingEnabled == nil || *got.Config.ChangeTrackingEnabled != on {
		return fmt.Errorf("changeTrackingEnabled is not %v", on)
	}
	// vSphere writes every disk's ctkEnabled when CBT is switched.
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"config.extraConfig", "config.hardware.device"}, &got); err != nil {
		return err
	}
	devices := object.VirtualDeviceList(got.Config.Hardware.Device)
	want := map[bool]string{true: "TRUE", false: "FALSE"}[on]
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		key := diskSlot(devices, d.(*types.VirtualDisk)) + ".ctkEnabled"
		found := ""
		for _, option := range got.Config.ExtraConfig {
			if o := option.GetOptionValue(); o.Key == key {
				found = fmt.Sprint(o.Value)
			}
		}
		if found != want {
			return fmt.Errorf("%s is %q, want %s", key, found, want)
		}
	}
	return nil
}

// diskSlot names a disk's position as .vmx keys do ("scsi0:1").
func diskSlot(devices object.VirtualDeviceList, disk *types.VirtualDisk) string {
	controller := devices.FindByKey(disk.ControllerKey)
	bus := controller.(types.BaseVirtualController).GetVirtualController().BusNumber
	kind := map[string]string{"pvscsi": "scsi", "lsilogic": "scsi", "lsilogic-sas": "scsi", "buslogic": "scsi"}[controllerName(controller)]
	if kind == "" {
		kind = controllerName(controller)
	}
	return fmt.Sprintf("%s%d:%d", kind, bus, *disk.UnitNumber)
}

func (s *smoke) control(method, path string, body interface{}, out interface{}) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.env["CONTROL"]+path, reader)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, res.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (s *smoke) guestWrite(w write) error {
	return s.control("POST", "/write", map[string]interface{}{"vm": scratchVM, "disk": 0, "offset": w.offset, "data": w.data}, nil)
}

func (s *smoke) hook(method string, w write) error {
	return s.control("POST", "/hooks", map[string]interface{}{
		"method": method, "vm": scratchVM,
		"write": map[string]interface{}{"vm": scratchVM, "disk": 0, "offset": w.offset, "data": w.data},
	}, nil)
}

func (s *smoke) snapshot(vm *object.VirtualMachine, name string) (types.ManagedObjectReference, error) {
	task, err := vm.CreateSnapshot(s.ctx, name, "smoke test", false, false)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	info, err := task.WaitForResult(s.ctx, nil)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	return info.Result.(types.ManagedObjectReference), nil
}

func (s *smoke) snapshotDisk(snapshot types.ManagedObjectReference, key int32) (*types.VirtualDiskFlatVer2BackingInfo, error) {
	var snap mo.VirtualMachineSnapshot
	if err := property.DefaultCollector(s.client).RetrieveOne(s.ctx, snapshot, []string{"config.hardware.device"}, &snap); err != nil {
		return nil, err
	}
	disk, ok := object.VirtualDeviceList(snap.Config.Hardware.Device).FindByKey(key).(*types.VirtualDisk)
	if !ok {
		return nil, fmt.Errorf("no disk %d in the snapshot", key)
	}
	backing := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if backing.ChangeId == "" || !strings.Contains(backing.FileName, "-snapshot") {
		return nil, fmt.Errorf("backing %s, change id %q", backing.FileName, backing.ChangeId)
	}
	return backing, nil
}

// folderURL maps "[ds] dir/x.vmdk" to the /folder URL of its flat extent.
func (s *smoke) folderURL(datastorePath string) (string, error) {
	var p object.DatastorePath
	if !p.FromString(datastorePath) {
		return "", fmt.Errorf("bad datastore path %q", datastorePath)
	}
	base := strings.TrimSuffix(s.env["URL"], "/sdk")
	flat := strings.TrimSuffix(p.Path, ".vmdk") + "-flat.vmdk"
	return fmt.Sprintf("%s/folder/%s?dcPath=%s&dsName=%s", base, flat, url.QueryEscape(s.env["DATACENTER"]), url.QueryEscape(p.Datastore)), nil
}

// download fetches a disk's flat file, or length bytes at offset when length >= 0.
func (s *smoke) download(datastorePath string, length, offset int64) ([]byte, error) {
	u, err := s.folderURL(datastorePath)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	if length >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := insecure.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	want := http.StatusOK
	if length >= 0 {
		want = http.StatusPartialContent
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return io.ReadAll(res.Body)
}

func (s *smoke) compareFile(datastorePath string, want image) error {
	got, err := s.download(datastorePath, -1, 0)
	if err != nil {
		return err
	}
	return sameBytes(got, want)
}

func (s *smoke) compareRange(datastorePath string, want image, offset, length int64) error {
	got, err := s.download(datastorePath, length, offset)
	if err != nil {
		return err
	}
	return sameBytes(got, want[offset:offset+length])
}

func sameBytes(got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("first difference at byte %d", i)
		}
	}
	return nil
}

// changedAreas queries one disk's areas over the whole disk, following startOffset/length as a
// vSphere client must.
func (s *smoke) changedAreas(vm *object.VirtualMachine, snapshot types.ManagedObjectReference, key int32, changeID string, size int64) ([]types.DiskChangeExtent, error) {
	areas, _, err := s.changedAreasOf(vm, &snapshot, key, changeID, size)
	return areas, err
}

// changedAreasOf also counts the answers (nil snapshot: the live disk).
func (s *smoke) changedAreasOf(vm *object.VirtualMachine, snapshot *types.ManagedObjectReference, key int32, changeID string, size int64) ([]types.DiskChangeExtent, int, error) {
	var areas []types.DiskChangeExtent
	answers := 0
	for offset := int64(0); offset < size; answers++ {
		res, err := methods.QueryChangedDiskAreas(s.ctx, s.client, &types.QueryChangedDiskAreas{
			This: vm.Reference(), Snapshot: snapshot, DeviceKey: key, StartOffset: offset, ChangeId: changeID,
		})
		if err != nil {
			return nil, answers, err
		}
		info := res.Returnval
		if info.StartOffset != offset || info.Length <= 0 {
			return nil, answers, fmt.Errorf("answer for offset %d covers [%d, +%d)", offset, info.StartOffset, info.Length)
		}
		areas = append(areas, info.ChangedArea...)
		offset = info.StartOffset + info.Length
	}
	return areas, answers, nil
}

// allocatedLive checks "*" on lab-linux-bios's first disk (200 MiB + 64 KiB, text at three
// offsets): exactly the three 64 KiB blocks holding text, over more than one answer.
func (s *smoke) allocatedLive() error {
	vm, err := s.finder.VirtualMachine(s.ctx, "lab-linux-bios")
	if err != nil {
		return err
	}
	disk, err := s.firstDisk(vm)
	if err != nil {
		return err
	}
	areas, answers, err := s.changedAreasOf(vm, nil, disk.Key, "*", disk.CapacityInBytes)
	if err != nil {
		return err
	}
	want := []types.DiskChangeExtent{{Start: 0, Length: block}, {Start: 1 << 20, Length: block}, {Start: 200 << 20, Length: block}}
	if fmt.Sprint(areas) != fmt.Sprint(want) || answers < 2 {
		return fmt.Errorf("%d answers, areas %v, want %v over 2 or more", answers, areas, want)
	}
	return nil
}

// coverExactly: every written byte is in an area, every area is 64 KiB-aligned (or ends the
// disk), and every 64 KiB block of every area holds a written byte.
func coverExactly(areas []types.DiskChangeExtent, writes []write, size int64) error {
	if err := coversAll(areas, writes); err != nil {
		return err
	}
	written := map[int64]bool{}
	for _, w := range writes {
		for b := w.offset / block; b*block < w.offset+int64(len(w.data)); b++ {
			written[b] = true
		}
	}
	for _, a := range areas {
		if a.Start%block != 0 || (a.Length%block != 0 && a.Start+a.Length != size) {
			return fmt.Errorf("area [%d, +%d) is not 64 KiB-aligned", a.Start, a.Length)
		}
		for b := a.Start / block; b*block < a.Start+a.Length; b++ {
			if !written[b] {
				return fmt.Errorf("block at %d was not written but is reported", b*block)
			}
		}
	}
	return nil
}

func coversAll(areas []types.DiskChangeExtent, writes []write) error {
	sort.Slice(areas, func(i, j int) bool { return areas[i].Start < areas[j].Start })
	for _, w := range writes {
		for _, offset := range []int64{w.offset, w.offset + int64(len(w.data)) - 1} {
			covered := false
			for _, a := range areas {
				if offset >= a.Start && offset < a.Start+a.Length {
					covered = true
				}
			}
			if !covered {
				return fmt.Errorf("written byte %d is in no area", offset)
			}
		}
	}
	return nil
}

func expectFault(err error, is func(types.AnyType) bool) error {
	if err == nil {
		return fmt.Errorf("no fault")
	}
	if !soap.IsSoapFault(err) || !is(soap.ToSoapFault(err).VimFault()) {
		return fmt.Errorf("unexpected error: %v", err)
	}
	return nil
}

func (s *smoke) removeSnapshot(snapshot types.ManagedObjectReference, datastorePath string) error {
	res, err := methods.RemoveSnapshot_Task(s.ctx, s.client, &types.RemoveSnapshot_Task{This: snapshot, RemoveChildren: false})
	if err != nil {
		return err
	}
	if err := object.NewTask(s.client, res.Returnval).Wait(s.ctx); err != nil {
		return err
	}
	if _, err := s.download(datastorePath, 1, 0); err == nil {
		return fmt.Errorf("%s is still served", datastorePath)
	}
	return nil
}

func (s *smoke) revert(snapshot types.ManagedObjectReference, live string, want image) error {
	res, err := methods.RevertToSnapshot_Task(s.ctx, s.client, &types.RevertToSnapshot_Task{This: snapshot})
	if err != nil {
		return err
	}
	if err := object.NewTask(s.client, res.Returnval).Wait(s.ctx); err != nil {
		return err
	}
	return s.compareFile(live, want)
}

func (s *smoke) removeAll(vm *object.VirtualMachine) error {
	task, err := vm.RemoveAllSnapshot(s.ctx, nil)
	if err != nil {
		return err
	}
	if err := task.Wait(s.ctx); err != nil {
		return err
	}
	var got mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"snapshot"}, &got); err != nil {
		return err
	}
	if got.Snapshot != nil {
		return fmt.Errorf("snapshots remain")
	}
	return nil
}

func (s *smoke) sessionEnd() error {
	if err := s.control("POST", "/sessions/terminate", nil, nil); err != nil {
		return err
	}
	_, err := methods.GetCurrentTime(s.ctx, s.client)
	if err == nil {
		return fmt.Errorf("the old session still works")
	}
	if _, ok := soap.ToSoapFault(err).VimFault().(types.NotAuthenticated); !soap.IsSoapFault(err) || !ok {
		return fmt.Errorf("expected NotAuthenticated, got %v", err)
	}
	if err := s.login(); err != nil {
		return fmt.Errorf("re-login: %w", err)
	}
	_, err = methods.GetCurrentTime(s.ctx, s.client)
	return err
}

// placedVM makes a one-disk VM (home on datastore1, disk on datastore2) on an ESXi host, with
// the snapshots named taken as it is made (as the fixtures' are at start-up).
func (s *smoke) placedVM(name, host string, snapshots ...string) error {
	spec := map[string]interface{}{
		"name": name, "folder": "Smoke", "guest_id": "rhel8_64Guest", "firmware": "bios", "power": "off",
		"cpu": map[string]int{"sockets": 1, "cores_per_socket": 1}, "memory_mib": 128,
		"datastore": "datastore1", "host": host,
		"disks": []map[string]interface{}{{"size_bytes": 1 << 20, "controller": "pvscsi", "datastore": "datastore2"}},
	}
	var snaps []map[string]string
	for _, name := range snapshots {
		snaps = append(snaps, map[string]string{"name": name})
	}
	if len(snaps) > 0 {
		spec["snapshots"] = snaps
	}
	return s.control("POST", "/vms/create", spec, nil)
}

// runsOn tells whether the VM's runtime.host is the host of that name.
func (s *smoke) runsOn(vm *object.VirtualMachine, want string) error {
	var got mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"runtime.host"}, &got); err != nil {
		return err
	}
	if got.Runtime.Host == nil {
		return fmt.Errorf("no runtime.host")
	}
	var host mo.HostSystem
	if err := property.DefaultCollector(s.client).RetrieveOne(s.ctx, *got.Runtime.Host, []string{"name"}, &host); err != nil {
		return err
	}
	if host.Name != want {
		return fmt.Errorf("runs on %s", host.Name)
	}
	return nil
}

type inflightCount struct {
	Peak    int `json:"peak"`
	Current int `json:"current"`
}

type inflightReport struct {
	All        inflightCount            `json:"all"`
	Hosts      map[string]inflightCount `json:"hosts"`
	Datastores map[string]inflightCount `json:"datastores"`
	Intervals  []struct {
		VM         string   `json:"vm"`
		Host       string   `json:"host"`
		Datastores []string `json:"datastores"`
		Start      string   `json:"start"`
		End        *string  `json:"end"`
	} `json:"intervals"`
}

func (s *smoke) inflight(prefix string) (inflightReport, error) {
	var report inflightReport
	err := s.control("GET", "/inflight?prefix="+url.QueryEscape(prefix), nil, &report)
	return report, err
}

// inflightRecord places VMs on ESXi hosts and checks the record of open snapshots: two VMs of one
// host at once (one of them with two snapshots), two one after the other on another host.
func (s *smoke) inflightRecord() {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := fmt.Sprintf("smoke-inflight-%x-", suffix)
	err := s.placedVM(prefix+"nowhere", "no-such-host")
	s.check("POST /vms/create: an unknown host is a 400 listing the hosts", func() error {
		if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "DC0_C0_H1") || !strings.Contains(err.Error(), "DC0_H0") {
			return fmt.Errorf("got %v", err)
		}
		return nil
	}())

	// d gets a snapshot as it is made, as a fixture at start-up: no migration, not recorded.
	placed := []struct{ name, host string }{{prefix + "a", "DC0_C0_H1"}, {prefix + "b", "DC0_C0_H1"}, {prefix + "c", "DC0_H0"}, {prefix + "d", "DC0_H0"}}
	vms := map[string]*object.VirtualMachine{}
	for _, p := range placed {
		var snapshots []string
		if strings.HasSuffix(p.name, "-d") {
			snapshots = []string{"made-with-the-vm"}
		}
		if !s.check(fmt.Sprintf("POST /vms/create %s on host %s", p.name, p.host), s.placedVM(p.name, p.host, snapshots...)) {
			return
		}
		vm, err := s.finder.VirtualMachine(s.ctx, p.name)
		if !s.check("find "+p.name, err) {
			return
		}
		vms[p.name] = vm
		s.check(p.name+" runs on "+p.host, s.runsOn(vm, p.host))
	}

	a, b, c, d := vms[prefix+"a"], vms[prefix+"b"], vms[prefix+"c"], vms[prefix+"d"]
	var snapA types.ManagedObjectReference
	for _, step := range []struct {
		vm   *object.VirtualMachine
		into *types.ManagedObjectReference
	}{{a, &snapA}, {b, nil}, {c, nil}, {b, nil}} {
		snap, err := s.snapshot(step.vm, "inflight")
		if !s.check("snapshot "+step.vm.Name(), err) {
			return
		}
		if step.into != nil {
			*step.into = snap
		}
	}
	res, err := methods.RemoveSnapshot_Task(s.ctx, s.client, &types.RemoveSnapshot_Task{This: snapA, RemoveChildren: false})
	if err == nil {
		err = object.NewTask(s.client, res.Returnval).Wait(s.ctx)
	}
	if !s.check("remove the snapshot of "+a.Name(), err) {
		return
	}
	// c's snapshot ends before d's begins: DC0_H0 never had two VMs in flight.
	s.check("remove all snapshots of "+c.Name(), s.removeAll(c))
	if _, err := s.snapshot(d, "inflight"); !s.check("snapshot "+d.Name(), err) {
		return
	}
	report, err := s.inflight(prefix)
	if !s.check("GET /inflight?prefix=", err) {
		return
	}
	s.check("/inflight: peak and current per host, per datastore and over all; a VM counts once", func() error {
		want := inflightReport{
			All:        inflightCount{3, 2},
			Hosts:      map[string]inflightCount{"DC0_C0_H1": {2, 1}, "DC0_H0": {1, 1}},
			Datastores: map[string]inflightCount{"datastore1": {3, 2}, "datastore2": {3, 2}},
		}
		if report.All != want.All || fmt.Sprint(report.Hosts) != fmt.Sprint(want.Hosts) || fmt.Sprint(report.Datastores) != fmt.Sprint(want.Datastores) {
			return fmt.Errorf("got all %v hosts %v datastores %v", report.All, report.Hosts, report.Datastores)
		}
		return nil
	}())
	s.check("/inflight: one interval per snapshot taken over SOAP, in order, with host, datastores and end", func() error {
		var got []string
		for _, i := range report.Intervals {
			got = append(got, fmt.Sprintf("%s@%s%v ended=%t", strings.TrimPrefix(i.VM, prefix), i.Host, i.Datastores, i.End != nil))
		}
		want := "[a@DC0_C0_H1[datastore1 datastore2] ended=true b@DC0_C0_H1[datastore1 datastore2] ended=false " +
			"c@DC0_H0[datastore1 datastore2] ended=true b@DC0_C0_H1[datastore1 datastore2] ended=false " +
			"d@DC0_H0[datastore1 datastore2] ended=false]"
		if fmt.Sprint(got) != want {
			return fmt.Errorf("got %v", got)
		}
		first := report.Intervals[0]
		if len(first.Start) != len("2006-01-02T15:04:05.000Z") || *first.End < first.Start {
			return fmt.Errorf("times not RFC 3339 UTC with ms in order: %s, %s", first.Start, *first.End)
		}
		return nil
	}())
	for _, vm := range []*object.VirtualMachine{b, d} {
		s.check("remove all snapshots of "+vm.Name(), s.removeAll(vm))
	}
	report, err = s.inflight(prefix)
	s.check("/inflight after every removal: nothing current, the peaks stay", func() error {
		if err != nil {
			return err
		}
		if report.All != (inflightCount{3, 0}) || report.Hosts["DC0_C0_H1"] != (inflightCount{2, 0}) || report.Hosts["DC0_H0"] != (inflightCount{1, 0}) {
			return fmt.Errorf("got all %v hosts %v", report.All, report.Hosts)
		}
		return nil
	}())
}
