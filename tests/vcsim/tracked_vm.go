package main

// trackedVM extends the simulator's VM with point-in-time snapshots and changed-block tracking.
//
// govmomi 0.24.2 facts this relies on: the wrapper embeds simulator.VirtualMachine BY VALUE as its
// first field (the property collector digs the mo type out of field 0; a pointer there panics);
// the library's snapshot code type-asserts the registry's VM to *simulator.VirtualMachine, so every
// snapshot method is written here; the server calls a method with the object's lock held.

import (
	"log"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type trackedVM struct {
	simulator.VirtualMachine

	bed *Testbed
	// tracks holds each disk's changed-block tracking state by device key; emptied when CBT is
	// switched off, so older change ids stop being valid, as on vSphere.
	tracks map[int32]*diskTrack
	// snapshotSeq numbers this VM's snapshots (the tree's id, and the frozen files' names).
	snapshotSeq int32
}

// newTrackedVM replaces the registry's plain VM with the wrapper, under the same reference.
func newTrackedVM(bed *Testbed, vm *simulator.VirtualMachine) *trackedVM {
	tracked := &trackedVM{VirtualMachine: *vm, bed: bed, tracks: map[int32]*diskTrack{}}
	simulator.Map.Put(tracked)
	return tracked
}

func (vm *trackedVM) cbtEnabled() bool {
	return vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
}

// ReconfigVMTask delegates to the simulator, then keeps extraConfig's ctkEnabled keys as vSphere
// does and drops CBT state when tracking was switched off.
func (vm *trackedVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	var res soap.HasFault
	vm.withoutRawDisks(req.Spec.DeviceChange, func() { res = vm.VirtualMachine.ReconfigVMTask(ctx, req) })
	dedupeExtraConfig(&vm.VirtualMachine)
	if switched := req.Spec.ChangeTrackingEnabled; switched != nil && *switched == vm.cbtEnabled() {
		// vSphere (re)writes every disk's ctkEnabled when CBT is switched.
		if err := applyChangeTracking(&vm.VirtualMachine, *switched, func(int) bool { return true }); err != nil {
			log.Printf("%s: ctkEnabled keys: %v", vm.Name, err)
		}
	}
	if !vm.cbtEnabled() {
		vm.tracks = map[int32]*diskTrack{}
	}
	return res
}

// DestroyTask delegates to the simulator, which only understands flat disks.
func (vm *trackedVM) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	var res soap.HasFault
	vm.withoutRawDisks(nil, func() { res = vm.VirtualMachine.DestroyTask(ctx, req) })
	return res
}

// RefreshStorageInfo delegates to the simulator, which only understands flat disks.
func (vm *trackedVM) RefreshStorageInfo(ctx *simulator.Context, req *types.RefreshStorageInfo) soap.HasFault {
	var res soap.HasFault
	vm.withoutRawDisks(nil, func() { res = vm.VirtualMachine.RefreshStorageInfo(ctx, req) })
	return res
}

// withoutRawDisks hides raw device mappings while the simulator's device code runs (it asserts every
// disk backing is flat), then puts back those the change did not remove.
func (vm *trackedVM) withoutRawDisks(changes []types.BaseVirtualDeviceConfigSpec, run func()) {
	removed := map[int32]bool{}
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationRemove {
			removed[spec.Device.GetVirtualDevice().Key] = true
		}
	}
	var raw, kept []types.BaseVirtualDevice
	for _, device := range vm.Config.Hardware.Device {
		if disk, ok := device.(*types.VirtualDisk); ok {
			if _, flat := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); !flat {
				raw = append(raw, device)
				continue
			}
		}
		kept = append(kept, device)
	}
	vm.Config.Hardware.Device = kept
	run()
	for _, device := range raw {
		if !removed[device.GetVirtualDevice().Key] {
			vm.Config.Hardware.Device = append(vm.Config.Hardware.Device, device)
		}
	}
}

// QueryChangedDiskAreas answers as vSphere does: the changed (or, for changeId "*", allocated)
// 64 KiB-aligned areas of one disk, from startOffset over at most the configured window.
func (vm *trackedVM) QueryChangedDiskAreas(req *types.QueryChangedDiskAreas) soap.HasFault {
	body := &methods.QueryChangedDiskAreasBody{}
	info, fault := vm.changedDiskAreas(req)
	if fault != nil {
		body.Fault_ = simulator.Fault(fault.message, fault.fault)
		return body
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: *info}
	return body
}

// diskAt finds a disk by device key in the snapshot's hardware, or the VM's when snapshot is nil.
func (vm *trackedVM) diskAt(snapshot *types.ManagedObjectReference, key int32) (*types.VirtualDisk, *pitSnapshot, *soapFault) {
	devices := vm.Config.Hardware.Device
	var snap *pitSnapshot
	if snapshot != nil {
		var ok bool
		snap, ok = simulator.Map.Get(*snapshot).(*pitSnapshot)
		if !ok || snap.Vm != vm.Self {
			return nil, nil, invalidArgument("snapshot", "snapshot %s does not belong to %s", snapshot.Value, vm.Name)
		}
		devices = snap.Config.Hardware.Device
	}
	disk, ok := object.VirtualDeviceList(devices).FindByKey(key).(*types.VirtualDisk)
	if !ok {
		return nil, nil, invalidArgument("deviceKey", "no virtual disk with key %d", key)
	}
	return disk, snap, nil
}

func diskCapacity(disk *types.VirtualDisk) int64 {
	if disk.CapacityInBytes > 0 {
		return disk.CapacityInBytes
	}
	return disk.CapacityInKB * 1024
}
