package main

// The test-control API (plain HTTP on loopback, JSON): a simulated running guest that writes into
// live disks, hooks that apply a write when a chosen SOAP call arrives, server-side session ends,
// the snapshots' frozen files, and the record of snapshots open at once (inflight.go). Documented in tests/vcsim/README.md.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// WriteRequest is one guest write into a VM's live disk. Exactly one of Data, Text, Random is set.
type WriteRequest struct {
	VM        string         `json:"vm"`
	Disk      *int           `json:"disk,omitempty"`       // index among the VM's disks, in device order
	DeviceKey int32          `json:"device_key,omitempty"` // or the disk's device key
	Offset    int64          `json:"offset"`
	Data      []byte         `json:"data,omitempty"` // base64 in JSON
	Text      string         `json:"text,omitempty"`
	Random    *RandomPayload `json:"random,omitempty"`
}

// RandomPayload is Length bytes of the fixtures' generator (seeded SplitMix64), positioned as if
// the whole disk were random with that seed (Offset must then be a multiple of 8).
type RandomPayload struct {
	Seed   uint64 `json:"seed"`
	Length int64  `json:"length"`
}

// WriteResult says where a write landed.
type WriteResult struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// Hook applies Write just before the next SOAP call named Method (on VM, or on one of its
// snapshots, when VM is set) is handled.
type Hook struct {
	ID     int          `json:"id"`
	Method string       `json:"method"`
	VM     string       `json:"vm,omitempty"`
	Write  WriteRequest `json:"write"`
	Fired  bool         `json:"fired"`
	Error  string       `json:"error,omitempty"`
}

type Control struct {
	bed *Testbed

	mu     sync.Mutex
	hooks  []*Hook
	nextID int

	// Serializes runtime VM creation (POST /vms/create).
	createMu sync.Mutex
}

func NewControl(bed *Testbed) *Control { return &Control{bed: bed} }

func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", c.health)
	mux.HandleFunc("/vms", c.listVMs)
	mux.HandleFunc("/vms/create", c.createVM)
	mux.HandleFunc("/write", c.write)
	mux.HandleFunc("/hooks", c.hooksEndpoint)
	mux.HandleFunc("/sessions/terminate", c.terminateSessions)
	mux.HandleFunc("/snapshots", c.listSnapshots)
	mux.HandleFunc("/tasks/stuck", c.stuckTask)
	mux.HandleFunc("/inflight", c.inflight)
	return mux
}

func reply(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func replyError(w http.ResponseWriter, status int, err error) {
	reply(w, status, map[string]string{"error": err.Error()})
}

func requireMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method != method {
		replyError(w, http.StatusMethodNotAllowed, fmt.Errorf("use %s", method))
		return false
	}
	return true
}

func (c *Control) health(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]interface{}{"ok": true, "vms": len(c.bed.VMs)})
}

// VMInfo describes a launcher-created VM and its live disks.
type VMInfo struct {
	Name  string     `json:"name"`
	Ref   string     `json:"moref"`
	Disks []DiskInfo `json:"disks"`
}

type DiskInfo struct {
	Index         int    `json:"index"`
	DeviceKey     int32  `json:"device_key"`
	DatastorePath string `json:"datastore_path"`
	LiveFile      string `json:"live_file"`
	CapacityBytes int64  `json:"capacity_bytes"`
	ChangeID      string `json:"change_id,omitempty"`
}

func (c *Control) listVMs(w http.ResponseWriter, r *http.Request) {
	var out []VMInfo
	for name, ref := range c.bed.VMs {
		vm, ok := simulator.Map.Get(ref).(*trackedVM)
		if !ok {
			continue // destroyed over SOAP
		}
		info := VMInfo{Name: name, Ref: ref.Value}
		simulator.Map.WithLock(vm, func() { info.Disks = c.disks(vm) })
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	reply(w, http.StatusOK, out)
}

// disks lists the VM's flat disks in device order; the caller holds the VM's lock.
func (c *Control) disks(vm *trackedVM) []DiskInfo {
	var out []DiskInfo
	for _, device := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		disk := device.(*types.VirtualDisk)
		info := DiskInfo{Index: len(out), DeviceKey: disk.Key, CapacityBytes: diskCapacity(disk)}
		if file, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			info.DatastorePath = file.GetVirtualDeviceFileBackingInfo().FileName
		}
		if flat, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			info.ChangeID = flat.ChangeId
			if host, err := c.bed.HostPath(info.DatastorePath); err == nil {
				info.LiveFile = flatPath(host)
			}
		}
		out = append(out, info)
	}
	return out
}

func (c *Control) write(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodPost) {
		return
	}
	var req WriteRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	result, err := c.ApplyWrite(&req)
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	reply(w, http.StatusOK, result)
}

// ApplyWrite writes into the VM's live disk while holding the VM's lock, so a write is either
// wholly before or wholly after any snapshot.
func (c *Control) ApplyWrite(req *WriteRequest) (*WriteResult, error) {
	payload, err := req.payload()
	if err != nil {
		return nil, err
	}
	ref, ok := c.bed.VMs[req.VM]
	if !ok {
		return nil, fmt.Errorf("unknown vm %q", req.VM)
	}
	vm, ok := simulator.Map.Get(ref).(*trackedVM)
	if !ok {
		return nil, fmt.Errorf("vm %q is gone", req.VM)
	}
	var result *WriteResult
	simulator.Map.WithLock(vm, func() {
		var disk *DiskInfo
		for _, d := range c.disks(vm) {
			d := d
			if (req.Disk != nil && d.Index == *req.Disk) || (req.Disk == nil && d.DeviceKey == req.DeviceKey) {
				disk = &d
			}
		}
		switch {
		case disk == nil || disk.LiveFile == "":
			err = fmt.Errorf("vm %q has no such flat disk", req.VM)
		case req.Offset < 0 || req.Offset+int64(len(payload)) > disk.CapacityBytes:
			err = fmt.Errorf("write [%d, %d) is outside the disk (%d bytes)", req.Offset, req.Offset+int64(len(payload)), disk.CapacityBytes)
		default:
			err = writeAt(disk.LiveFile, payload, req.Offset)
			result = &WriteResult{File: disk.LiveFile, Offset: req.Offset, Length: int64(len(payload))}
		}
	})
	return result, err
}

func (req *WriteRequest) payload() ([]byte, error) {
	set := 0
	var payload []byte
	if req.Data != nil {
		set++
		payload = req.Data
	}
	if req.Text != "" {
		set++
		payload = []byte(req.Text)
	}
	if req.Random != nil {
		set++
		if req.Offset%8 != 0 || req.Random.Length <= 0 || req.Random.Length > maxDiskBytes {
			return nil, fmt.Errorf("random: offset must be a multiple of 8 and length in (0, %d]", maxDiskBytes)
		}
		payload = make([]byte, (req.Random.Length+7)/8*8)
		fillRandom(payload, req.Random.Seed, req.Offset)
		payload = payload[:req.Random.Length]
	}
	if set != 1 {
		return nil, fmt.Errorf("give exactly one of data, text, random")
	}
	return payload, nil
}

func writeAt(path string, data []byte, offset int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, offset); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *Control) hooksEndpoint(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		c.mu.Lock()
		defer c.mu.Unlock()
		hooks := make([]Hook, 0, len(c.hooks))
		for _, h := range c.hooks {
			hooks = append(hooks, *h)
		}
		reply(w, http.StatusOK, hooks)
	case http.MethodPost:
		var hook Hook
		if err := json.NewDecoder(r.Body).Decode(&hook); err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		if hook.Method == "" {
			replyError(w, http.StatusBadRequest, fmt.Errorf("method is required"))
			return
		}
		if _, err := hook.Write.payload(); err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		if _, ok := c.bed.VMs[hook.Write.VM]; !ok {
			replyError(w, http.StatusBadRequest, fmt.Errorf("unknown vm %q", hook.Write.VM))
			return
		}
		c.mu.Lock()
		c.nextID++
		hook.ID, hook.Fired = c.nextID, false
		c.hooks = append(c.hooks, &hook)
		c.mu.Unlock()
		reply(w, http.StatusOK, hook)
	case http.MethodDelete:
		c.mu.Lock()
		c.hooks = nil
		c.mu.Unlock()
		reply(w, http.StatusOK, map[string]bool{"ok": true})
	default:
		replyError(w, http.StatusMethodNotAllowed, fmt.Errorf("use GET, POST or DELETE"))
	}
}

// BeforeSOAP fires the pending hooks that match a SOAP call about to be handled.
func (c *Control) BeforeSOAP(method string, this types.ManagedObjectReference) {
	c.mu.Lock()
	var due []*Hook
	for _, h := range c.hooks {
		if !h.Fired && h.Method == method && c.concerns(h.VM, this) {
			h.Fired = true
			due = append(due, h)
		}
	}
	c.mu.Unlock()
	for _, h := range due {
		if _, err := c.ApplyWrite(&h.Write); err != nil {
			c.mu.Lock()
			h.Error = err.Error()
			c.mu.Unlock()
		}
	}
}

// concerns tells whether a call on `this` is about the named VM (any call, when name is empty).
func (c *Control) concerns(name string, this types.ManagedObjectReference) bool {
	if name == "" {
		return true
	}
	ref := c.bed.VMs[name]
	if this == ref {
		return true
	}
	snap, ok := simulator.Map.Get(this).(*pitSnapshot)
	return ok && snap.Vm == ref
}

// terminateSessions ends every client session, as an administrator (or a vCenter restart) would.
func (c *Control) terminateSessions(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodPost) {
		return
	}
	ctx := context.Background()
	client := c.bed.Client
	var manager mo.SessionManager
	if err := property.DefaultCollector(client).RetrieveOne(ctx, *client.ServiceContent.SessionManager, []string{"sessionList"}, &manager); err != nil {
		replyError(w, http.StatusInternalServerError, err)
		return
	}
	var keys []string
	for _, s := range manager.SessionList {
		keys = append(keys, s.Key)
	}
	if len(keys) > 0 {
		_, err := methods.TerminateSession(ctx, client, &types.TerminateSession{This: *client.ServiceContent.SessionManager, SessionId: keys})
		if err != nil {
			replyError(w, http.StatusInternalServerError, err)
			return
		}
	}
	reply(w, http.StatusOK, map[string]int{"terminated": len(keys)})
}

// SnapshotInfo is one snapshot of a VM with its frozen disks.
type SnapshotInfo struct {
	Ref    string       `json:"moref"`
	Name   string       `json:"name"`
	ID     int32        `json:"id"`
	Frozen []FrozenDisk `json:"frozen"`
}

func (c *Control) listSnapshots(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("vm")
	ref, ok := c.bed.VMs[name]
	if !ok {
		replyError(w, http.StatusNotFound, fmt.Errorf("unknown vm %q", name))
		return
	}
	vm, ok := simulator.Map.Get(ref).(*trackedVM)
	if !ok {
		replyError(w, http.StatusNotFound, fmt.Errorf("vm %q is gone", name))
		return
	}
	out := []SnapshotInfo{}
	simulator.Map.WithLock(vm, func() {
		if vm.Snapshot == nil {
			return
		}
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(tree []types.VirtualMachineSnapshotTree) {
			for _, node := range tree {
				info := SnapshotInfo{Ref: node.Snapshot.Value, Name: node.Name, ID: node.Id}
				if snap, ok := simulator.Map.Get(node.Snapshot).(*pitSnapshot); ok {
					info.Frozen = snap.Frozen
				}
				out = append(out, info)
				walk(node.ChildSnapshotList)
			}
		}
		walk(vm.Snapshot.RootSnapshotList)
	})
	reply(w, http.StatusOK, out)
}

// stuckTask leaves the next task of a method on a VM queued forever: {"vm": NAME, "method":
// "RemoveSnapshot_Task"} (the only method that honours it so far).
func (c *Control) stuckTask(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodPost) {
		return
	}
	var req struct {
		VM     string `json:"vm"`
		Method string `json:"method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	c.createMu.Lock()
	ref, ok := c.bed.VMs[req.VM]
	c.createMu.Unlock()
	if !ok {
		replyError(w, http.StatusBadRequest, fmt.Errorf("unknown vm %q", req.VM))
		return
	}
	if req.Method != "RemoveSnapshot_Task" {
		replyError(w, http.StatusBadRequest, fmt.Errorf("method %q: only RemoveSnapshot_Task can be left stuck", req.Method))
		return
	}
	c.bed.Stuck.add(ref, req.Method)
	reply(w, http.StatusOK, map[string]bool{"ok": true})
}
