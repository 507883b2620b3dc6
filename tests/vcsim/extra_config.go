package main

// config.extraConfig as vSphere keeps it for changed-block tracking: "ctkEnabled" for the VM and
// "<bus type><bus>:<unit>.ctkEnabled" ("scsi0:1", "sata0:0", "nvme0:0", "ide1:0") per disk,
// "TRUE"/"FALSE". Enabling CBT through ReconfigVM_Task sets every disk's key, as vSphere does.

import (
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// setExtraConfig replaces the key's value, or appends the key.
func setExtraConfig(vm *simulator.VirtualMachine, key, value string) {
	for _, option := range vm.Config.ExtraConfig {
		if o := option.GetOptionValue(); o.Key == key {
			o.Value = value
			return
		}
	}
	vm.Config.ExtraConfig = append(vm.Config.ExtraConfig, &types.OptionValue{Key: key, Value: value})
}

// dedupeExtraConfig keeps the last value of each key: the simulator's ReconfigVM_Task appends a
// key that is already there, vSphere replaces it.
func dedupeExtraConfig(vm *simulator.VirtualMachine) {
	last := map[string]int{}
	for i, option := range vm.Config.ExtraConfig {
		last[option.GetOptionValue().Key] = i
	}
	var kept []types.BaseOptionValue
	for i, option := range vm.Config.ExtraConfig {
		if last[option.GetOptionValue().Key] == i {
			kept = append(kept, option)
		}
	}
	vm.Config.ExtraConfig = kept
}

func boolText(on bool) string {
	if on {
		return "TRUE"
	}
	return "FALSE"
}

// diskSlot names a disk's position as .vmx keys do: "scsi0:1" (bus type, bus number, unit).
func diskSlot(devices object.VirtualDeviceList, disk *types.VirtualDisk) (string, error) {
	controller := devices.FindByKey(disk.ControllerKey)
	if controller == nil || disk.UnitNumber == nil {
		return "", fmt.Errorf("disk %d has no controller or unit", disk.Key)
	}
	var busType string
	switch controller.(type) {
	case types.BaseVirtualSCSIController:
		busType = "scsi"
	case *types.VirtualAHCIController:
		busType = "sata"
	case *types.VirtualNVMEController:
		busType = "nvme"
	case *types.VirtualIDEController:
		busType = "ide"
	default:
		return "", fmt.Errorf("disk %d: controller %T has no .vmx bus name", disk.Key, controller)
	}
	bus := controller.(types.BaseVirtualController).GetVirtualController().BusNumber
	return fmt.Sprintf("%s%d:%d", busType, bus, *disk.UnitNumber), nil
}

// applyChangeTracking writes the VM's and each disk's ctkEnabled; tracked(i) says whether the i-th
// disk (device order) is tracked while CBT is on.
func applyChangeTracking(vm *simulator.VirtualMachine, enabled bool, tracked func(index int) bool) error {
	vm.Config.ChangeTrackingEnabled = types.NewBool(enabled)
	setExtraConfig(vm, "ctkEnabled", boolText(enabled))
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for i, device := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		slot, err := diskSlot(devices, device.(*types.VirtualDisk))
		if err != nil {
			return err
		}
		setExtraConfig(vm, slot+".ctkEnabled", boolText(enabled && tracked(i)))
	}
	return nil
}
