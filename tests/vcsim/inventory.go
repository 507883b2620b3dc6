package main

// The vCenter model: datacenter, datastores on fixed host directories, portgroups, folders.

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Testbed is the simulated vCenter and what the launcher knows about it.
type Testbed struct {
	Model      *simulator.Model
	Client     *vim25.Client // in-process, logged in as the simulator's internal session
	Finder     *find.Finder
	Datacenter *object.Datacenter
	Folders    *object.DatacenterFolders
	Pool       *object.ResourcePool
	Fixtures   *Fixtures

	// Datastores maps each datastore name to its host directory.
	Datastores map[string]string
	// VMs maps each launcher-created VM name to its reference, for the control API.
	VMs map[string]types.ManagedObjectReference
	// Stuck names the tasks left queued forever, as a vCenter task that never ends
	// (POST /tasks/stuck); shared by the copies CreateVM works on.
	Stuck *stuckTasks
	// CBTWindowBytes bounds the disk range one QueryChangedDiskAreas answer covers (0: to the end).
	CBTWindowBytes int64
	// ESX: a standalone host (HostAgent) rather than a vCenter.
	ESX bool
	// Inflight records the snapshots taken over SOAP (GET /inflight); shared like Stuck.
	Inflight *inflightLog
}

// NewTestbed creates the vCenter model (or, with esx, a standalone ESXi host: HostAgent API,
// ha-datacenter, no folders or distributed switches) and its inventory (no VMs yet).
func NewTestbed(ctx context.Context, fixtures *Fixtures, datastoreRoot string, cbtWindow int64, esx bool) (*Testbed, error) {
	model := simulator.VPX()
	if esx {
		model = simulator.ESX()
	}
	model.Datastore = 0 // ours live in fixed directories, created below
	model.Machine = 0   // ours come from the fixtures
	model.Autostart = false
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("create model: %w", err)
	}

	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, err
	}
	bed := &Testbed{
		Model:          model,
		Client:         client,
		Finder:         find.NewFinder(client, false),
		Fixtures:       fixtures,
		Datastores:     map[string]string{},
		VMs:            map[string]types.ManagedObjectReference{},
		Stuck:          &stuckTasks{keys: map[string]bool{}},
		Inflight:       newInflightLog(),
		CBTWindowBytes: cbtWindow,
		ESX:            esx,
	}

	steps := []func(context.Context) error{
		bed.renameDatacenter,
		func(ctx context.Context) error { return bed.createDatastores(ctx, datastoreRoot) },
		bed.createNetworks,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return bed, nil
}

func (bed *Testbed) renameDatacenter(ctx context.Context) error {
	if bed.ESX {
		return bed.hostDatacenter(ctx)
	}
	dc, err := bed.Finder.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	task, err := dc.Rename(ctx, bed.Fixtures.Inventory.Datacenter)
	if err != nil {
		return err
	}
	if err := task.Wait(ctx); err != nil {
		return fmt.Errorf("rename datacenter: %w", err)
	}
	bed.Datacenter = object.NewDatacenter(bed.Client, dc.Reference())
	bed.Finder.SetDatacenter(bed.Datacenter)
	if bed.Folders, err = bed.Datacenter.Folders(ctx); err != nil {
		return err
	}
	cluster, err := bed.Finder.DefaultClusterComputeResource(ctx)
	if err != nil {
		return err
	}
	bed.Pool, err = cluster.ResourcePool(ctx)
	return err
}

// hostDatacenter takes an ESXi host's fixed datacenter, which cannot be renamed, and its pool.
func (bed *Testbed) hostDatacenter(ctx context.Context) error {
	dc, err := bed.Finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	if dc.Name() != bed.Fixtures.Inventory.Datacenter {
		return fmt.Errorf("an ESXi host's datacenter is %s, the fixtures say %s", dc.Name(), bed.Fixtures.Inventory.Datacenter)
	}
	bed.Datacenter = dc
	bed.Finder.SetDatacenter(dc)
	if bed.Folders, err = dc.Folders(ctx); err != nil {
		return err
	}
	bed.Pool, err = bed.Finder.DefaultResourcePool(ctx)
	return err
}

func (bed *Testbed) createDatastores(ctx context.Context, root string) error {
	hosts, err := bed.Finder.HostSystemList(ctx, "*")
	if err != nil {
		return err
	}
	for _, name := range bed.Fixtures.Inventory.Datastores {
		dir := path.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		bed.Datastores[name] = dir
		for _, host := range hosts {
			system, err := host.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			ds, err := system.CreateLocalDatastore(ctx, name, dir)
			if err != nil {
				return fmt.Errorf("datastore %s on %s: %w", name, host.Name(), err)
			}
			if kind, ok := bed.Fixtures.Inventory.DatastoreTypes[name]; ok {
				if simulated, ok := simulator.Map.Get(ds.Reference()).(*simulator.Datastore); ok {
					simulator.Map.WithLock(simulated, func() { simulated.Summary.Type = kind })
				}
			}
		}
	}
	return nil
}

func (bed *Testbed) createNetworks(ctx context.Context) error {
	for _, network := range bed.Fixtures.Inventory.Networks {
		if _, err := bed.Finder.Network(ctx, network.Name); err == nil {
			continue // "VM Network" comes with every simulated host
		}
		var err error
		switch network.Type {
		case "distributed":
			if bed.ESX {
				return fmt.Errorf("network %s: an ESXi host has no distributed switch", network.Name)
			}
			err = bed.addDistributedPortgroup(ctx, network.Name)
		case "standard":
			err = bed.addStandardPortgroup(ctx, network.Name)
		}
		if err != nil {
			return fmt.Errorf("network %s: %w", network.Name, err)
		}
	}
	return nil
}

func (bed *Testbed) addDistributedPortgroup(ctx context.Context, name string) error {
	net, err := bed.Finder.Network(ctx, "DVS0")
	if err != nil {
		return err
	}
	dvs := object.NewDistributedVirtualSwitch(bed.Client, net.Reference())
	task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{Name: name, Type: "earlyBinding", NumPorts: 128}})
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

// addStandardPortgroup adds the portgroup to vSwitch0 of the first host; vcsim keeps one Network
// object per name, which every host's VMs may then use.
func (bed *Testbed) addStandardPortgroup(ctx context.Context, name string) error {
	hosts, err := bed.Finder.HostSystemList(ctx, "*")
	if err != nil {
		return err
	}
	system, err := hosts[0].ConfigManager().NetworkSystem(ctx)
	if err != nil {
		return err
	}
	return system.AddPortGroup(ctx, types.HostPortGroupSpec{Name: name, VswitchName: "vSwitch0"})
}

// Folder returns the VM folder at the slash-separated path, creating missing levels.
func (bed *Testbed) Folder(ctx context.Context, folderPath string) (*object.Folder, error) {
	folder := bed.Folders.VmFolder
	current := "vm"
	for _, name := range strings.Split(folderPath, "/") {
		if name == "" {
			continue
		}
		if bed.ESX {
			return nil, fmt.Errorf("folder %s: an ESXi host has no VM folders", folderPath)
		}
		current = path.Join(current, name)
		existing, err := bed.Finder.Folder(ctx, current)
		if err == nil {
			folder = existing
			continue
		}
		if folder, err = folder.CreateFolder(ctx, name); err != nil {
			return nil, fmt.Errorf("folder %s: %w", current, err)
		}
	}
	return folder, nil
}

// HostPath maps a datastore path "[ds] dir/file" to the file on this host.
func (bed *Testbed) HostPath(datastorePath string) (string, error) {
	var p object.DatastorePath
	if !p.FromString(datastorePath) {
		return "", fmt.Errorf("not a datastore path: %q", datastorePath)
	}
	dir, ok := bed.Datastores[p.Datastore]
	if !ok {
		return "", fmt.Errorf("unknown datastore in %q", datastorePath)
	}
	return path.Join(dir, p.Path), nil
}

// Placement returns the ESXi host named (nil for "": the simulator then picks a host of the
// cluster) and the resource pool a VM on it belongs to, its cluster's or its standalone
// compute resource's. An unknown name is an error that lists the hosts.
func (bed *Testbed) Placement(name string) (*object.HostSystem, *object.ResourcePool, error) {
	if name == "" {
		return nil, bed.Pool, nil
	}
	var names []string
	for _, entity := range simulator.Map.All("HostSystem") {
		host, ok := entity.(*simulator.HostSystem)
		if !ok {
			continue
		}
		if host.Name != name {
			names = append(names, host.Name)
			continue
		}
		var pool *types.ManagedObjectReference
		switch parent := simulator.Map.Get(*host.Parent).(type) {
		case *simulator.ClusterComputeResource:
			pool = parent.ResourcePool
		case *mo.ComputeResource:
			pool = parent.ResourcePool
		}
		if pool == nil {
			return nil, nil, fmt.Errorf("host %q has no resource pool", name)
		}
		return object.NewHostSystem(bed.Client, host.Reference()), object.NewResourcePool(bed.Client, *pool), nil
	}
	sort.Strings(names)
	return nil, nil, fmt.Errorf("unknown host %q: the hosts are %s", name, strings.Join(names, ", "))
}
