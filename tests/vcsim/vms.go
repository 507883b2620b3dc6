package main

// Fixture VMs: created through the simulator's own CreateVM_Task, then given what vcsim cannot
// create (guest identity, guest networking, problem devices, RDM backings), then wrapped as
// trackedVM so snapshots freeze disks and CBT works.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// CreateVM builds one fixture VM and leaves it registered as a trackedVM.
func (bed *Testbed) CreateVM(ctx context.Context, spec *VMSpec) error {
	folder, err := bed.Folder(ctx, spec.Folder)
	if err != nil {
		return err
	}
	devices, diskNames, err := bed.deviceSpecs(ctx, spec)
	if err != nil {
		return err
	}
	// Disk files on another datastore than the VM's home need their directory to exist.
	for _, disk := range spec.Disks {
		if err := os.MkdirAll(path.Join(bed.Datastores[disk.Datastore], spec.Name), 0o755); err != nil {
			return err
		}
	}

	config := types.VirtualMachineConfigSpec{
		Name:              spec.Name,
		GuestId:           string(types.VirtualMachineGuestOsIdentifierOtherGuest64), // the real id is set below: vcsim knows few
		NumCPUs:           spec.CPU.Sockets * spec.CPU.CoresPerSocket,
		NumCoresPerSocket: spec.CPU.CoresPerSocket,
		MemoryMB:          int64(spec.MemoryMiB),
		Firmware:          spec.Firmware,
		Files:             &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s/%s.vmx", spec.Datastore, spec.Name, spec.Name)},
	}
	if config.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	for _, change := range config.DeviceChange {
		if _, ok := change.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			change.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}

	host, pool, err := bed.Placement(spec.Host)
	if err != nil {
		return fmt.Errorf("vm %s: %w", spec.Name, err)
	}
	task, err := folder.CreateVM(ctx, config, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return fmt.Errorf("create vm %s: %w", spec.Name, err)
	}
	ref := info.Result.(types.ManagedObjectReference)
	bed.VMs[spec.Name] = ref

	for i := range spec.Disks {
		if err := bed.writeDisk(&spec.Disks[i], diskNames[i]); err != nil {
			return fmt.Errorf("vm %s disk %d: %w", spec.Name, i, err)
		}
	}
	if spec.Power == "on" {
		task, err := object.NewVirtualMachine(bed.Client, ref).PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("power on %s: %w", spec.Name, err)
		}
	}

	vm := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	bed.applyIdentity(vm, spec)
	bed.applyGuest(vm, spec)
	applyProblemDevices(vm, spec)
	if err := bed.applyRawDiskMappings(vm, spec, diskNames); err != nil {
		return err
	}
	// A VM that never had CBT has no ctkEnabled keys at all.
	if spec.CBT {
		if err := applyChangeTracking(vm, true, func(i int) bool { return spec.Disks[i].Tracked() }); err != nil {
			return fmt.Errorf("vm %s: %w", spec.Name, err)
		}
	}

	tracked := newTrackedVM(bed, vm)
	for _, snapshot := range spec.Snapshots {
		if _, fault := tracked.takeSnapshot(snapshot.Name, snapshot.Description); fault != nil {
			return fmt.Errorf("vm %s snapshot %s: %T", spec.Name, snapshot.Name, fault)
		}
	}
	return nil
}

// deviceSpecs returns the controllers, disks and NICs to add, and each disk's datastore path.
func (bed *Testbed) deviceSpecs(ctx context.Context, spec *VMSpec) (object.VirtualDeviceList, []string, error) {
	var devices object.VirtualDeviceList
	controllers := map[string]types.BaseVirtualController{}

	controllerFor := func(kind string) (types.BaseVirtualController, error) {
		if c, ok := controllers[kind]; ok {
			return c, nil
		}
		var device types.BaseVirtualDevice
		var err error
		switch kind {
		case "ide":
			// The simulator gives every VM two IDE controllers (keys 200 and 201).
			device = &types.VirtualIDEController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 200}}}
			controllers[kind] = device.(types.BaseVirtualController)
			return controllers[kind], nil
		case "nvme":
			device, err = devices.CreateNVMEController()
		case "sata":
			device = &types.VirtualAHCIController{}
		default:
			device, err = devices.CreateSCSIController(kind)
		}
		if err != nil {
			return nil, err
		}
		// Keys as vSphere numbers them (positive keys are kept by the simulator).
		controller := device.(types.BaseVirtualController).GetVirtualController()
		controller.Key = controllerKey(kind, controller.BusNumber)
		devices = append(devices, device)
		controllers[kind] = device.(types.BaseVirtualController)
		return controllers[kind], nil
	}

	var diskNames []string
	for i, disk := range spec.Disks {
		controller, err := controllerFor(disk.Controller)
		if err != nil {
			return nil, nil, err
		}
		name := spec.Name + ".vmdk"
		if i > 0 {
			name = fmt.Sprintf("%s_%d.vmdk", spec.Name, i)
		}
		dsPath := fmt.Sprintf("[%s] %s/%s", disk.Datastore, spec.Name, name)
		ds, err := bed.Finder.Datastore(ctx, disk.Datastore)
		if err != nil {
			return nil, nil, err
		}
		device := devices.CreateDisk(controller, ds.Reference(), dsPath)
		device.Key = diskKey(disk.Controller, controller.GetVirtualController(), *device.UnitNumber)
		device.CapacityInKB = disk.SizeBytes / 1024
		device.CapacityInBytes = disk.SizeBytes
		backing := device.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		backing.DiskMode = diskMode(disk.Mode)
		backing.ThinProvisioned = types.NewBool(*disk.Thin)
		backing.EagerlyScrub = types.NewBool(!*disk.Thin)
		backing.Sharing = map[string]string{"none": "sharingNone", "multi_writer": "sharingMultiWriter"}[disk.Sharing]
		devices = append(devices, device)
		diskNames = append(diskNames, dsPath)
	}

	for i, nic := range spec.NICs {
		network, err := bed.Finder.Network(ctx, nic.Portgroup)
		if err != nil {
			return nil, nil, err
		}
		backing, err := network.EthernetCardBackingInfo(ctx)
		if err != nil {
			return nil, nil, err
		}
		device, err := devices.CreateEthernetCard(nic.Adapter, backing)
		if err != nil {
			return nil, nil, err
		}
		card := device.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.Key = 4000 + int32(i)
		card.MacAddress = nic.MAC
		card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
		if sriov, ok := device.(*types.VirtualSriovEthernetCard); ok {
			sriov.AllowGuestOSMtuChange = types.NewBool(false)
			sriov.SriovBacking = &types.VirtualSriovEthernetCardSriovBackingInfo{
				PhysicalFunctionBacking: &types.VirtualPCIPassthroughDeviceBackingInfo{
					Id: "0000:5e:00.0", DeviceId: "1572", SystemId: "5f1e2a3b-0000-0000-0000-0cc47a000001", VendorId: -32634,
				},
				VirtualFunctionIndex: 0,
			}
		}
		devices = append(devices, device)
	}
	return devices, diskNames, nil
}

func controllerKey(kind string, bus int32) int32 {
	switch kind {
	case "sata":
		return 15000 + bus
	case "nvme":
		return 31000 + bus
	default:
		return 1000 + bus // SCSI
	}
}

// diskKey numbers a disk as vSphere does: 2000+ on SCSI (16 per bus), 3000+ on IDE, 16000+ on SATA,
// 32000+ on NVMe.
func diskKey(kind string, controller *types.VirtualController, unit int32) int32 {
	switch kind {
	case "ide":
		return 3000 + (controller.Key-200)*2 + unit
	case "sata":
		return 16000 + controller.BusNumber*30 + unit
	case "nvme":
		return 32000 + controller.BusNumber*15 + unit
	default:
		return 2000 + controller.BusNumber*16 + unit
	}
}

func diskMode(mode string) string {
	return map[string]string{
		"persistent":                string(types.VirtualDiskModePersistent),
		"independent_persistent":    string(types.VirtualDiskModeIndependent_persistent),
		"independent_nonpersistent": string(types.VirtualDiskModeIndependent_nonpersistent),
	}[mode]
}

func (bed *Testbed) writeDisk(disk *DiskSpec, dsPath string) error {
	descriptor, err := bed.HostPath(dsPath)
	if err != nil {
		return err
	}
	if disk.RDM != "" {
		return nil // written by applyRawDiskMappings
	}
	if err := WriteDiskContent(flatPath(descriptor), disk); err != nil {
		return err
	}
	return WriteDescriptor(descriptor, disk.SizeBytes, uint32(sm64(uint64(disk.SizeBytes), 0)), adapterType(disk.Controller))
}

// adapterType is the descriptor's ddb.adapterType: it names only the classic families, and ESXi
// writes lsilogic for the newer controllers.
func adapterType(controller string) string {
	switch controller {
	case "ide", "buslogic":
		return controller
	default:
		return "lsilogic"
	}
}

// applyIdentity sets what vcsim's CreateVM does not: any guest id, secure boot, CBT, consolidation.
func (bed *Testbed) applyIdentity(vm *simulator.VirtualMachine, spec *VMSpec) {
	vm.Config.GuestId = spec.GuestID
	vm.Config.GuestFullName = spec.GuestFullName
	vm.Summary.Config.GuestId = spec.GuestID
	vm.Summary.Config.GuestFullName = spec.GuestFullName
	vm.Config.ChangeTrackingEnabled = types.NewBool(spec.CBT)
	if vm.Config.BootOptions == nil {
		vm.Config.BootOptions = &types.VirtualMachineBootOptions{}
	}
	vm.Config.BootOptions.EfiSecureBootEnabled = types.NewBool(spec.SecureBoot)
	vm.Runtime.ConsolidationNeeded = types.NewBool(spec.ConsolidationNeeded)
	vm.Summary.Runtime.ConsolidationNeeded = vm.Runtime.ConsolidationNeeded
}

// applyGuest sets what VMware Tools would report from inside a running guest.
func (bed *Testbed) applyGuest(vm *simulator.VirtualMachine, spec *VMSpec) {
	guest := &types.GuestInfo{
		ToolsStatus:        types.VirtualMachineToolsStatusToolsNotRunning,
		ToolsRunningStatus: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning),
		ToolsVersion:       "11365",
		GuestState:         "notRunning",
		HostName:           spec.Hostname,
	}
	var keys []int32
	for _, d := range vm.Config.Hardware.Device {
		if _, ok := d.(types.BaseVirtualEthernetCard); ok {
			keys = append(keys, d.GetVirtualDevice().Key)
		}
	}
	running := spec.Power == "on" && hasIPs(spec)
	for i, nic := range spec.NICs {
		info := types.GuestNicInfo{Network: nic.Portgroup, MacAddress: nic.MAC, Connected: true, DeviceConfigId: keys[i]}
		var config types.NetIpConfigInfo
		for _, cidr := range nic.IPs {
			ip, ipnet, _ := net.ParseCIDR(cidr)
			prefix, _ := ipnet.Mask.Size()
			info.IpAddress = append(info.IpAddress, ip.String())
			config.IpAddress = append(config.IpAddress, types.NetIpConfigInfoIpAddress{
				IpAddress: ip.String(), PrefixLength: int32(prefix), State: "preferred",
			})
			if guest.IpAddress == "" && ip.To4() != nil {
				guest.IpAddress = ip.String()
			}
		}
		if len(config.IpAddress) > 0 {
			info.IpConfig = &config
		}
		guest.Net = append(guest.Net, info)
	}
	if running {
		guest.ToolsStatus = types.VirtualMachineToolsStatusToolsOk
		guest.ToolsRunningStatus = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		guest.GuestState = "running"
		guest.GuestId = spec.GuestID
		guest.GuestFullName = spec.GuestFullName
		guest.GuestFamily = guestFamily(spec.GuestID)
	}
	vm.Guest = guest
	vm.Summary.Guest = &types.VirtualMachineGuestSummary{
		GuestId:            guest.GuestId,
		GuestFullName:      guest.GuestFullName,
		ToolsStatus:        guest.ToolsStatus,
		ToolsRunningStatus: guest.ToolsRunningStatus,
		HostName:           guest.HostName,
		IpAddress:          guest.IpAddress,
	}
	vm.GuestHeartbeatStatus = types.ManagedEntityStatusGray
	if running {
		vm.GuestHeartbeatStatus = types.ManagedEntityStatusGreen
	}
	vm.Summary.QuickStats.GuestHeartbeatStatus = vm.GuestHeartbeatStatus
}

func hasIPs(spec *VMSpec) bool {
	for _, nic := range spec.NICs {
		if len(nic.IPs) > 0 {
			return true
		}
	}
	return false
}

func guestFamily(id string) string {
	switch {
	case strings.HasPrefix(id, "win"):
		return string(types.VirtualMachineGuestOsFamilyWindowsGuest)
	case strings.HasPrefix(id, "solaris"):
		return string(types.VirtualMachineGuestOsFamilySolarisGuest)
	case strings.HasPrefix(id, "darwin"):
		return string(types.VirtualMachineGuestOsFamilyDarwinGuestFamily)
	default:
		return string(types.VirtualMachineGuestOsFamilyLinuxGuest)
	}
}

// applyProblemDevices adds devices vcsim's device configuration does not model.
func applyProblemDevices(vm *simulator.VirtualMachine, spec *VMSpec) {
	add := func(device types.BaseVirtualDevice, label, summary string) {
		d := device.GetVirtualDevice()
		d.DeviceInfo = &types.Description{Label: label, Summary: summary}
		vm.Config.Hardware.Device = append(vm.Config.Hardware.Device, device)
	}
	for _, kind := range spec.Devices {
		switch kind {
		case "pci_passthrough":
			unit := int32(0)
			add(&types.VirtualPCIPassthrough{VirtualDevice: types.VirtualDevice{
				Key: 13000, ControllerKey: 100, UnitNumber: &unit,
				Backing: &types.VirtualPCIPassthroughDeviceBackingInfo{
					VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "NVIDIA Tesla T4"},
					Id:                             "0000:3b:00.0", DeviceId: "1eb8", SystemId: "5f1e2a3b-0000-0000-0000-0cc47a000001", VendorId: 4318,
				},
			}}, "PCI device 0", "NVIDIA Tesla T4")
		case "usb":
			add(&types.VirtualUSBController{
				VirtualController:  types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 7000, ControllerKey: 100}},
				AutoConnectDevices: types.NewBool(true), EhciEnabled: types.NewBool(true),
			}, "USB controller", "Auto connect Enabled")
			unit := int32(0)
			add(&types.VirtualUSB{
				VirtualDevice: types.VirtualDevice{
					Key: 15000, ControllerKey: 7000, UnitNumber: &unit,
					Backing: &types.VirtualUSBUSBBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "path:1/0/2"}},
				},
				Connected: true, Vendor: 0x0781, Product: 0x5567, Family: []string{"storage"}, Speed: []string{"high"},
			}, "USB 1", "SanDisk Cruzer Blade")
		case "tpm":
			add(&types.VirtualTPM{VirtualDevice: types.VirtualDevice{Key: 11000, ControllerKey: 100}}, "Virtual TPM", "Virtual TPM")
		}
	}
}

// applyRawDiskMappings turns the disks declared `rdm` into raw device mappings after creation: the
// simulator's device code only knows flat disks.
func (bed *Testbed) applyRawDiskMappings(vm *simulator.VirtualMachine, spec *VMSpec, diskNames []string) error {
	disks := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))
	for i, disk := range spec.Disks {
		if disk.RDM == "" {
			continue
		}
		device := disks[i].(*types.VirtualDisk)
		flat := device.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		mode := "physicalMode"
		if disk.RDM == "virtual" {
			mode = "virtualMode"
		}
		lun := fmt.Sprintf("02000000006000c29%015x566972747561", i+1)
		device.Backing = &types.VirtualDiskRawDiskMappingVer1BackingInfo{
			VirtualDeviceFileBackingInfo: flat.VirtualDeviceFileBackingInfo,
			LunUuid:                      lun,
			DeviceName:                   "/vmfs/devices/disks/vml." + lun,
			CompatibilityMode:            mode,
			DiskMode:                     string(types.VirtualDiskModeIndependent_persistent),
			Uuid:                         flat.Uuid,
			Sharing:                      "sharingNone",
		}
		descriptor, err := bed.HostPath(diskNames[i])
		if err != nil {
			return err
		}
		_ = os.Remove(flatPath(descriptor))
		rdmp := strings.TrimSuffix(path.Base(descriptor), ".vmdk") + "-rdmp.vmdk"
		text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"+
			"createType=\"vmfsPassthroughRawDeviceMap\"\n\nRW %d VMFSRDM \"%s\"\n", disk.SizeBytes/512, rdmp)
		if err := os.WriteFile(descriptor, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
