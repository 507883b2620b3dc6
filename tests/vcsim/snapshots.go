package main

// Point-in-time snapshots. vcsim's snapshots freeze nothing; here CreateSnapshot_Task keeps a
// sparse copy of each snapshotted disk ("<disk>-snapshot<N>-flat.vmdk" + descriptor, beside the live
// file) and points the snapshot's own disk backing (snapshot.config.hardware) at it, while the VM's
// current backing keeps the live file the "guest" writes to. Independent disks and raw device
// mappings are not part of a snapshot, as on vSphere: their snapshot backing is the live one.

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type pitSnapshot struct {
	simulator.VirtualMachineSnapshot

	bed    *Testbed
	Frozen []FrozenDisk
}

// FrozenDisk is one disk's state at the snapshot's moment (reported by the control API).
type FrozenDisk struct {
	DeviceKey     int32  `json:"device_key"`
	DatastorePath string `json:"datastore_path"` // the descriptor, as the snapshot's backing names it
	FlatFile      string `json:"flat_file"`      // the frozen flat file on this host
	LiveFile      string `json:"live_file"`      // the VM's live flat file it was copied from
	ChangeID      string `json:"change_id,omitempty"`
}

func (vm *trackedVM) CreateSnapshotTask(req *types.CreateSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "createSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		snap, fault := vm.takeSnapshot(req.Name, req.Description)
		if fault != nil {
			return nil, fault
		}
		vm.bed.Inflight.opened(snap.Self, vm)
		return snap.Self, nil
	})
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: task.Run()}}
}

// takeSnapshot freezes the disks and adds the snapshot under the current one. The caller holds the
// VM's lock (the server does, for a SOAP call).
func (vm *trackedVM) takeSnapshot(name, description string) (*pitSnapshot, types.BaseMethodFault) {
	vm.snapshotSeq++
	id := vm.snapshotSeq

	snap := &pitSnapshot{bed: vm.bed}
	snap.Self = types.ManagedObjectReference{Type: "VirtualMachineSnapshot"}
	snap.Vm = vm.Self
	snap.Config = *vm.Config
	snap.Config.Hardware.Device = nil

	for _, device := range vm.Config.Hardware.Device {
		disk, backing := flatDisk(device)
		if disk == nil || strings.HasPrefix(backing.DiskMode, "independent") {
			snap.Config.Hardware.Device = append(snap.Config.Hardware.Device, device)
			continue
		}
		frozen, err := vm.freezeDisk(disk, backing, id)
		if err != nil {
			vm.deleteFrozen(snap.Frozen)
			log.Printf("snapshot of %s: %v", vm.Name, err)
			return nil, &types.FileFault{File: backing.FileName}
		}
		snap.Frozen = append(snap.Frozen, frozen)

		frozenBacking := *backing
		frozenBacking.FileName = frozen.DatastorePath
		frozenBacking.ChangeId = frozen.ChangeID
		frozenDisk := *disk
		frozenDisk.Backing = &frozenBacking
		snap.Config.Hardware.Device = append(snap.Config.Hardware.Device, &frozenDisk)
		backing.ChangeId = frozen.ChangeID // the live disk continues from the newest epoch
	}
	simulator.Map.Put(snap)

	item := types.VirtualMachineSnapshotTree{
		Snapshot:        snap.Self,
		Vm:              vm.Self,
		Name:            name,
		Description:     description,
		Id:              id,
		CreateTime:      time.Now(),
		State:           vm.Runtime.PowerState,
		ReplaySupported: types.NewBool(false),
	}
	var tree []types.VirtualMachineSnapshotTree
	var current *types.ManagedObjectReference
	if vm.Snapshot != nil {
		tree, current = vm.Snapshot.RootSnapshotList, vm.Snapshot.CurrentSnapshot
	}
	if current == nil {
		tree = append(tree, item)
	} else {
		tree = insertChild(tree, *current, item)
		if parent, ok := simulator.Map.Get(*current).(*pitSnapshot); ok {
			parent.ChildSnapshot = append(parent.ChildSnapshot, snap.Self)
		}
	}
	vm.setSnapshotInfo(tree, &snap.Self)
	return snap, nil
}

// flatDisk returns the device as a disk with a flat backing, or nils.
func flatDisk(device types.BaseVirtualDevice) (*types.VirtualDisk, *types.VirtualDiskFlatVer2BackingInfo) {
	disk, ok := device.(*types.VirtualDisk)
	if !ok {
		return nil, nil
	}
	backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return nil, nil
	}
	return disk, backing
}

// freezeDisk copies the live flat file sparsely and, with CBT on, starts a new change epoch.
func (vm *trackedVM) freezeDisk(disk *types.VirtualDisk, backing *types.VirtualDiskFlatVer2BackingInfo, id int32) (FrozenDisk, error) {
	frozen := FrozenDisk{
		DeviceKey:     disk.Key,
		DatastorePath: fmt.Sprintf("%s-snapshot%d.vmdk", strings.TrimSuffix(backing.FileName, ".vmdk"), id),
	}
	descriptor, err := vm.bed.HostPath(backing.FileName)
	if err != nil {
		return frozen, err
	}
	frozenDescriptor, err := vm.bed.HostPath(frozen.DatastorePath)
	if err != nil {
		return frozen, err
	}
	frozen.LiveFile = flatPath(descriptor)
	frozen.FlatFile = flatPath(frozenDescriptor)
	if err := SparseCopy(frozen.LiveFile, frozen.FlatFile); err != nil {
		return frozen, err
	}
	if err := copyDescriptor(descriptor, frozenDescriptor); err != nil {
		return frozen, err
	}
	capacity := diskCapacity(disk)
	if vm.cbtEnabled() {
		digests, err := digestFile(frozen.FlatFile, capacity)
		if err != nil {
			return frozen, err
		}
		frozen.ChangeID = vm.track(disk.Key).record(digests)
	}
	return frozen, nil
}

// copyDescriptor writes the descriptor of a frozen copy: the live one, naming the copy's extent.
func copyDescriptor(live, frozen string) error {
	text, err := os.ReadFile(live)
	if err != nil {
		return err
	}
	extent := func(descriptor string) string { return `"` + filepath.Base(flatPath(descriptor)) + `"` }
	return os.WriteFile(frozen, bytes.Replace(text, []byte(extent(live)), []byte(extent(frozen)), 1), 0o644)
}

func (vm *trackedVM) deleteFrozen(disks []FrozenDisk) {
	for _, d := range disks {
		_ = os.Remove(d.FlatFile)
		if descriptor, err := vm.bed.HostPath(d.DatastorePath); err == nil {
			_ = os.Remove(descriptor)
		}
	}
}

func (vm *trackedVM) setSnapshotInfo(tree []types.VirtualMachineSnapshotTree, current *types.ManagedObjectReference) {
	if len(tree) == 0 {
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: nil}})
		vm.Snapshot = nil
		return
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "snapshot", Val: &types.VirtualMachineSnapshotInfo{CurrentSnapshot: current, RootSnapshotList: tree}},
	})
}

func (vm *trackedVM) RemoveAllSnapshotsTask(req *types.RemoveAllSnapshots_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "removeAllSnapshots", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if vm.Snapshot != nil {
			all := allSnapshots(vm.Snapshot.RootSnapshotList)
			for _, ref := range all {
				if snap, ok := simulator.Map.Get(ref).(*pitSnapshot); ok {
					vm.deleteFrozen(snap.Frozen)
				}
				simulator.Map.Remove(ref)
			}
			vm.bed.Inflight.closed(all)
		}
		vm.setSnapshotInfo(nil, nil)
		return nil, nil
	})
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: task.Run()}}
}

func (vm *trackedVM) RevertToCurrentSnapshotTask(req *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	if vm.Snapshot == nil || vm.Snapshot.CurrentSnapshot == nil {
		return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: simulator.Fault("no current snapshot", &types.NotFound{})}
	}
	snap, ok := simulator.Map.Get(*vm.Snapshot.CurrentSnapshot).(*pitSnapshot)
	if !ok {
		return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: simulator.Fault("no current snapshot", &types.NotFound{})}
	}
	task := simulator.CreateTask(vm, "revertToCurrentSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, snap.restore(vm)
	})
	return &methods.RevertToCurrentSnapshot_TaskBody{Res: &types.RevertToCurrentSnapshot_TaskResponse{Returnval: task.Run()}}
}

// owner returns the snapshot's VM; the server holds the snapshot's lock, not the VM's.
func (snap *pitSnapshot) owner() (*trackedVM, types.BaseMethodFault) {
	vm, ok := simulator.Map.Get(snap.Vm).(*trackedVM)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: snap.Vm}
	}
	return vm, nil
}

func (snap *pitSnapshot) RemoveSnapshotTask(req *types.RemoveSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(snap, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, fault := snap.owner()
		if fault != nil {
			return nil, fault
		}
		simulator.Map.WithLock(vm, func() {
			if vm.Snapshot == nil {
				fault = &types.NotFound{}
				return
			}
			tree, removed := removeFromTree(vm.Snapshot.RootSnapshotList, snap.Self, req.RemoveChildren)
			current := vm.Snapshot.CurrentSnapshot
			for _, ref := range removed {
				if current != nil && *current == ref {
					current = parentOf(vm.Snapshot.RootSnapshotList, snap.Self)
				}
				if gone, ok := simulator.Map.Get(ref).(*pitSnapshot); ok {
					vm.deleteFrozen(gone.Frozen)
				}
			}
			if parent := parentOf(vm.Snapshot.RootSnapshotList, snap.Self); parent != nil {
				if p, ok := simulator.Map.Get(*parent).(*pitSnapshot); ok {
					p.ChildSnapshot = childrenOf(tree, *parent)
				}
			}
			vm.setSnapshotInfo(tree, current)
			vm.bed.Inflight.closed(removed)
			for _, ref := range removed {
				if ref != snap.Self {
					simulator.Map.Remove(ref)
				}
			}
		})
		if fault != nil {
			return nil, fault
		}
		simulator.Map.Remove(snap.Self)
		return nil, nil
	})
	if vm, fault := snap.owner(); fault == nil && vm.bed.Stuck.take(snap.Vm, "RemoveSnapshot_Task") {
		return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Self}}
	}
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Run()}}
}

func (snap *pitSnapshot) RevertToSnapshotTask(req *types.RevertToSnapshot_Task) soap.HasFault {
	task := simulator.CreateTask(snap, "revertToSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, fault := snap.owner()
		if fault != nil {
			return nil, fault
		}
		simulator.Map.WithLock(vm, func() {
			if vm.Snapshot == nil {
				fault = &types.NotFound{}
				return
			}
			fault = snap.restore(vm)
		})
		return nil, fault
	})
	return &methods.RevertToSnapshot_TaskBody{Res: &types.RevertToSnapshot_TaskResponse{Returnval: task.Run()}}
}

// restore copies the frozen disks back over the live files (in place: a writer keeps its file)
// and makes this snapshot the current one.
func (snap *pitSnapshot) restore(vm *trackedVM) types.BaseMethodFault {
	for _, d := range snap.Frozen {
		if err := RestoreInPlace(d.FlatFile, d.LiveFile); err != nil {
			return &types.FileFault{File: d.LiveFile}
		}
	}
	vm.setSnapshotInfo(vm.Snapshot.RootSnapshotList, &snap.Self)
	return nil
}

func (snap *pitSnapshot) RenameSnapshot(req *types.RenameSnapshot) soap.HasFault {
	vm, fault := snap.owner()
	if fault != nil {
		return &methods.RenameSnapshotBody{Fault_: simulator.Fault("", fault)}
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Snapshot == nil {
			return
		}
		tree := renameInTree(vm.Snapshot.RootSnapshotList, snap.Self, req.Name, req.Description)
		vm.setSnapshotInfo(tree, vm.Snapshot.CurrentSnapshot)
	})
	return &methods.RenameSnapshotBody{Res: &types.RenameSnapshotResponse{}}
}

// Snapshot trees are rebuilt rather than edited in place: a property read may hold the old one.

func insertChild(tree []types.VirtualMachineSnapshotTree, parent types.ManagedObjectReference, item types.VirtualMachineSnapshotTree) []types.VirtualMachineSnapshotTree {
	out := make([]types.VirtualMachineSnapshotTree, len(tree))
	for i, node := range tree {
		node.ChildSnapshotList = insertChild(node.ChildSnapshotList, parent, item)
		if node.Snapshot == parent {
			node.ChildSnapshotList = append(node.ChildSnapshotList, item)
		}
		out[i] = node
	}
	return out
}

// removeFromTree drops ref (and its subtree when removeChildren; otherwise its children move up)
// and returns the references removed.
func removeFromTree(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference, removeChildren bool) ([]types.VirtualMachineSnapshotTree, []types.ManagedObjectReference) {
	var out []types.VirtualMachineSnapshotTree
	var removed []types.ManagedObjectReference
	for _, node := range tree {
		if node.Snapshot == ref {
			removed = append(removed, ref)
			if removeChildren {
				removed = append(removed, allSnapshots(node.ChildSnapshotList)...)
			} else {
				out = append(out, node.ChildSnapshotList...)
			}
			continue
		}
		var gone []types.ManagedObjectReference
		node.ChildSnapshotList, gone = removeFromTree(node.ChildSnapshotList, ref, removeChildren)
		removed = append(removed, gone...)
		out = append(out, node)
	}
	return out, removed
}

func renameInTree(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference, name, description string) []types.VirtualMachineSnapshotTree {
	out := make([]types.VirtualMachineSnapshotTree, len(tree))
	for i, node := range tree {
		if node.Snapshot == ref {
			if name != "" {
				node.Name = name
			}
			if description != "" {
				node.Description = description
			}
		}
		node.ChildSnapshotList = renameInTree(node.ChildSnapshotList, ref, name, description)
		out[i] = node
	}
	return out
}

func parentOf(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) *types.ManagedObjectReference {
	for _, node := range tree {
		for _, child := range node.ChildSnapshotList {
			if child.Snapshot == ref {
				parent := node.Snapshot
				return &parent
			}
		}
		if p := parentOf(node.ChildSnapshotList, ref); p != nil {
			return p
		}
	}
	return nil
}

func childrenOf(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	for _, node := range tree {
		if node.Snapshot == ref {
			var refs []types.ManagedObjectReference
			for _, child := range node.ChildSnapshotList {
				refs = append(refs, child.Snapshot)
			}
			return refs
		}
		if refs := childrenOf(node.ChildSnapshotList, ref); refs != nil {
			return refs
		}
	}
	return nil
}

func allSnapshots(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var refs []types.ManagedObjectReference
	for _, node := range tree {
		refs = append(refs, node.Snapshot)
		refs = append(refs, allSnapshots(node.ChildSnapshotList)...)
	}
	return refs
}

// stuckTasks holds "<vm moref>/<method>" keys whose next task is left queued.
type stuckTasks struct {
	mu   sync.Mutex
	keys map[string]bool
}

// add leaves the next task of method on the VM (or its snapshots) queued forever.
func (s *stuckTasks) add(vm types.ManagedObjectReference, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[vm.Value+"/"+method] = true
}

// take tells whether this task of the VM is to be left queued, once.
func (s *stuckTasks) take(vm types.ManagedObjectReference, method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := vm.Value + "/" + method
	if s.keys[key] {
		delete(s.keys, key)
		return true
	}
	return false
}
