package main

// Changed-block tracking. Each tracked disk has a ctk identity (a UUID) and numbered epochs; every
// snapshot of a CBT-enabled VM starts a new epoch, records a digest of each 64 KiB block of the
// frozen disk, and stamps the epoch's change id ("52 3c ... 9e-a1 ... 07/3", vSphere's format) on the
// snapshot's disk backing. The changes since change id X are the blocks whose digests differ between
// epoch X and the queried state. Digests cannot see a rewrite of identical bytes: tests write random
// data.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

const cbtBlockBytes = 64 << 10

type blockDigest [16]byte // all zeros: a block of zeros

type diskTrack struct {
	uuid   [16]byte
	epochs map[int64][]blockDigest
	last   int64
}

func newDiskTrack() *diskTrack {
	t := &diskTrack{epochs: map[int64][]blockDigest{}}
	_, _ = rand.Read(t.uuid[:])
	t.uuid[0] = 0x52 // vSphere's ctk ids start with 52
	return t
}

func (t *diskTrack) uuidText() string {
	hexes := make([]string, 16)
	for i, b := range t.uuid {
		hexes[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hexes[:8], " ") + "-" + strings.Join(hexes[8:], " ")
}

func (t *diskTrack) changeID(epoch int64) string { return fmt.Sprintf("%s/%d", t.uuidText(), epoch) }

// record starts a new epoch with the given digests and returns its change id.
func (t *diskTrack) record(digests []blockDigest) string {
	t.last++
	t.epochs[t.last] = digests
	return t.changeID(t.last)
}

var changeIDPattern = regexp.MustCompile(`^((?:[0-9a-f]{2} ){7}[0-9a-f]{2}-(?:[0-9a-f]{2} ){7}[0-9a-f]{2})/(\d+)$`)

// lookup returns the digests of the epoch a change id names, or a fault as vSphere gives.
func (t *diskTrack) lookup(changeID, ctkFile string) ([]blockDigest, *soapFault) {
	m := changeIDPattern.FindStringSubmatch(changeID)
	if m == nil {
		return nil, invalidArgument("changeId", "malformed change id %q", changeID)
	}
	epoch, _ := strconv.ParseInt(m[2], 10, 64)
	digests, ok := t.epochs[epoch]
	if m[1] != t.uuidText() || !ok {
		return nil, fileFault(ctkFile, "change id %q is unknown for this disk (tracking was reset or never saw it)", changeID)
	}
	return digests, nil
}

// digestFile digests every 64 KiB block of the first size bytes of path; holes are not read.
func digestFile(path string, size int64) ([]blockDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	extents, err := DataExtents(f, size)
	if err != nil {
		return nil, err
	}
	digests := make([]blockDigest, (size+cbtBlockBytes-1)/cbtBlockBytes)
	done := make([]bool, len(digests))
	buf := make([]byte, cbtBlockBytes)
	zeros := make([]byte, cbtBlockBytes)
	for _, e := range extents {
		for block := e.Offset / cbtBlockBytes; block*cbtBlockBytes < e.Offset+e.Length; block++ {
			if done[block] {
				continue
			}
			done[block] = true
			start := block * cbtBlockBytes
			n := min64(cbtBlockBytes, size-start)
			if _, err := f.ReadAt(buf[:n], start); err != nil {
				return nil, err
			}
			if bytes.Equal(buf[:n], zeros[:n]) {
				continue
			}
			digests[block] = digestOf(buf[:n])
		}
	}
	return digests, nil
}

// digestSeeds key the block digests: two 64-bit keyed hashes make a 128-bit digest, fast enough to
// digest a snapshot at memory speed. Digests are only compared within one launcher process.
var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func digestOf(data []byte) blockDigest {
	var d blockDigest
	for i, seed := range digestSeeds {
		var h maphash.Hash
		h.SetSeed(seed)
		_, _ = h.Write(data)
		binary.LittleEndian.PutUint64(d[8*i:], h.Sum64())
	}
	if d == (blockDigest{}) {
		d[0] = 1 // all zeros means "a block of zeros"
	}
	return d
}

func (vm *trackedVM) track(key int32) *diskTrack {
	t, ok := vm.tracks[key]
	if !ok {
		t = newDiskTrack()
		vm.tracks[key] = t
	}
	return t
}

func (vm *trackedVM) changedDiskAreas(req *types.QueryChangedDiskAreas) (*types.DiskChangeInfo, *soapFault) {
	disk, snap, fault := vm.diskAt(req.Snapshot, req.DeviceKey)
	if fault != nil {
		return nil, fault
	}
	backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return nil, fileFault(disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo().FileName,
			"changed-block tracking is not supported on this disk's backing")
	}
	capacity := diskCapacity(disk)
	if req.StartOffset < 0 || req.StartOffset >= capacity {
		return nil, invalidArgument("startOffset", "start offset %d is outside the disk (%d bytes)", req.StartOffset, capacity)
	}
	end := capacity
	if window := vm.bed.CBTWindowBytes; window > 0 && req.StartOffset+window < end {
		end = req.StartOffset + window
	}
	file, err := vm.bed.HostPath(backing.FileName)
	if err != nil {
		return nil, fileFault(backing.FileName, "%v", err)
	}
	file = flatPath(file)

	var areas []types.DiskChangeExtent
	if req.ChangeId == "*" {
		areas, err = allocatedAreas(file, capacity)
		if err != nil {
			return nil, fileFault(backing.FileName, "%v", err)
		}
	} else {
		ctk := strings.TrimSuffix(backing.FileName, ".vmdk") + "-ctk.vmdk"
		if !vm.cbtEnabled() {
			return nil, fileFault(ctk, "changed-block tracking is not enabled on %s", vm.Name)
		}
		t := vm.tracks[disk.Key]
		if t == nil {
			return nil, fileFault(ctk, "change id %q is unknown for this disk", req.ChangeId)
		}
		since, fault := t.lookup(req.ChangeId, ctk)
		if fault != nil {
			return nil, fault
		}
		now, err := vm.digestsOf(t, snap, backing, file, capacity)
		if err != nil {
			return nil, fileFault(backing.FileName, "%v", err)
		}
		areas = changedAreas(since, now, capacity)
	}
	return &types.DiskChangeInfo{
		StartOffset: req.StartOffset,
		Length:      end - req.StartOffset,
		ChangedArea: clipAreas(areas, req.StartOffset, end),
	}, nil
}

// digestsOf returns the digests of the queried state: the snapshot's epoch, or the live disk now.
func (vm *trackedVM) digestsOf(t *diskTrack, snap *pitSnapshot, backing *types.VirtualDiskFlatVer2BackingInfo, file string, capacity int64) ([]blockDigest, error) {
	if snap != nil {
		if m := changeIDPattern.FindStringSubmatch(backing.ChangeId); m != nil && m[1] == t.uuidText() {
			epoch, _ := strconv.ParseInt(m[2], 10, 64)
			if digests, ok := t.epochs[epoch]; ok {
				return digests, nil
			}
		}
	}
	return digestFile(file, capacity)
}

// allocatedAreas lists the file's data extents, widened to whole 64 KiB blocks and merged.
func allocatedAreas(file string, capacity int64) ([]types.DiskChangeExtent, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	extents, err := DataExtents(f, capacity)
	if err != nil {
		return nil, err
	}
	var areas []types.DiskChangeExtent
	for _, e := range extents {
		start := e.Offset / cbtBlockBytes * cbtBlockBytes
		end := min64((e.Offset+e.Length+cbtBlockBytes-1)/cbtBlockBytes*cbtBlockBytes, capacity)
		areas = appendArea(areas, start, end)
	}
	return areas, nil
}

func changedAreas(since, now []blockDigest, capacity int64) []types.DiskChangeExtent {
	var areas []types.DiskChangeExtent
	for block := range now {
		if block < len(since) && since[block] == now[block] {
			continue
		}
		start := int64(block) * cbtBlockBytes
		areas = appendArea(areas, start, min64(start+cbtBlockBytes, capacity))
	}
	return areas
}

// appendArea adds [start, end), merging it into the last area when they touch.
func appendArea(areas []types.DiskChangeExtent, start, end int64) []types.DiskChangeExtent {
	if n := len(areas); n > 0 && areas[n-1].Start+areas[n-1].Length >= start {
		last := &areas[n-1]
		if end > last.Start+last.Length {
			last.Length = end - last.Start
		}
		return areas
	}
	return append(areas, types.DiskChangeExtent{Start: start, Length: end - start})
}

func clipAreas(areas []types.DiskChangeExtent, from, to int64) []types.DiskChangeExtent {
	var clipped []types.DiskChangeExtent
	for _, a := range areas {
		start, end := a.Start, a.Start+a.Length
		if start < from {
			start = from
		}
		if end > to {
			end = to
		}
		if end > start {
			clipped = append(clipped, types.DiskChangeExtent{Start: start, Length: end - start})
		}
	}
	return clipped
}

// soapFault is a vSphere fault with the message the SOAP faultstring carries.
type soapFault struct {
	message string
	fault   types.BaseMethodFault
}

func invalidArgument(property, format string, args ...interface{}) *soapFault {
	return &soapFault{
		message: "A specified parameter was not correct: " + property + " (" + fmt.Sprintf(format, args...) + ")",
		fault:   &types.InvalidArgument{InvalidProperty: property},
	}
}

func fileFault(file, format string, args ...interface{}) *soapFault {
	return &soapFault{
		message: "Error caused by file " + file + ": " + fmt.Sprintf(format, args...),
		fault:   &types.FileFault{File: file},
	}
}
