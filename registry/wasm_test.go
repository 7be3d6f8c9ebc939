package registry

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestInspectComponentNames(t *testing.T) {
	f, err := os.Open("../test/testdata/hello.component.wasm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := InspectWasm(f)
	if err != nil {
		t.Fatal(err)
	}
	// The names `jco wit test/testdata/hello.component.wasm` prints.
	wantImports := []string{
		"wasi:cli/stderr@0.2.12", "wasi:cli/stdin@0.2.12", "wasi:cli/stdout@0.2.12",
		"wasi:clocks/wall-clock@0.2.12", "wasi:filesystem/preopens@0.2.12",
		"wasi:filesystem/types@0.2.12", "wasi:io/error@0.2.12", "wasi:io/streams@0.2.12",
	}
	if info.Kind != KindComponent || !slices.Equal(info.Imports, wantImports) ||
		!slices.Equal(info.Exports, []string{"wasi:cli/run@0.2.12"}) {
		t.Fatalf("got %+v", info)
	}
}

func TestSniffRefusesNonWasm(t *testing.T) {
	for _, in := range []string{"", "\x00asm", "ELF\x7f\x02\x01\x01\x00", "\x00asm\x02\x00\x00\x00"} {
		if _, err := InspectWasm(strings.NewReader(in)); !errors.Is(err, ErrNotWasm) {
			t.Errorf("%q: %v", in, err)
		}
	}
	// A component header followed by a section that claims more bytes than there are.
	trunc := "\x00asm\x0d\x00\x01\x00\x0a\x10\x01"
	if _, err := InspectWasm(strings.NewReader(trunc)); !errors.Is(err, ErrNotWasm) {
		t.Errorf("truncated component: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"a", "wasm/hello", "a-b/c__d/e.f"} {
		if err := CheckRepo(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "a//b", "..", "a/../b", "-a", "a/", strings.Repeat("a", 256)} {
		if err := CheckRepo(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "-x", strings.Repeat("t", 129), "a\x00b"} {
		if err := CheckTag(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("tag %q accepted", bad)
		}
	}
}
