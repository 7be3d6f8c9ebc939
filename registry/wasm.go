package registry

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Kind is what a Wasm binary's 8-byte header says it is.
type Kind int

const (
	KindCoreModule Kind = iota + 1
	KindComponent
)

var (
	wasmMagic        = []byte{0x00, 0x61, 0x73, 0x6d}
	coreModuleLayer  = []byte{0x01, 0x00, 0x00, 0x00}
	componentVersion = []byte{0x0d, 0x00, 0x01, 0x00}
)

// Component section ids (Component Model binary format).
const (
	sectionImport = 10
	sectionExport = 11
)

// WasmInfo is what a push records of a binary in the artifact's config.
type WasmInfo struct {
	Kind    Kind
	Imports []string // a component's top-level import names, e.g. wasi:cli/environment@0.2.0
	Exports []string
}

// OS is the config's "os": wasip2 for a component, wasip1 for a core module.
func (w WasmInfo) OS() string {
	if w.Kind == KindComponent {
		return "wasip2"
	}
	return "wasip1"
}

// Sniff reads the header of r and says whether it is a core module or a component.
func Sniff(header []byte) (Kind, error) {
	if len(header) < 8 || !bytes.Equal(header[:4], wasmMagic) {
		return 0, fmt.Errorf("%w: the file does not start with the Wasm magic bytes \\0asm; "+
			"build it for a wasm32 target or check that you chose the right file", ErrNotWasm)
	}
	switch {
	case bytes.Equal(header[4:8], coreModuleLayer):
		return KindCoreModule, nil
	case bytes.Equal(header[4:8], componentVersion):
		return KindComponent, nil
	}
	return 0, fmt.Errorf("%w: unknown Wasm version/layer bytes % x (want 01 00 00 00 for a core "+
		"module or 0d 00 01 00 for a component)", ErrNotWasm, header[4:8])
}

// InspectWasm reads a whole binary: its kind and, for a component, its top-level import and
// export names. Nested components and core modules are skipped by their section sizes.
func InspectWasm(r io.Reader) (WasmInfo, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	header := make([]byte, 8)
	if _, err := io.ReadFull(br, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return WasmInfo{}, fmt.Errorf("%w: the file is shorter than the 8-byte Wasm header", ErrNotWasm)
		}
		return WasmInfo{}, err
	}
	kind, err := Sniff(header)
	if err != nil {
		return WasmInfo{}, err
	}
	info := WasmInfo{Kind: kind}
	if kind != KindComponent {
		return info, nil
	}
	for {
		id, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, err
		}
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return info, malformed("section size", err)
		}
		if id != sectionImport && id != sectionExport {
			if _, err := br.Discard(int(size)); err != nil {
				return info, malformed("section body", err)
			}
			continue
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(br, body); err != nil {
			return info, malformed("section body", err)
		}
		names, err := externNames(body, id == sectionExport)
		if err != nil {
			return info, err
		}
		if id == sectionImport {
			info.Imports = append(info.Imports, names...)
		} else {
			info.Exports = append(info.Exports, names...)
		}
	}
	slices.Sort(info.Imports)
	info.Imports = slices.Compact(info.Imports)
	slices.Sort(info.Exports)
	info.Exports = slices.Compact(info.Exports)
	return info, nil
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: malformed component (%s): %v", ErrNotWasm, what, err)
}

// externNames decodes an import or export section body:
//
//	import ::= name:<externname'> desc:<externdesc>
//	export ::= name:<externname'> idx:<sortidx> desc?:<externdesc>?
//	externname' ::= 0x00 len:<u32> name | 0x01 len:<u32> name versionsuffix
func externNames(body []byte, export bool) ([]string, error) {
	r := bytes.NewReader(body)
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, malformed("entry count", err)
	}
	names := make([]string, 0, min(count, 1024))
	for i := uint64(0); i < count; i++ {
		form, err := r.ReadByte()
		if err != nil {
			return nil, malformed("name form", err)
		}
		name, err := readName(r)
		if err != nil {
			return nil, err
		}
		switch form {
		case 0x00:
		case 0x01:
			if _, err := readName(r); err != nil { // version suffix
				return nil, err
			}
		default:
			return nil, malformed("name form", fmt.Errorf("unknown form 0x%02x", form))
		}
		names = append(names, name)
		if export {
			if err := skipSortIdx(r); err != nil {
				return nil, err
			}
			has, err := r.ReadByte()
			if err != nil {
				return nil, malformed("export type", err)
			}
			if has == 0x01 {
				if err := skipExternDesc(r); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := skipExternDesc(r); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func readName(r *bytes.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return "", malformed("name", fmt.Errorf("bad length: %v", err))
	}
	b := make([]byte, n)
	_, _ = io.ReadFull(r, b)
	return string(b), nil
}

// skipSortIdx skips sort:<sort> idx:<u32>, where a core sort is two bytes (0x00 kind).
func skipSortIdx(r *bytes.Reader) error {
	sort, err := r.ReadByte()
	if err != nil {
		return malformed("sort", err)
	}
	if sort == 0x00 {
		if _, err := r.ReadByte(); err != nil {
			return malformed("core sort", err)
		}
	}
	if _, err := binary.ReadUvarint(r); err != nil {
		return malformed("sort index", err)
	}
	return nil
}

// skipExternDesc skips an externdesc: 0x00 0x11 <typeidx> (core module), 0x03 <typebound>
// (type: 0x00 <typeidx> or 0x01), or another kind byte followed by one LEB128 index or valtype.
func skipExternDesc(r *bytes.Reader) error {
	kind, err := r.ReadByte()
	if err != nil {
		return malformed("extern kind", err)
	}
	switch kind {
	case 0x00:
		if _, err := r.ReadByte(); err != nil {
			return malformed("core extern kind", err)
		}
	case 0x03:
		bound, err := r.ReadByte()
		if err != nil {
			return malformed("type bound", err)
		}
		if bound == 0x01 {
			return nil
		}
	}
	if _, err := binary.ReadUvarint(r); err != nil {
		return malformed("extern index", err)
	}
	return nil
}
