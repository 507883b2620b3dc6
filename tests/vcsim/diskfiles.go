package main

// Disk files on the host: fixture content, monolithicFlat descriptors, sparse copies, allocation maps.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	seekData = 3 // SEEK_DATA (Linux)
	seekHole = 4 // SEEK_HOLE (Linux)
	ficlone  = 0x40049409
)

// sm64 is SplitMix64 at counter n: the documented generator of every fixture's random bytes.
func sm64(seed, n uint64) uint64 {
	z := seed + (n+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// fillRandom fills buf with the random bytes that belong at disk offset `offset` (a multiple of 8).
func fillRandom(buf []byte, seed uint64, offset int64) {
	var word [8]byte
	for i := 0; i < len(buf); i += 8 {
		binary.LittleEndian.PutUint64(word[:], sm64(seed, uint64(offset+int64(i))/8))
		copy(buf[i:], word[:])
	}
}

// WriteDiskContent creates the flat file at path, sized and filled as the disk spec says.
func WriteDiskContent(path string, disk *DiskSpec) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(disk.SizeBytes); err != nil {
		return err
	}

	content := disk.Content
	switch content.Kind {
	case "random":
		err = writeRandomRange(f, content.Seed, 0, disk.SizeBytes)
	case "sparse_random":
		for block := int64(0); block*content.BlockBytes < disk.SizeBytes; block++ {
			if sm64(content.Seed+1, uint64(block))%100 >= content.Percent {
				continue
			}
			start := block * content.BlockBytes
			end := min64(start+content.BlockBytes, disk.SizeBytes)
			if err = writeRandomRange(f, content.Seed, start, end); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	for _, w := range content.Writes {
		if _, err := f.WriteAt([]byte(w.Text), w.Offset); err != nil {
			return err
		}
	}
	return f.Close()
}

func writeRandomRange(f *os.File, seed uint64, start, end int64) error {
	buf := make([]byte, 1<<20)
	for offset := start; offset < end; {
		n := min64(int64(len(buf)), end-offset)
		fillRandom(buf[:n], seed, offset)
		if _, err := f.WriteAt(buf[:n], offset); err != nil {
			return err
		}
		offset += n
	}
	return nil
}

// WriteDescriptor writes the monolithicFlat descriptor that names the flat extent beside it.
func WriteDescriptor(descriptorPath string, sizeBytes int64, cid uint32, adapter string) error {
	sectors := sizeBytes / 512
	cylinders := sectors / (255 * 63)
	if cylinders > 65535 {
		cylinders = 65535
	}
	text := fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=ffffffff
createType="monolithicFlat"

# Extent description
RW %d FLAT "%s" 0

# The Disk Data Base
#DDB

ddb.adapterType = "%s"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.virtualHWVersion = "13"
`, cid, sectors, filepath.Base(flatPath(descriptorPath)), adapter, cylinders)
	return os.WriteFile(descriptorPath, []byte(text), 0o644)
}

// flatPath maps "x.vmdk" to its extent "x-flat.vmdk".
func flatPath(descriptor string) string {
	return strings.TrimSuffix(descriptor, ".vmdk") + "-flat.vmdk"
}

// Extent is a byte range [Offset, Offset+Length).
type Extent struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// DataExtents lists the allocated ranges of a file (SEEK_DATA/SEEK_HOLE), in order.
func DataExtents(f *os.File, size int64) ([]Extent, error) {
	var extents []Extent
	for offset := int64(0); offset < size; {
		start, err := f.Seek(offset, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				break // only a hole remains
			}
			return nil, err
		}
		end, err := f.Seek(start, seekHole)
		if err != nil {
			return nil, err
		}
		end = min64(end, size)
		if end > start {
			extents = append(extents, Extent{start, end - start})
		}
		offset = end
	}
	return extents, nil
}

// SparseCopy copies src to a new file dst that keeps src's holes: a reflink when the file system
// can share blocks, otherwise a copy of the data extents only.
func SparseCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, out.Fd(), ficlone, in.Fd()); errno == 0 {
		return out.Close()
	}
	if err := copyExtents(in, out); err != nil {
		return err
	}
	return out.Close()
}

// RestoreInPlace makes dst's content equal src's without replacing dst's inode, so a process that
// has dst open keeps writing to the restored file.
func RestoreInPlace(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(0); err != nil {
		return err
	}
	if err := copyExtents(in, out); err != nil {
		return err
	}
	return out.Close()
}

// copyExtents gives out in's size and copies in's data extents; out's other bytes stay holes.
func copyExtents(in, out *os.File) error {
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := out.Truncate(info.Size()); err != nil {
		return err
	}
	extents, err := DataExtents(in, info.Size())
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, e := range extents {
		for offset := e.Offset; offset < e.Offset+e.Length; {
			n := min64(int64(len(buf)), e.Offset+e.Length-offset)
			if _, err := in.ReadAt(buf[:n], offset); err != nil && err != io.EOF {
				return err
			}
			if _, err := out.WriteAt(buf[:n], offset); err != nil {
				return err
			}
			offset += n
		}
	}
	return nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
