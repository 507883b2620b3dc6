// Command vcsim-launcher serves a simulated vCenter (govmomi's simulator, API 6.5) for the project's
// tests: VMs from tests/fixtures/vms.yaml with real disk files, point-in-time snapshots,
// changed-block tracking and a test-control API. See tests/vcsim/README.md.
package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type options struct {
	listen, control      string
	user, password       string
	fixtures, datastores string
	readyFile            string
	bulk                 int
	cbtWindow            int64
	trace                bool
	model                string
}

func main() {
	var opt options
	flag.StringVar(&opt.listen, "listen", "127.0.0.1:8989", "SOAP (https) address")
	flag.StringVar(&opt.control, "control", "127.0.0.1:8990", "test-control API (http) address")
	flag.StringVar(&opt.user, "user", "vmkit@vsphere.local", "the one accepted user name")
	flag.StringVar(&opt.password, "password", "vmkit-Secret-1", "the one accepted password")
	flag.StringVar(&opt.fixtures, "fixtures", "tests/fixtures/vms.yaml", "fixture file")
	flag.StringVar(&opt.datastores, "datastores", "", "directory holding one directory per datastore (required)")
	flag.StringVar(&opt.readyFile, "ready", "", "write the connection facts (JSON) here once serving")
	flag.IntVar(&opt.bulk, "bulk", 0, "add this many plain VMs (bulk-0001...) for benchmarks")
	flag.Int64Var(&opt.cbtWindow, "cbt-window", 128<<20, "bytes one QueryChangedDiskAreas answer covers at most (0: to the disk's end)")
	flag.BoolVar(&opt.trace, "trace", false, "log SOAP traffic to stderr")
	flag.StringVar(&opt.model, "model", "vpx", "vpx (a vCenter) or esx (a standalone ESXi host: its .env says VMKIT_TEST_ESXI_*)")
	flag.Parse()
	if opt.datastores == "" {
		log.Fatal("-datastores is required")
	}
	if opt.model != "vpx" && opt.model != "esx" {
		log.Fatal("-model must be vpx or esx")
	}
	if err := run(opt); err != nil {
		log.Fatal(err)
	}
}

func run(opt options) error {
	ctx := context.Background()
	started := time.Now()
	fixtures, err := LoadFixtures(opt.fixtures)
	if err != nil {
		return err
	}
	// Busy ports fail here, before the inventory is built (the simulator's NewServer would panic).
	controlListener, err := net.Listen("tcp", opt.control)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	probe, err := net.Listen("tcp", opt.listen)
	if err != nil {
		return fmt.Errorf("SOAP: %w", err)
	}
	_ = probe.Close()
	bed, err := NewTestbed(ctx, fixtures, opt.datastores, opt.cbtWindow, opt.model == "esx")
	if err != nil {
		return err
	}
	for i := range fixtures.VMs {
		if err := bed.CreateVM(ctx, &fixtures.VMs[i]); err != nil {
			return err
		}
	}
	for i := 1; i <= opt.bulk; i++ {
		spec := bulkVM(i, fixtures.Inventory)
		if err := spec.normalize(fixtures.Inventory.Datastores[0], setOf(fixtures.Inventory.Datastores...), setOf("VM Network")); err != nil {
			return err
		}
		if err := bed.CreateVM(ctx, spec); err != nil {
			return err
		}
	}
	log.Printf("created %d VMs in %s", len(bed.VMs), time.Since(started).Round(time.Millisecond))

	control := NewControl(bed)
	controlServer := &http.Server{Handler: control.Handler()}
	go func() { _ = controlServer.Serve(controlListener) }()

	simulator.Trace = opt.trace
	service := bed.Model.Service
	service.Listen = &url.URL{Host: opt.listen, User: url.UserPassword(opt.user, opt.password)}
	cert, err := serverCertificate(filepath.Join(filepath.Dir(filepath.Clean(opt.datastores)), "server.pem"))
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := service.NewServer()
	// The server has just started and no client knows its port yet: wrapping its handler here lets
	// hooks see every SOAP call.
	server.Config.Handler = soapHooks(server.Config.Handler, control)

	if opt.readyFile != "" {
		if err := writeReady(opt, server, bed); err != nil {
			return err
		}
	}
	log.Printf("serving https://%s/sdk (control http://%s) after %s", opt.listen, opt.control, time.Since(started).Round(time.Millisecond))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	log.Printf("stopping")
	_ = controlServer.Close()
	server.Close()
	if opt.readyFile != "" {
		_ = os.Remove(opt.readyFile)
	}
	return nil
}

func bulkVM(i int, inv Inventory) *VMSpec {
	return &VMSpec{
		Name:      fmt.Sprintf("bulk-%04d", i),
		Folder:    "Bulk",
		GuestID:   "rhel8_64Guest",
		Firmware:  "bios",
		CPU:       CPUSpec{Sockets: 1, CoresPerSocket: 1},
		MemoryMiB: 128,
		Power:     "off",
		Disks:     []DiskSpec{{SizeBytes: 1 << 20, Controller: "pvscsi", Datastore: inv.Datastores[0]}},
		NICs: []NICSpec{{
			Adapter: "vmxnet3", Portgroup: "VM Network",
			MAC: fmt.Sprintf("00:50:56:10:%02x:%02x", i>>8, i&0xff),
		}},
	}
}

// soapHooks fires the control API's hooks for each SOAP call before the simulator handles it.
func soapHooks(next http.Handler, control *Control) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if method, this, ok := soapCall(body); ok {
				control.BeforeSOAP(method, this)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// soapCall reads the method name and its _this reference from a SOAP envelope.
func soapCall(body []byte) (string, types.ManagedObjectReference, bool) {
	var this types.ManagedObjectReference
	decoder := xml.NewDecoder(bytes.NewReader(body))
	method := ""
	inBody := false
	for {
		token, err := decoder.Token()
		if err != nil {
			return method, this, method != ""
		}
		start, ok := token.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case start.Name.Local == "Body":
			inBody = true
		case inBody && method == "":
			method = start.Name.Local
		case method != "" && start.Name.Local == "_this":
			for _, attr := range start.Attr {
				if attr.Name.Local == "type" {
					this.Type = attr.Value
				}
			}
			var value string
			if err := decoder.DecodeElement(&value, &start); err == nil {
				this.Value = strings.TrimSpace(value)
			}
			return method, this, true
		}
	}
}

// Ready is what the launcher tells the scripts once it serves.
type Ready struct {
	URL              string            `json:"url"`
	Host             string            `json:"host"`
	User             string            `json:"user"`
	Password         string            `json:"password"`
	ThumbprintSHA1   string            `json:"thumbprint_sha1"`
	ThumbprintSHA256 string            `json:"thumbprint_sha256"`
	Control          string            `json:"control"`
	Datacenter       string            `json:"datacenter"`
	Datastores       map[string]string `json:"datastores"`
	Fixtures         string            `json:"fixtures"`
	PID              int               `json:"pid"`
}

func writeReady(opt options, server *simulator.Server, bed *Testbed) error {
	der := server.Certificate().Raw
	sha1sum := sha1.Sum(der)
	sha256sum := sha256.Sum256(der)
	fixtures, err := filepath.Abs(opt.fixtures)
	if err != nil {
		return err
	}
	ready := Ready{
		URL:              fmt.Sprintf("https://%s/sdk", opt.listen),
		Host:             opt.listen,
		User:             opt.user,
		Password:         opt.password,
		ThumbprintSHA1:   colonHex(sha1sum[:]),
		ThumbprintSHA256: colonHex(sha256sum[:]),
		Control:          "http://" + opt.control,
		Datacenter:       bed.Fixtures.Inventory.Datacenter,
		Datastores:       bed.Datastores,
		Fixtures:         fixtures,
		PID:              os.Getpid(),
	}
	data, err := json.MarshalIndent(ready, "", "  ")
	if err != nil {
		return err
	}
	var env strings.Builder
	exports := [][2]string{
		{"VMKIT_TEST_VSPHERE_URL", ready.URL},
		{"VMKIT_TEST_VSPHERE_HOST", ready.Host},
		{"VMKIT_TEST_VSPHERE_USER", ready.User},
		{"VMKIT_TEST_VSPHERE_PASSWORD", ready.Password},
		{"VMKIT_TEST_VSPHERE_THUMBPRINT_SHA1", ready.ThumbprintSHA1},
		{"VMKIT_TEST_VSPHERE_THUMBPRINT_SHA256", ready.ThumbprintSHA256},
		{"VMKIT_TEST_VSPHERE_CONTROL", ready.Control},
		{"VMKIT_TEST_VSPHERE_DATACENTER", ready.Datacenter},
		{"VMKIT_TEST_VM_FIXTURES", ready.Fixtures},
		{"VMKIT_TEST_DATASTORES", datastoreList(ready.Datastores)},
	}
	if bed.ESX {
		// A second simulator beside the vCenter one: its own names, so both can be exported at once.
		exports = [][2]string{
			{"VMKIT_TEST_ESXI_URL", ready.URL},
			{"VMKIT_TEST_ESXI_HOST", ready.Host},
			{"VMKIT_TEST_ESXI_USER", ready.User},
			{"VMKIT_TEST_ESXI_PASSWORD", ready.Password},
			{"VMKIT_TEST_ESXI_THUMBPRINT_SHA1", ready.ThumbprintSHA1},
			{"VMKIT_TEST_ESXI_THUMBPRINT_SHA256", ready.ThumbprintSHA256},
			{"VMKIT_TEST_ESXI_CONTROL", ready.Control},
			{"VMKIT_TEST_ESXI_DATACENTER", ready.Datacenter},
			{"VMKIT_TEST_ESXI_FIXTURES", ready.Fixtures},
		}
	}
	for _, kv := range exports {
		fmt.Fprintf(&env, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	// Written beside, then renamed: the scripts wait for the JSON file and must never read half of it.
	envFile := strings.TrimSuffix(opt.readyFile, ".json") + ".env"
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(opt.readyFile+".tmp", data, 0o600); err != nil {
		return err
	}
	return os.Rename(opt.readyFile+".tmp", opt.readyFile)
}

func colonHex(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func datastoreList(datastores map[string]string) string {
	var names []string
	for name := range datastores {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = name + "=" + datastores[name]
	}
	return strings.Join(names, ",")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
