package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/vmware/govmomi/vim25/types"
	"gopkg.in/yaml.v3"
)

// createVM serves POST /vms/create: one VM in the fixture file's schema (YAML or JSON), built as
// the fixtures are at start-up (a tracked VM: frozen snapshots, CBT, /write). Tests that power
// VMs off, write into them or migrate them make their own, so the fixtures other tests compare
// against never change under them.
func (c *Control) createVM(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodPost) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	decoder := yaml.NewDecoder(bytes.NewReader(body))
	decoder.KnownFields(true)
	var spec VMSpec
	if err := decoder.Decode(&spec); err != nil {
		replyError(w, http.StatusBadRequest, fmt.Errorf("not a VM of the fixture schema: %w", err))
		return
	}
	spec.runtime = true
	inventory := c.bed.Fixtures.Inventory
	networks := map[string]bool{}
	for _, n := range inventory.Networks {
		networks[n.Name] = true
	}
	if err := spec.normalize(inventory.Datastores[0], setOf(inventory.Datastores...), networks); err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	if _, _, err := c.bed.Placement(spec.Host); err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}

	c.createMu.Lock()
	defer c.createMu.Unlock()
	if _, exists := c.bed.VMs[spec.Name]; exists {
		replyError(w, http.StatusConflict, fmt.Errorf("a VM named %q exists", spec.Name))
		return
	}
	// Built into a private map, then published as a new map: handlers reading the VM map
	// concurrently never see it being written.
	scratch := *c.bed
	scratch.VMs = map[string]types.ManagedObjectReference{}
	if err := scratch.CreateVM(context.Background(), &spec); err != nil {
		replyError(w, http.StatusInternalServerError, err)
		return
	}
	published := make(map[string]types.ManagedObjectReference, len(c.bed.VMs)+1)
	for name, ref := range c.bed.VMs {
		published[name] = ref
	}
	ref := scratch.VMs[spec.Name]
	published[spec.Name] = ref
	c.bed.VMs = published
	reply(w, http.StatusCreated, map[string]string{"name": spec.Name, "moref": ref.Value})
}
