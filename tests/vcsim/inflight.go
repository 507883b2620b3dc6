package main

// The simulator's own record of migrations in flight. A migration holds exactly one snapshot of
// its VM while it reads the disks, so the time a snapshot taken over SOAP (CreateSnapshot_Task)
// stays open is the time that VM is read from its ESXi host and datastores. Tests check the
// source-side limits of a plan against this record, not against what the migrator says of
// itself. Snapshots of the fixtures (taken at start-up, not over SOAP) are no migration and are
// not recorded.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type inflightLog struct {
	mu        sync.Mutex
	intervals []*snapshotInterval
	open      map[types.ManagedObjectReference]*snapshotInterval
}

// snapshotInterval is one snapshot's life: where its VM ran and what it used when it was taken.
type snapshotInterval struct {
	vm         string
	host       string
	datastores []string
	start, end time.Time // end is zero while the snapshot exists
}

func newInflightLog() *inflightLog {
	return &inflightLog{open: map[types.ManagedObjectReference]*snapshotInterval{}}
}

// opened records a snapshot just taken; the caller holds the VM's lock.
func (l *inflightLog) opened(snapshot types.ManagedObjectReference, vm *trackedVM) {
	interval := &snapshotInterval{vm: vm.Name, host: hostName(vm.Runtime.Host), datastores: vmDatastores(&vm.VirtualMachine), start: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.intervals = append(l.intervals, interval)
	l.open[snapshot] = interval
}

// closed ends the intervals of removed snapshots (those not recorded are ignored).
func (l *inflightLog) closed(snapshots []types.ManagedObjectReference) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ref := range snapshots {
		if interval, ok := l.open[ref]; ok {
			interval.end = now
			delete(l.open, ref)
		}
	}
}

func hostName(ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if host, ok := simulator.Map.Get(*ref).(*simulator.HostSystem); ok {
		return host.Name
	}
	return ref.Value
}

// vmDatastores names the datastores of the VM's home and disks, as export_metadata's
// hw_datastores does.
func vmDatastores(vm *simulator.VirtualMachine) []string {
	set := map[string]bool{}
	add := func(datastorePath string) {
		var p object.DatastorePath
		if p.FromString(datastorePath) {
			set[p.Datastore] = true
		}
	}
	add(vm.Config.Files.VmPathName)
	for _, device := range vm.Config.Hardware.Device {
		if disk, ok := device.(*types.VirtualDisk); ok {
			if file, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				add(file.GetVirtualDeviceFileBackingInfo().FileName)
			}
		}
	}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// InflightCount is, for one host, one datastore or all of them, the most VMs that had a snapshot
// open at the same moment and how many have one now.
type InflightCount struct {
	Peak    int `json:"peak"`
	Current int `json:"current"`
}

type InflightInterval struct {
	VM         string   `json:"vm"`
	Host       string   `json:"host"`
	Datastores []string `json:"datastores"`
	Start      string   `json:"start"`
	End        *string  `json:"end"` // null while open
}

type InflightReport struct {
	Prefix     string                   `json:"prefix"`
	All        InflightCount            `json:"all"`
	Hosts      map[string]InflightCount `json:"hosts"`
	Datastores map[string]InflightCount `json:"datastores"`
	Intervals  []InflightInterval       `json:"intervals"`
}

const millisRFC3339 = "2006-01-02T15:04:05.000Z07:00"

// report covers the VMs whose names start with prefix, so tests running beside each other each
// see only their own VMs.
func (l *inflightLog) report(prefix string) InflightReport {
	l.mu.Lock()
	var chosen []snapshotInterval
	for _, interval := range l.intervals {
		if strings.HasPrefix(interval.vm, prefix) {
			chosen = append(chosen, *interval)
		}
	}
	l.mu.Unlock()
	sort.SliceStable(chosen, func(i, j int) bool { return chosen[i].start.Before(chosen[j].start) })

	out := InflightReport{
		Prefix:     prefix,
		All:        countInflight(chosen),
		Hosts:      map[string]InflightCount{},
		Datastores: map[string]InflightCount{},
		Intervals:  []InflightInterval{},
	}
	byHost := map[string][]snapshotInterval{}
	byDatastore := map[string][]snapshotInterval{}
	for _, interval := range chosen {
		byHost[interval.host] = append(byHost[interval.host], interval)
		for _, ds := range interval.datastores {
			byDatastore[ds] = append(byDatastore[ds], interval)
		}
		item := InflightInterval{VM: interval.vm, Host: interval.host, Datastores: interval.datastores,
			Start: interval.start.UTC().Format(millisRFC3339)}
		if !interval.end.IsZero() {
			end := interval.end.UTC().Format(millisRFC3339)
			item.End = &end
		}
		out.Intervals = append(out.Intervals, item)
	}
	for host, intervals := range byHost {
		out.Hosts[host] = countInflight(intervals)
	}
	for ds, intervals := range byDatastore {
		out.Datastores[ds] = countInflight(intervals)
	}
	return out
}

// countInflight counts VMs, not snapshots: a VM with two snapshots open is one VM in flight.
// Where one snapshot ends at the moment another begins, they did not overlap.
func countInflight(intervals []snapshotInterval) InflightCount {
	type event struct {
		at    time.Time
		delta int
		vm    string
	}
	var events []event
	var count InflightCount
	openNow := map[string]bool{}
	for _, interval := range intervals {
		switch {
		case interval.end.IsZero():
			openNow[interval.vm] = true
			events = append(events, event{interval.start, 1, interval.vm})
		case interval.end.After(interval.start):
			events = append(events, event{interval.start, 1, interval.vm}, event{interval.end, -1, interval.vm})
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].at.Equal(events[j].at) {
			return events[i].at.Before(events[j].at)
		}
		return events[i].delta < events[j].delta
	})
	open := map[string]int{}
	for _, e := range events {
		open[e.vm] += e.delta
		if open[e.vm] == 0 {
			delete(open, e.vm)
		}
		if len(open) > count.Peak {
			count.Peak = len(open)
		}
	}
	count.Current = len(openNow)
	return count
}

// inflight serves GET /inflight?prefix=P.
func (c *Control) inflight(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodGet) {
		return
	}
	query := r.URL.Query()
	for key := range query {
		if key != "prefix" {
			replyError(w, http.StatusBadRequest, fmt.Errorf("unknown parameter %q: the only one is prefix", key))
			return
		}
	}
	reply(w, http.StatusOK, c.bed.Inflight.report(query.Get("prefix")))
}
